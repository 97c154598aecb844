"""`nonlocal_tf.cli.run`: one `error:` line for user mistakes, tracebacks for
bugs, 130 for Ctrl-C, tracebacks back with --verbosity=1; the program's own
`--help`, exit 0; TensorFlow's start-up notices and chatter dropped."""

import logging
import subprocess
import sys
import textwrap

import pytest

from nonlocal_tf import cli
from tests import cli_helpers

PROGRAM = textwrap.dedent(
    """
    '''A toy program: raises what --raise_ says.

      python program.py --raise_=usage
    '''

    import signal
    from absl import app, flags
    from nonlocal_tf import cli

    flags.DEFINE_string("raise_", None, "What to raise.")
    flags.DEFINE_enum("colour", "red", ["red", "blue"], "An enum.")
    FLAGS = flags.FLAGS

    def main(argv):
        del argv
        what = FLAGS.raise_
        if what == "usage":
            raise app.UsageError("Give exactly one of --a and --b.")
        if what == "value":
            raise ValueError("bad.csv:3: time_end 'x' is not a number")
        if what == "multiline":
            raise ValueError("first line\\n  detail 1\\n  detail 2")
        if what == "missing":
            open("/nonexistent/annotations.csv")
        if what == "tf":
            import tensorflow as tf
            tf.io.gfile.GFile("/nonexistent/x.json").read()
        if what == "type":
            return 1 + "x"
        if what == "sigint":
            # A shell without job control starts background commands with
            # SIGINT ignored, and Python keeps an inherited SIG_IGN.
            signal.signal(signal.SIGINT, signal.default_int_handler)
            signal.raise_signal(signal.SIGINT)
        if what == "exit":
            raise SystemExit("Cannot read --video: not a video")
        print("ok")

    if __name__ == "__main__":
        cli.run(main)
    """
)


@pytest.fixture(scope="module")
def program(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "program.py"
    path.write_text(PROGRAM)
    return path


def _run(program, *args):
    return subprocess.run(
        [sys.executable, str(program), *args],
        env=cli_helpers.program_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "what, fragments",
    [
        ("usage", ["Give exactly one of --a and --b.", "--helpshort"]),
        ("value", ["bad.csv:3: time_end 'x' is not a number"]),
        ("multiline", ["first line [2 more lines: --verbosity=1 shows"]),
        ("missing", ["No such file or directory, /nonexistent/annotations"]),
        ("tf", ["/nonexistent/x.json"]),
        ("exit", ["Cannot read --video: not a video"]),
    ],
)
def test_user_errors_are_one_line(program, what, fragments):
    completed = _run(program, f"--raise_={what}")
    line = cli_helpers.assert_user_error(completed, *fragments)
    assert line.startswith("error: ")


def test_flag_errors_are_one_line(program):
    completed = _run(program, "--colour=green")
    cli_helpers.assert_user_error(completed, "--colour", "green", "--helpshort")
    completed = _run(program, "--no_such_flag=1")
    cli_helpers.assert_user_error(completed, "no_such_flag")


def test_programming_errors_keep_their_traceback(program):
    completed = _run(program, "--raise_=type")
    assert completed.returncode == 1
    assert "Traceback" in completed.stderr
    assert "TypeError" in completed.stderr
    assert "error: " not in completed.stderr


def test_verbosity_1_shows_the_traceback(program):
    completed = _run(program, "--raise_=value", "--verbosity=1")
    assert completed.returncode == 1
    assert "Traceback" in completed.stderr
    assert cli_helpers.non_log_lines(completed.stderr)[-1] == (
        "error: bad.csv:3: time_end 'x' is not a number"
    )


def test_ctrl_c_exits_130_with_one_line(program):
    completed = _run(program, "--raise_=sigint")
    cli_helpers.assert_user_error(completed, "interrupted (Ctrl-C)", status=130)


def test_success_is_untouched(program):
    completed = _run(program)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.strip() == "ok"


def test_is_user_error():
    assert cli.is_user_error(FileExistsError("x"))
    assert cli.is_user_error(UnicodeDecodeError("utf-8", b"\xff", 0, 1, "bad"))
    assert not cli.is_user_error(AttributeError("x"))
    assert not cli.is_user_error(KeyError("x"))


@pytest.mark.parametrize("flag", ["--help", "-?", "--helpshort"])
def test_help_is_the_programs_own_and_exits_0(program, flag):
    completed = _run(program, flag)
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr == ""
    text = completed.stdout
    assert text.startswith("A toy program: raises what --raise_ says.")
    assert "  python program.py --raise_=usage" in text
    assert "  --raise_: What to raise." in text
    assert "  --colour: <red|blue>: An enum." in text
    assert "--verbosity" not in text  # absl's, in --helpfull
    assert "Try --helpfull" in text


def test_helpfull_lists_every_flag_and_exits_0(program):
    completed = _run(program, "--helpfull")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.startswith("A toy program")
    for flag in ("--raise_", "--colour", "--verbosity", "--helpfull"):
        assert flag in completed.stdout, flag


def test_startup_lines_kept_drops_only_the_log_below_the_level():
    notices = (
        "WARNING: All log messages before absl::InitializeLog() is called "
        "are written to STDERR\n"
        "I0000 00:00:1796659348.576257   18320 port.cc:153] oneDNN custom "
        "operations are on.\n"
        "2026-01-30 22:44:42.456316: W tensorflow/core/x.cc:12] a warning\n"
        "E0000 00:00:1796659387.798792   18826 cuda_platform.cc:52] failed "
        "call to cuInit: INTERNAL\n"
    )
    others = (
        "/x/y.py:3: UserWarning: kept\n"
        "  warnings.warn(x)\n"
        "F0000 00:00:1.5 1 a.cc:1] fatal\n"
    )
    text = notices + others
    assert cli.startup_lines_kept(text, 0) == text
    assert cli.startup_lines_kept(text, 3) == others
    kept = cli.startup_lines_kept(text, 2)
    assert "cuInit" in kept and "oneDNN" not in kept and "a warning" not in kept


def _record(level, msg, *args):
    return logging.LogRecord("absl", level, "x.py", 1, msg, args, None)


def test_tensorflow_chatter_is_dropped_and_nothing_else():
    chatter = cli.TensorFlowChatter()
    sharding = "Sharding callback duration: %s microseconds"
    assert not chatter.filter(_record(logging.INFO, sharding, 656))
    renamed = (
        "Function `%s` contains input name(s) %s with unsupported "
        "characters which will be renamed to %s in the SavedModel."
    )
    assert not chatter.filter(_record(logging.INFO, renamed, "f", "a", "b"))
    assert chatter.filter(_record(logging.WARNING, sharding, 656))
    assert chatter.filter(_record(logging.INFO, "Exported %s", "x"))
