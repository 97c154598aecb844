"""Runs a program's `main` with its help text and one-line user errors."""

import sys

from absl import flags

from nonlocal_tf import cli


def run(main, doc):
    """`cli.run(main)`, with `doc` as the usage text (`--help`).

    absl prints the `__main__` module's docstring and the flags of the file
    run (`sys.argv[0]`); for a console command or a `scripts/` entry file
    that is a wrapper, so the program's own docstring and flags (those of
    `main`'s module) are set there first.
    """
    sys.modules["__main__"].__doc__ = doc
    for flag in flags.FLAGS.get_key_flags_for_module(main.__module__):
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    cli.run(main)
