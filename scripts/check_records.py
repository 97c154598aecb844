"""Checks TFRecord shards before a long run: CRCs, framing and parsing.

The program is `nonlocal_tf.programs.check_records` (also installed as a
console command); `python scripts/check_records.py --help` shows its
examples and flags.
"""

from nonlocal_tf.programs import check_records

if __name__ == "__main__":
    check_records.run()
