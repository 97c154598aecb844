"""Shared pytest set-up: quiet TensorFlow logs, fixed seeds."""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _seed_and_reset():
    import keras

    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")
    # free_memory=False skips a full gc.collect() (0.2-0.4 s per test).
    keras.backend.clear_session(free_memory=False)


@pytest.fixture
def repo_root():
    return REPO_ROOT
