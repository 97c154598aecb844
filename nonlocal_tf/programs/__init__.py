"""The command-line programs (absl): flags -> one library call each.

Each module defines its flags, `main` and `run` (`cli.run(main, ...)`);
`scripts/<name>.py` and the installed console commands (`nonlocal-train`,
`nonlocal-evaluate`, ...) call `run`. The flags several programs share (the
model and clip spec flags) are defined by `common`'s functions and adopted
by each program (`flags.adopt_module_key_flags(common)`), so that `--help`
lists them with the program's own.

A program module imports only modules without TensorFlow at its top; its
functions import the ones with TensorFlow. `cli.run` imports TensorFlow
after the flags are parsed, without its start-up notices (a module that
imported it first would print them), and `--help` answers without loading
it.

The programs sit above everything else (they import `nonlocal_tf.zoo`,
`data`, `training` and `export`); nothing in the library imports them.
"""
