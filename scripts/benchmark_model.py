"""Inference clips/s and achieved GFLOP/s of zoo models at 8 x 224 x 224.

Prints a table and writes JSON. Runs on any Keras backend
(KERAS_BACKEND=jax on the GPU machines).

Example:
    python scripts/benchmark_model.py --batch_sizes=1,4 \
        --output=benchmarks/model_cpu.json
"""

import json
import os
import tempfile

from absl import app
from absl import flags

from nonlocal_tf.zoo import benchmark

FLAGS = flags.FLAGS
flags.DEFINE_list(
    "models",
    ["C2D_8x8_R50", "I3D_8x8_R50", "C2D_NLN_8x8_R50", "I3D_NLN_8x8_R50"],
    "Zoo model names or aliases.",
)
flags.DEFINE_list("batch_sizes", ["1", "4"], "Clips per call.")
flags.DEFINE_integer("iters", 3, "Timed calls per setting (median).")
flags.DEFINE_integer("warmup", 1, "Untimed calls per setting.")
flags.DEFINE_string("output", "benchmarks/model.json", "JSON results.")


def main(argv):
    del argv
    rows = []
    for name in FLAGS.models:
        for batch_size in FLAGS.batch_sizes:
            rows.append(
                benchmark.benchmark_model(
                    name,
                    int(batch_size),
                    iters=FLAGS.iters,
                    warmup=FLAGS.warmup,
                )
            )
            print(benchmark.format_table(rows[-1:]).splitlines()[2])
    print(benchmark.format_table(rows))
    directory = os.path.dirname(os.path.abspath(FLAGS.output))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=directory)
    with os.fdopen(fd, "w") as f:
        json.dump(rows, f, indent=2)
    os.replace(tmp, FLAGS.output)
    print(f"wrote {FLAGS.output}")


if __name__ == "__main__":
    app.run(main)
