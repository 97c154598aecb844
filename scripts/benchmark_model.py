"""Inference and training-step throughput of the R50 zoo models.

Clips/s and achieved GFLOP/s at 8 x 224 x 224: inference at batch 1 and 8
(`predict_on_batch`), a training step at batch 2 (`train_on_batch`, SGD with
Nesterov momentum). FLOPs per clip come from the zoo table (multiply-adds,
x2 for FLOP/s; a training step counts 3 forward passes), see
`nonlocal_tf.zoo.benchmark`. Prints a table and writes JSON. Runs on any
Keras backend:

    python scripts/benchmark_model.py --output=benchmarks/model_cpu.json
    KERAS_BACKEND=jax python scripts/benchmark_model.py \
        --output=benchmarks/model_gpu_jax.json

`--quick` runs a tiny copy (width 4, 4 x 32 x 32) of the first model as a
smoke test.
"""

import json
import os
import tempfile

from absl import flags

from nonlocal_tf import cli
from nonlocal_tf.zoo import benchmark

FLAGS = flags.FLAGS
flags.DEFINE_list(
    "models",
    ["C2D_8x8_R50", "C2D_NLN_8x8_R50", "I3D_8x8_R50", "I3D_NLN_8x8_R50"],
    "Zoo model names or aliases.",
)
flags.DEFINE_list("batch_sizes", ["1", "8"], "Inference clips per call.")
flags.DEFINE_list(
    "train_batch_sizes", ["2"], "Training clips per step (empty: none)."
)
flags.DEFINE_integer("iters", 3, "Timed calls per setting (median).")
flags.DEFINE_integer("warmup", 1, "Untimed calls per setting.")
flags.DEFINE_list(
    "input_shape", None, "T,H,W of the clips; default the entry's (8,224,224)."
)
flags.DEFINE_integer("width_per_group", 64, "64: the published width.")
flags.DEFINE_boolean(
    "quick",
    False,
    "Smoke test: the first model only, width 4, 4 x 32 x 32 clips, batch 1 "
    "and 2, one timed call each.",
)
flags.DEFINE_string("output", "benchmarks/model.json", "JSON results.")


def _write_json(rows, path):
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".json", dir=directory)
    with os.fdopen(fd, "w") as f:
        json.dump(rows, f, indent=2)
    os.replace(tmp, path)


def main(argv):
    del argv
    models = FLAGS.models
    batch_sizes = [int(b) for b in FLAGS.batch_sizes]
    train_batch_sizes = [int(b) for b in FLAGS.train_batch_sizes]
    shape = FLAGS.input_shape and [int(s) for s in FLAGS.input_shape] + [3]
    width, iters, warmup = FLAGS.width_per_group, FLAGS.iters, FLAGS.warmup
    if FLAGS.quick:
        models, batch_sizes, train_batch_sizes = models[:1], [1], [2]
        shape, width, iters, warmup = [4, 32, 32, 3], 4, 1, 1
    print(f"device: {benchmark.device_description()}")
    rows = []
    for name in models:
        settings = [(benchmark.benchmark_model, b) for b in batch_sizes]
        settings += [
            (benchmark.benchmark_training_step, b) for b in train_batch_sizes
        ]
        for run, batch_size in settings:
            rows.append(
                run(
                    name,
                    batch_size,
                    iters=iters,
                    warmup=warmup,
                    input_shape=shape,
                    width_per_group=width,
                )
            )
            print(benchmark.format_table(rows[-1:]).splitlines()[2], flush=True)
    print(benchmark.format_table(rows))
    _write_json(rows, FLAGS.output)
    print(f"wrote {FLAGS.output}")


if __name__ == "__main__":
    cli.run(main)
