r"""Checks TFRecord shards before a long run: CRCs, framing and parsing.

Every record of every shard matching --records is read (both CRCs, through
TensorFlow) and parsed as a `SequenceExample` with frames. A table gives,
per shard, the records read, the unparsable ones, the records expected (from
the `<split>_report.json` or the preparation state beside the shards, else
the shard's own record headers), the records lost after damage, and where
the damage is (a CRC mismatch, a cut-off file). Exit status 1, with one
`error: ...` line, when a shard is damaged or holds unparsable records:

  python scripts/check_records.py --records='records/val-*.tfrecord'

  python scripts/check_records.py --records='records/train-*.tfrecord' \
      --records='records/val-*.tfrecord' --output_json=records_check.json
"""

from absl import flags
from tqdm import tqdm

from nonlocal_tf import cli
from nonlocal_tf import fileio

# Modules that import TensorFlow are imported in the functions that use
# them, after `cli.run` has loaded it quietly (programs/__init__.py).

FLAGS = flags.FLAGS
flags.DEFINE_multi_string(
    "records", None, "TFRecord file pattern(s) (glob).", required=True
)
flags.DEFINE_bool("parse", True, "Also parse every record.")
flags.DEFINE_string(
    "output_json", None, "Also write the per-shard results here (JSON)."
)
flags.DEFINE_bool("progress", True, "Show a progress bar.")


def _as_json(check):
    return {
        "path": check.path,
        "records_ok": check.records_ok,
        "unparsable": check.unparsable,
        "expected": check.expected,
        "lost": check.lost,
        "size": check.size,
        "ok": check.ok,
        "damage": check.damage.as_dict() if check.damage else None,
    }


def main(argv):
    del argv
    from nonlocal_tf.data import integrity

    files = integrity.list_files(FLAGS.records)
    with tqdm(
        total=len(files), unit="shard", disable=not FLAGS.progress
    ) as bar:
        checks = integrity.check_records(
            files, parse=FLAGS.parse, progress=lambda _: bar.update()
        )
    print(integrity.format_table(checks))
    if FLAGS.output_json:
        fileio.atomic_write_json(
            FLAGS.output_json, [_as_json(c) for c in checks], indent=1
        )
    integrity.require_intact(checks)


def run():
    """The console command `nonlocal-check-records`."""
    cli.run(main, tensorflow=True)
