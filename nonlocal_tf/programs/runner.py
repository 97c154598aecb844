"""Runs a program's `main` with its help text and one-line user errors."""

import sys

from nonlocal_tf import cli


def run(main, doc):
    """`cli.run(main)`, with `doc` as the usage text (`--help`).

    absl prints the `__main__` module's docstring; for a console command
    that module is a generated wrapper, so the program's own is set first.
    """
    sys.modules["__main__"].__doc__ = doc
    cli.run(main)
