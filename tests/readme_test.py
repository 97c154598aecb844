"""The README's Python examples run as written (each in a fresh process)."""

import re
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT

README = REPO_ROOT / "README.md"
LIMIT = 10_000


def python_blocks(text):
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_the_readme_is_short():
    assert len(README.read_text()) < LIMIT


@pytest.mark.parametrize("index", range(len(python_blocks(README.read_text()))))
@pytest.mark.slow
def test_example_runs(index, tmp_path):
    code = python_blocks(README.read_text())[index]
    completed = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, (
        f"README example {index + 1} failed:\n{code}\n"
        f"{completed.stderr[-3000:]}"
    )


def test_the_examples_are_found():
    # The block, the zoo, presets: a README without them runs no example.
    assert len(python_blocks(README.read_text())) >= 3
