"""Times and memory of NonLocalBlock, full vs chunked, at the paper's shapes.

The program is `nonlocal_tf.programs.benchmark_nonlocal` (not installed as a
console command, as the other benchmarks); `python
scripts/benchmark_nonlocal.py --help` shows its examples and flags.
"""

from nonlocal_tf.programs import benchmark_nonlocal

if __name__ == "__main__":
    benchmark_nonlocal.run()
