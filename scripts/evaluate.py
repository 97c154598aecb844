"""Multi-view evaluation of a video model on TFRecord test data.

The program is `nonlocal_tf.programs.evaluate` (also installed as a console
command); `python scripts/evaluate.py --help` shows its examples and flags.
"""

from nonlocal_tf.programs import evaluate

if __name__ == "__main__":
    evaluate.run()
