"""Writes MODEL_ZOO.md from the zoo registry (or checks it is up to date).

The program is `nonlocal_tf.programs.make_model_zoo` (a developer tool, not
a console command); `python scripts/make_model_zoo.py --help` shows its
examples and flags.
"""

from nonlocal_tf.programs import make_model_zoo

if __name__ == "__main__":
    make_model_zoo.run()
