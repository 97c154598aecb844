"""The package installs from a non-editable wheel with the zoo inside it."""

import os
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import REPO_ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(out),
            str(REPO_ROOT),
        ],
        check=True,
        capture_output=True,
        cwd=out,
    )
    (path,) = out.glob("nonlocal_tf-*.whl")
    return path


def test_wheel_maps_zoo_under_the_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "nonlocal_tf/zoo/__init__.py" in names
    assert "nonlocal_tf/layers/non_local.py" in names
    tops = {name.split("/")[0] for name in names}
    assert "zoo" not in tops, sorted(tops)
    assert "tests" not in tops and "scripts" not in tops, sorted(tops)


def test_installed_wheel_imports_the_zoo(wheel, tmp_path):
    site = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    code = (
        "import nonlocal_tf, nonlocal_tf.zoo as zoo\n"
        f"site = {str(site)!r}\n"
        "assert nonlocal_tf.__file__.startswith(site), nonlocal_tf.__file__\n"
        "assert zoo.__file__.startswith(site), zoo.__file__\n"
        "print(len(zoo.list_models()))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(site), KERAS_BACKEND="tensorflow")
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.split()[-1]) > 10
