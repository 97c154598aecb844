"""Shared pytest set-up: quiet TensorFlow logs, fixed seeds, fixture paths."""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT.parent / "shared" / "fixtures"


def pytest_configure(config):
    os.environ.setdefault("NONLOCAL_TF_FIXTURES", str(FIXTURES))


@pytest.fixture(autouse=True)
def _seed_and_reset():
    import keras

    keras.utils.set_random_seed(0)
    yield
    keras.config.set_dtype_policy("float32")
    keras.backend.clear_session()


@pytest.fixture
def repo_root():
    return REPO_ROOT
