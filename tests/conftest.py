"""Shared pytest set-up: quiet TensorFlow logs, fixed seeds, fixture paths."""

import os
import pathlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
# The reference fixtures live beside the checkout (../shared/fixtures); a
# worktree or a clone elsewhere falls back to the project's shared folder.
_FIXTURE_CANDIDATES = (
    REPO_ROOT.parent / "shared" / "fixtures",
    REPO_ROOT / "shared" / "fixtures",
    pathlib.Path("/work/shared/fixtures"),
)


def _fixtures_dir():
    for candidate in _FIXTURE_CANDIDATES:
        if (candidate / "pyslowfast").is_dir():
            return candidate
    return _FIXTURE_CANDIDATES[0]


def pytest_configure(config):
    os.environ.setdefault("NONLOCAL_TF_FIXTURES", str(_fixtures_dir()))


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
