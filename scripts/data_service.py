"""Starts a tf.data service dispatcher or decode worker.

The program is `nonlocal_tf.programs.data_service` (also installed as a console
command); `python scripts/data_service.py --help` shows its examples and flags.
"""

from nonlocal_tf.programs import data_service

if __name__ == "__main__":
    data_service.run()
