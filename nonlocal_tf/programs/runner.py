"""Runs a program's `main` as an absl app with the program's help text."""

import sys

from absl import app


def run(main, doc):
    """`absl.app.run(main)`, with `doc` as the usage text (`--help`).

    absl prints the `__main__` module's docstring; for a console command
    that module is a generated wrapper, so the program's own is set first.
    """
    sys.modules["__main__"].__doc__ = doc
    app.run(main)
