"""Classifies one video file (multi-view test, top-5 labels).

The program is `nonlocal_tf.programs.predict` (also installed as a console
command); `python scripts/predict.py --help` shows its examples and flags.
"""

from nonlocal_tf.programs import predict

if __name__ == "__main__":
    predict.run()
