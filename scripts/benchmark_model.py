"""Throughput of the R50 zoo models: inference, train_on_batch, the trainer.

The program is `nonlocal_tf.programs.benchmark_model`;
`python scripts/benchmark_model.py --help` shows its examples and flags.
"""

from nonlocal_tf.programs import benchmark_model

if __name__ == "__main__":
    benchmark_model.run()
