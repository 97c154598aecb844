"""Sends a clip or a video to TF Serving and prints the top-5 labels.

The program is `nonlocal_tf.programs.serving_client` (also installed as a
console command); `python scripts/serving_client.py --help` shows its
examples and flags.
"""

from nonlocal_tf.programs import serving_client

if __name__ == "__main__":
    serving_client.run()
