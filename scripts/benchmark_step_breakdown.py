"""Times the parts of the trainer's step (forward, backward, update, ...).

The program is `nonlocal_tf.programs.benchmark_step_breakdown`;
`python scripts/benchmark_step_breakdown.py --help` shows its flags.
"""

from nonlocal_tf.programs import benchmark_step_breakdown

if __name__ == "__main__":
    benchmark_step_breakdown.run()
