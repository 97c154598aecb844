r"""Videos + annotations -> sharded TFRecords, label map and skip report.

Example, on this machine, then on an Apache Beam runner (same outputs;
`pip install 'nonlocal-tf[beam]'`):

    python scripts/prepare_data.py \
        --video_dir=kinetics400/videos --annotations=kinetics400/train.csv \
        --split=train --output_dir=records --num_shards=256 --num_workers=8

    python scripts/prepare_data.py --engine=beam \
        --beam_options="--runner=DirectRunner --direct_num_workers=2 \
            --direct_running_mode=multi_processing" \
        --video_dir=kinetics400/videos --annotations=kinetics400/train.csv \
        --split=train --output_dir=records --num_shards=256

Writes `<output_dir>/<split>-NNNNN-of-NNNNN.tfrecord`,
`<output_dir>/label_map.json` (reused when it exists, so prepare the training
split first) and `<output_dir>/<split>_report.json`. Rerun the same command
to resume after an interruption.
"""

import os

from absl import app
from absl import flags
from absl import logging

from nonlocal_tf import cli

# Only TensorFlow-free modules at import time: `cli.run` loads TensorFlow
# quietly (programs/__init__.py), and the decoding worker processes re-import
# the program's module.
from nonlocal_tf.data import annotations

FLAGS = flags.FLAGS

flags.DEFINE_string(
    "video_dir", None, "Folder of the video files.", required=True
)
flags.DEFINE_string(
    "annotations",
    None,
    "Kinetics CSV (label,youtube_id,time_start,time_end,split) or a "
    "'path,label[,label...]' list.",
    required=True,
)
flags.DEFINE_string("output_dir", None, "Where the records go.", required=True)
flags.DEFINE_string("split", "train", "Name prefix of the shard files.")
flags.DEFINE_enum(
    "format", "auto", ["auto", "kinetics", "list"], "Annotation file format."
)
flags.DEFINE_enum(
    "bad_annotation_rows",
    "error",
    ["error", "skip"],
    "A malformed annotation row (bad quoting, wrong column count, "
    "non-numeric time, duplicate): error names its file and line; skip "
    "leaves it out and lists it in <split>_report.json.",
)
flags.DEFINE_string(
    "csv_split",
    None,
    "Kinetics only: keep rows whose `split` column equals this (e.g. "
    "'validate'). Default: all rows.",
)
flags.DEFINE_string(
    "label_map",
    None,
    "Label map JSON to use. Default: <output_dir>/label_map.json if it "
    "exists, else one built from these annotations (sorted names).",
)
flags.DEFINE_integer(
    "short_side",
    320,
    "Resize frames to this short side; 0 keeps.",
    lower_bound=0,
)
flags.DEFINE_float(
    "fps", None, "Target frame rate; default keeps the source's."
)
flags.register_validator(
    "fps", lambda v: v is None or v > 0, message="must be > 0"
)
flags.DEFINE_integer(
    "num_shards", None, "Shard files; default ~100 videos each.", lower_bound=1
)
flags.DEFINE_integer(
    "num_workers",
    None,
    "Decoding processes; default: CPU count; 0: inline.",
    lower_bound=0,
)
flags.DEFINE_integer(
    "jpeg_qscale",
    2,
    "JPEG quantiser scale, 2 (best) to 31.",
    lower_bound=2,
    upper_bound=31,
)
flags.DEFINE_integer("seed", 0, "Seed of the video -> shard assignment.")
flags.DEFINE_bool("progress", True, "Show a progress bar (local engine).")
flags.DEFINE_enum(
    "engine",
    "local",
    ["local", "beam"],
    "local: worker processes here; beam: an Apache Beam pipeline (any "
    "runner, see --beam_options). Both write the same outputs.",
)
flags.DEFINE_string(
    "beam_options",
    None,
    "Beam pipeline options as one string, e.g. '--runner=DataflowRunner "
    "--project=P --region=R --temp_location=gs://B/tmp'. Default: the "
    "DirectRunner.",
)


def main(argv):
    del argv
    from nonlocal_tf.data import prepare

    entries = annotations.read_annotations(
        FLAGS.annotations,
        FLAGS.video_dir,
        split=FLAGS.csv_split,
        format=FLAGS.format,
        bad_rows=FLAGS.bad_annotation_rows,
    )
    map_path = FLAGS.label_map or os.path.join(
        FLAGS.output_dir, annotations.LABEL_MAP_FILE
    )
    if os.path.exists(map_path):
        label_map = annotations.read_label_map(map_path)
        logging.info(
            "Using label map %s (%d classes)", map_path, len(label_map)
        )
    elif FLAGS.label_map:
        raise app.UsageError(f"--label_map {FLAGS.label_map} does not exist")
    else:
        label_map = annotations.build_label_map(entries)
        logging.info("Built a label map of %d classes", len(label_map))
    result = prepare.prepare_dataset(
        entries,
        FLAGS.output_dir,
        label_map=label_map,
        split=FLAGS.split,
        num_shards=FLAGS.num_shards,
        num_workers=FLAGS.num_workers,
        short_side=FLAGS.short_side or None,
        fps=FLAGS.fps,
        jpeg_qscale=FLAGS.jpeg_qscale,
        seed=FLAGS.seed,
        progress=FLAGS.progress,
        engine=FLAGS.engine,
        beam_options=FLAGS.beam_options,
    )
    print(result.summary())
    if result.engine_metrics is not None:
        print(f"beam metrics of this run: {result.metrics_summary()}")
    for row in entries.bad_rows:
        print(f"  left out {row.path}:{row.line}: {row.reason}")
    for video in result.skipped_videos:
        print(
            f"  skipped {video['path']}: {video['reason']}: {video['detail']}"
        )
    print(f"report: {result.report_path}")


def run():
    """The console command `nonlocal-prepare-data`."""
    cli.run(main, tensorflow=True)
