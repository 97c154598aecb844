"""Converts a Caffe2 / PySlowFast checkpoint into a Keras `.weights.h5`.

The program is `nonlocal_tf.programs.convert_weights` (also installed as a
console command); `python scripts/convert_weights.py --help` shows its
examples and flags.
"""

from nonlocal_tf.programs import convert_weights

if __name__ == "__main__":
    convert_weights.run()
