"""Videos + annotations -> sharded TFRecords, label map and skip report.

The program is `nonlocal_tf.programs.prepare_data` (also installed as a console
command); `python scripts/prepare_data.py --help` shows its examples and flags.
"""

from nonlocal_tf.programs import prepare_data

if __name__ == "__main__":
    prepare_data.run()
