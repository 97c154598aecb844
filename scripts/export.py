"""Exports a video classifier as a TF Serving SavedModel.

The program is `nonlocal_tf.programs.export` (also installed as a console
command); `python scripts/export.py --help` shows its examples and flags.
"""

from nonlocal_tf.programs import export

if __name__ == "__main__":
    export.run()
