"""`run(main)`: `absl.app.run` that prints a user's mistake as one line.

Every program in `scripts/` ends with `cli.run(main)` instead of
`app.run(main)`. An ordinary mistake (a missing file, a bad flag value, a
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

A message of several lines (TensorFlow's often are) is cut to its first line
plus a count of the lines left out.

Example:

```python
from nonlocal_tf import cli

def main(argv):
    ...

if __name__ == "__main__":
    cli.run(main)
```
"""

import sys
import textwrap
import traceback

from absl import app
from absl import flags

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
    return isinstance(error, _tf_user_error_types())


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


def run(main, argv=None):
    """Runs an absl program: flags, then `main`, with one-line user errors.

    Args:
        main: `main(argv)`, as for `absl.app.run`.
        argv: the command line; default `sys.argv`.

    Example:
        >>> cli.run(main)  # doctest: +SKIP
    """
    app.run(guarded(main), argv=argv, flags_parser=parse_flags)
