"""Draws a non-local block's attention for one query.

The program is `nonlocal_tf.programs.visualize_nonlocal` (also installed as
a console command); `python scripts/visualize_nonlocal.py --help` shows its
examples and flags.
"""

from nonlocal_tf.programs import visualize_nonlocal

if __name__ == "__main__":
    visualize_nonlocal.run()
