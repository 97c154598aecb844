"""Trains a zoo video model on TFRecord clips.

The program is `nonlocal_tf.programs.train` (also installed as a console
command); `python scripts/train.py --help` shows its examples and flags.
"""

from nonlocal_tf.programs import train

if __name__ == "__main__":
    train.run()
