"""Measures preparation throughput and training clips per second.

The program is `nonlocal_tf.programs.benchmark_data`;
`python scripts/benchmark_data.py --help` shows its examples and flags.
"""

from nonlocal_tf.programs import benchmark_data

if __name__ == "__main__":
    benchmark_data.run()
