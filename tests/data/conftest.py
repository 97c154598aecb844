"""Data tests build no Keras models: skip the per-test Keras session reset.

`tests/conftest.py` seeds Keras and calls `keras.backend.clear_session()`
after every test (about 0.4 s each on the CI machine); the data pipeline
tests are deterministic through their own seeds and create no Keras state.
"""

import pytest


@pytest.fixture(autouse=True)
def _seed_and_reset():
    yield
