"""The command-line programs (absl): flags -> one library call each.

Each module defines its flags, `main` and `run`; `scripts/<name>.py` and the
installed console commands (`nonlocal-train`, `nonlocal-evaluate`, ...) run
them. The programs sit above everything else (they import `nonlocal_tf.zoo`,
`data`, `training` and `export`); nothing in the library imports them.
"""
