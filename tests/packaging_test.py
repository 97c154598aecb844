"""The package installs from a non-editable wheel with the zoo inside it,
and with every program as a console command that answers `--help` with its
example commands line by line."""

import ast
import concurrent.futures
import configparser
import os
import re
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
    assert not {"tests", "scripts", "benchmarks"} & tops, sorted(tops)


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """The wheel installed (no dependencies) into a fresh folder, with the
    console commands pip generates for it in `<folder>/bin`."""
    site = tmp_path_factory.mktemp("site")
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
    return site


def _installed_env(site):
    return dict(
        os.environ,
        PYTHONPATH=str(site),
        KERAS_BACKEND="tensorflow",
        TF_CPP_MIN_LOG_LEVEL="3",
        CUDA_VISIBLE_DEVICES="-1",
    )


def test_installed_wheel_imports_the_zoo(installed, tmp_path):
    site = installed
    code = (
        "import nonlocal_tf, nonlocal_tf.zoo as zoo\n"
        f"site = {str(site)!r}\n"
        "assert nonlocal_tf.__file__.startswith(site), nonlocal_tf.__file__\n"
        "assert zoo.__file__.startswith(site), zoo.__file__\n"
        "print(len(zoo.list_models()))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=_installed_env(site),
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert int(result.stdout.split()[-1]) > 10


# Programs with no console command, developer tools of a checkout: it
# rewrites the checkout's MODEL_ZOO.md (not in the wheel).
CHECKOUT_ONLY = {"make_model_zoo"}


def _programs():
    """`nonlocal_tf/programs` modules and packages that define `run()`."""
    programs = set()
    for path in (REPO_ROOT / "nonlocal_tf" / "programs").glob("*"):
        source = path / "__init__.py" if path.is_dir() else path
        if source.suffix != ".py" or not source.exists():
            continue
        tree = ast.parse(source.read_text())
        if any(
            isinstance(node, ast.FunctionDef)
            and node.name == "run"
            and not node.args.args
            for node in tree.body
        ):
            programs.add(path.stem)
    return programs


def _console_commands(wheel):
    """`{command: "module:function"}` from the wheel's entry points."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [
            n for n in archive.namelist() if n.endswith("/entry_points.txt")
        ]
        text = archive.read(name).decode()
    parser = configparser.ConfigParser()
    parser.read_string(text)
    return dict(parser["console_scripts"])


def test_every_program_is_a_console_command(wheel):
    targets = set(_console_commands(wheel).values())
    expected = {
        f"nonlocal_tf.programs.{name}:run"
        for name in _programs() - CHECKOUT_ONLY
    }
    assert targets == expected
    assert CHECKOUT_ONLY <= _programs()
    assert "nonlocal-demo" in _console_commands(wheel)


@pytest.fixture(scope="module")
def helps(wheel, installed):
    """`--help` of every installed command (and of the checkout-only
    programs through scripts/): `{name: CompletedProcess}`."""
    runs = {
        command: [str(installed / "bin" / command), "--help"]
        for command in _console_commands(wheel)
    }
    for name in CHECKOUT_ONLY:
        runs[name] = [
            sys.executable,
            str(REPO_ROOT / "scripts" / f"{name}.py"),
            "--help",
        ]

    def run(argv):
        return subprocess.run(
            argv,
            cwd=installed,
            env=_installed_env(installed),
            capture_output=True,
            text=True,
            timeout=300,
        )

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        return dict(zip(runs, pool.map(run, runs.values()), strict=True))


# Flags `nonlocal-train --help` lists: its run's settings and the shared
# model and clip flags, not only the flags its module states by hand.
TRAIN_FLAGS = (
    "model_dir",
    "epochs",
    "schedule",
    "base_learning_rate",
    "batch_size_per_replica",
    "train_records",
    "model",
    "width_per_group",
    "num_classes",
    "num_frames",
    "jitter_scales",
)


def test_console_commands_answer_help_with_their_flags(helps):
    for name, completed in helps.items():
        report = f"{name}: exit {completed.returncode}\n{completed.stderr}"
        assert completed.returncode == 0, report[-3000:]
        assert completed.stderr == "", report[-3000:]
        assert "Try --helpfull" in completed.stdout, report[-3000:]
        # The program's own flags, listed as absl does (`  --name: help`).
        assert re.search(r"^  --\w+: ", completed.stdout, re.M), (
            f"{name} lists no flags:\n{completed.stdout}"
        )
    train = helps["nonlocal-train"].stdout
    assert train.startswith("Trains a zoo video model"), train[:200]
    for flag in TRAIN_FLAGS:
        assert f"\n  --{flag}: " in train, f"nonlocal-train --help: --{flag}"


_COMMAND = re.compile(r"^\s*(python scripts/|nonlocal-)")
# What a `\` continuation in a non-raw docstring leaves: the next line's
# indentation inside the command line.
_COLLAPSED = re.compile(r"\S {3,}--")


def example_commands(text):
    """The example commands of a help text, each a list of its lines."""
    commands, lines = [], text.splitlines()
    for i, line in enumerate(lines):
        if not _COMMAND.match(line):
            continue
        command = [line]
        while command[-1].endswith(" \\") and i + len(command) < len(lines):
            command.append(lines[i + len(command)])
        commands.append(command)
    return commands


def assert_examples_line_by_line(text):
    commands = example_commands(text)
    assert any(len(c) > 1 for c in commands), (
        f"no example command continued with ` \\` on its next line:\n{text}"
    )
    for command in commands:
        for line in command:
            assert not _COLLAPSED.search(line.split("#")[0]), (
                f"collapsed example command: {line!r}"
            )


def test_help_shows_example_commands_line_by_line(helps):
    for name, completed in helps.items():
        try:
            assert_examples_line_by_line(completed.stdout)
        except AssertionError as error:
            raise AssertionError(f"{name} --help: {error}") from None


def test_a_collapsed_example_is_caught():
    # As `--help` shows `"""...=a.pkl \\\n      --output=b"""` (not raw).
    collapsed = "  python scripts/x.py --checkpoint=a.pkl       --output=b\n"
    with pytest.raises(AssertionError, match="no example command"):
        assert_examples_line_by_line(collapsed)
    both = collapsed + "  python scripts/x.py --a=1 \\\n      --b=2\n"
    with pytest.raises(AssertionError, match="collapsed example command"):
        assert_examples_line_by_line(both)
    assert example_commands(both)[1] == [
        "  python scripts/x.py --a=1 \\",
        "      --b=2",
    ]
