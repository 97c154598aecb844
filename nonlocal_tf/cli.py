"""`run(main)`: `absl.app.run` for this project's programs.

Every program ends with `cli.run(main)` instead of `app.run(main)`. It adds
three things to absl's runner: one-line user errors, a `--help` that is the
program's own, and a start-up without TensorFlow's notices.

**User errors.** An ordinary mistake (a missing file, a bad flag value, a
damaged checkpoint, a server that does not answer) is printed to stderr as

    error: <what>, <where> (<hint>)

and the program exits with status 1 (absl's usage-error convention); Ctrl-C
prints `error: interrupted (Ctrl-C)` and exits with 130. The traceback is
printed too with `--verbosity=1` (or `-v 1`, or higher). Programming errors
(`TypeError`, `AttributeError`, `KeyError`, ...) keep their traceback: they
are bugs to report, not something the user can fix.

User mistakes (`is_user_error`):

- `absl.app.UsageError` and flag parsing errors;
- `ValueError` and its subclasses (`CheckpointFormatError`,
  `CheckpointMismatchError`, `AnnotationError`, `UnicodeDecodeError`,
  `json.JSONDecodeError`, ...);
- `OSError` and its subclasses (`FileNotFoundError`, `FileExistsError`,
  `PermissionError`, `ConnectionError`, `TimeoutError`, ...);
- every exception class defined in this project (`nonlocal_tf.*`:
  `ServingError`, `VideoDecodeError`, ...): they are raised on purpose, with
  a message written for the user;
- TensorFlow's `NotFoundError`, `AlreadyExistsError`, `PermissionDeniedError`,
  `InvalidArgumentError`, `DataLossError`, `FailedPreconditionError`,
  `OutOfRangeError`, `ResourceExhaustedError` and `UnimplementedError`.
- any write that ran out of space (`fileio.is_disk_full`; the library
  raises `fileio.DiskFullError`, naming the path and what a rerun does).

A message of several lines (TensorFlow's often are) is cut to its first line
plus a count of the lines left out.

**Help.** `--help` (`-?`, `--helpshort`) prints the docstring of the module
that defines `main` and the flags that module defines or adopts
(`flags.adopt_module_key_flags`); `--helpfull` prints that docstring and
every flag. Both exit with 0. (absl's own help flags print the docstring and
flags of `__main__`, which for a console command or a `scripts/` entry file
is that wrapper, and exit with 1.)

**Quiet start-up.** TensorFlow's C++ log is limited to fatal errors
(`TF_CPP_MIN_LOG_LEVEL=3`, unless the variable is set): on a machine without
a GPU it otherwise reports the missing CUDA driver as an error. With
`run(main, tensorflow=True)`, TensorFlow is imported after the flags are
parsed (`--help` does not load it) and before `main`, by `import_tensorflow`,
which drops the start-up notices that TensorFlow's import writes whatever
the variable says. Two INFO records of TensorFlow's that no user acts on are
dropped from the log (`TensorFlowChatter`). `TF_CPP_MIN_LOG_LEVEL=0` shows
TensorFlow's C++ log in full; Python warnings, absl warnings and
TensorFlow's Python exceptions always show.

Example:

```python
from nonlocal_tf import cli

def main(argv):
    ...

if __name__ == "__main__":
    cli.run(main, tensorflow=True)
```
"""

import logging
import os
import re
import sys
import tempfile
import textwrap
import traceback

from absl import app
from absl import flags
from absl import logging as absl_logging

from nonlocal_tf import fileio

INTERRUPTED_STATUS = 130
ERROR_STATUS = 1
_PROJECT_MODULES = ("nonlocal_tf",)
_TF_USER_ERRORS = (
    "NotFoundError",
    "AlreadyExistsError",
    "PermissionDeniedError",
    "InvalidArgumentError",
    "DataLossError",
    "FailedPreconditionError",
    "OutOfRangeError",
    "ResourceExhaustedError",
    "UnimplementedError",
)
_HELP_HINT = "pass --helpshort or --helpfull to see the flags"
_VERBOSE_HINT = "--verbosity=1 shows them"


def _tf_user_error_types():
    """TensorFlow's user-error classes, if TensorFlow is already imported."""
    tf_errors = sys.modules.get("tensorflow.python.framework.errors_impl")
    if tf_errors is None:
        return ()
    return tuple(
        getattr(tf_errors, name)
        for name in _TF_USER_ERRORS
        if hasattr(tf_errors, name)
    )


def is_user_error(error):
    """Whether `error` is a mistake the user can fix (one line, no trace).

    Example:
        >>> is_user_error(FileNotFoundError("x.csv"))
        True
        >>> is_user_error(TypeError("unsupported operand"))
        False
    """
    if isinstance(error, (app.UsageError, flags.Error, ValueError, OSError)):
        return True
    module = type(error).__module__ or ""
    if module.split(".")[0] in _PROJECT_MODULES:
        return True
    return isinstance(error, _tf_user_error_types()) or fileio.is_disk_full(
        error
    )


def _text(error):
    if isinstance(error, OSError) and error.strerror and error.filename:
        where = error.filename
        if error.filename2:
            where = f"{where} -> {error.filename2}"
        return f"{error.strerror}, {where}"
    message = getattr(error, "message", None)  # tf.errors.OpError
    if not isinstance(message, str):
        message = str(error)
    return message.strip() or type(error).__name__


def one_line(error):
    """`error`'s message as one line: the first line, and a count of the rest.

    Example:
        >>> one_line(ValueError("bad shape\\n  at layer 3\\n  at layer 4"))
        'bad shape [2 more lines: --verbosity=1 shows them]'
    """
    lines = [line.strip() for line in _text(error).splitlines()]
    lines = [line for line in lines if line]
    if not lines:
        return type(error).__name__
    first = lines[0]
    if len(lines) > 1:
        first += f" [{len(lines) - 1} more lines: {_VERBOSE_HINT}]"
    return first


def _verbose():
    try:
        return flags.FLAGS.is_parsed() and flags.FLAGS.verbosity >= 1
    except (AttributeError, flags.Error):
        return False


def print_error(message):
    """Writes `error: <message>` as one line to stderr."""
    text = " ".join(str(message).split())
    sys.stderr.write(f"error: {text}\n")
    sys.stderr.flush()


def _report(error):
    if _verbose():
        traceback.print_exception(error, file=sys.stderr)
    if isinstance(error, app.UsageError):
        print_error(f"{one_line(error)} ({_HELP_HINT})")
        return getattr(error, "exitcode", ERROR_STATUS) or ERROR_STATUS
    print_error(one_line(error))
    return ERROR_STATUS


def guarded(main):
    """`main` with user errors turned into one `error:` line and an exit.

    Args:
        main: the program's `main(argv)`.

    Returns:
        A `main(argv)` for `absl.app.run`; it exits with status 1 after a user
        error, 130 after Ctrl-C, and lets programming errors through.
    """

    def wrapped(argv):
        try:
            return main(argv)
        except KeyboardInterrupt:
            if _verbose():
                traceback.print_exc(file=sys.stderr)
            print_error("interrupted (Ctrl-C)")
            sys.exit(INTERRUPTED_STATUS)
        except SystemExit as done:
            if isinstance(done.code, str):  # sys.exit("message")
                print_error(done.code)
                sys.exit(ERROR_STATUS)
            raise
        except Exception as error:  # sorted out by is_user_error
            if not is_user_error(error):
                raise
            sys.exit(_report(error))

    return wrapped


def parse_flags(argv):
    """absl's flag parser, printing a parsing error as one `error:` line."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        message = " ".join(textwrap.dedent(str(error)).split())
        print_error(f"{message} ({_HELP_HINT})")
        sys.exit(ERROR_STATUS)


class ProgramHelpFlag(flags.BooleanFlag):
    """`--help` or `--helpfull` of one program: its docstring and flags.

    Replaces absl's flag of the same name (`allow_override`), which prints
    the docstring and flags of `__main__` and exits with 1.
    """

    def __init__(self, name, program, *, full=False, short_name=None):
        super().__init__(
            name,
            False,
            "show full help" if full else "show this help",
            short_name=short_name,
            allow_override=True,
            allow_hide_cpp=True,
        )
        self.program = program
        self.full = full

    def parse(self, argument):
        if self._parse(argument):
            sys.stdout.write(help_text(self.program, full=self.full))
            sys.stdout.flush()
            sys.exit(0)


def help_text(program, *, full=False):
    """The `--help` text of the program `main` is defined in.

    Args:
        program: the name of the module that defines `main`.
        full: list every flag (`--helpfull`), not only the program's.
    """
    doc = sys.modules[program].__doc__ or f"USAGE: {sys.argv[0]} [flags]\n"
    if full:
        listed = flags.FLAGS.get_help()
    else:
        # Flags defined in `__main__` are registered under the file run.
        module = sys.argv[0] if program == "__main__" else program
        listed = flags.FLAGS.module_help(module)
    text = f"{doc}\nflags:\n{listed}\n"
    if not full:
        text += "\nTry --helpfull to get a list of all flags.\n"
    return text


def define_help_flags(program):
    """`--help`, `-?`, `--helpshort` and `--helpfull` for `program`."""
    app.define_help_flags()  # absl's first: it defines them once only
    for name, short_name, full in (
        ("help", "?", False),
        ("helpshort", None, False),
        ("helpfull", None, True),
    ):
        flags.DEFINE_flag(
            ProgramHelpFlag(name, program, full=full, short_name=short_name)
        )


# TensorFlow's severities as its C++ log writes them, lowest first.
_SEVERITIES = "IWEF"
# The first line of a C++ log record: absl's (`I0000 00:00:1796659348.57
# 18320 port.cc:153] ...`, the time unset before absl::InitializeLog) or
# tsl's (`2026-01-30 22:44:42.456316: I tensorflow/core/util/port.cc:153]`).
_CPP_LOG_LINE = re.compile(
    r"^(?:([IWEF])\d{4} [\d:.]+ +\d+ \S+:\d+\] "
    r"|\d{4}-\d\d-\d\d [\d:.]+: ([IWEF]) \S+:\d+\] )"
)
_BEFORE_INIT_LOG = "WARNING: All log messages before absl::InitializeLog()"


def min_log_level():
    """`TF_CPP_MIN_LOG_LEVEL` as TensorFlow reads it (0 if unset or bad)."""
    try:
        return int(os.environ.get("TF_CPP_MIN_LOG_LEVEL", "0"))
    except ValueError:
        return 0


def startup_lines_kept(text, level):
    """`text` without its C++ log lines below `level` (0-3).

    Example:
        >>> startup_lines_kept(
        ...     "I0000 00:00:1.5 12 port.cc:153] oneDNN ...\\nerror: x\\n", 3)
        'error: x\\n'
    """
    kept = []
    for line in text.splitlines(keepends=True):
        if level > 0 and line.startswith(_BEFORE_INIT_LOG):
            continue
        match = _CPP_LOG_LINE.match(line)
        if match and _SEVERITIES.index(match[1] or match[2]) < level:
            continue
        kept.append(line)
    return "".join(kept)


def import_tensorflow():
    """Imports TensorFlow without its start-up notices; returns the module.

    TensorFlow 2.21's import logs (through absl's C++ log, before it is set
    up) that oneDNN is on and whether a CUDA driver was found, twice (two
    libraries), whatever `TF_CPP_MIN_LOG_LEVEL` says (as observed with the
    2.21 wheels). So what the import writes to the stderr file descriptor is
    caught and written back without the log lines below that level; the
    rest (a Python warning, a fatal error) shows as written.
    """
    if "tensorflow" in sys.modules:
        return sys.modules["tensorflow"]
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            import tensorflow
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            text = caught.read().decode(errors="replace")
            sys.stderr.write(startup_lines_kept(text, min_log_level()))
            sys.stderr.flush()
    return tensorflow


class TensorFlowChatter(logging.Filter):
    """Drops TensorFlow's INFO records that no user of a program acts on."""

    MESSAGES = (
        # tensorflow/python/checkpoint/functional_saver.py: at every save
        # of a checkpoint.
        "Sharding callback duration",
        # tensorflow/python/saved_model/signature_serialization.py: every
        # input name of a signature it renames, thousands of characters.
        "Function `%s` contains input name(s)",
    )

    def filter(self, record):
        return not (
            record.levelno <= logging.INFO
            and isinstance(record.msg, str)
            and record.msg.startswith(self.MESSAGES)
        )


def quiet_tensorflow():
    """Limits TensorFlow's C++ log to fatal errors and drops its chatter.

    The C++ log level stays the user's where `TF_CPP_MIN_LOG_LEVEL` is set.
    """
    if "tensorflow" not in sys.modules:  # it reads the variable once
        # On a machine without a GPU the C++ log reports the missing CUDA
        # driver as an error (`failed call to cuInit`) at the first op.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    handler = absl_logging.get_absl_handler()
    if not any(isinstance(f, TensorFlowChatter) for f in handler.filters):
        handler.addFilter(TensorFlowChatter())


def run(main, argv=None, *, tensorflow=False):
    """Runs an absl program: flags, then `main`, with one-line user errors.

    Args:
        main: `main(argv)`, as for `absl.app.run`; `--help` shows the
            docstring and flags of its module.
        argv: the command line; default `sys.argv`.
        tensorflow: import TensorFlow (`import_tensorflow`) after the flags
            are parsed, before `main`. A program that may not need it
            leaves it False and calls `import_tensorflow` where it does.

    Example:
        >>> cli.run(main, tensorflow=True)  # doctest: +SKIP
    """
    quiet_tensorflow()
    define_help_flags(main.__module__)

    def program(args):
        if tensorflow:
            import_tensorflow()
        return main(args)

    app.run(guarded(program), argv=argv, flags_parser=parse_flags)
