r"""Multi-view evaluation of a video model on TFRecord test data.

Every test video is cut into the model's test views (its clip spec: K clips
x 1 or 3 crops of the test crop size; clip flags override it, logged and
recorded in metrics.json); per-view scores are averaged per video. Prints
and writes video-level top-1 / top-5 (or mAP with --multi_label), the
single-view (centre clip, centre crop) numbers, a per-class CSV and
per-video predictions:

  python scripts/evaluate.py --model=/runs/i3d_nl5 \
      --test_records='/data/kinetics/val-*' --output_dir=/runs/i3d_nl5/test

  python scripts/evaluate.py --model=I3D_NLN_8x8_R50 \
      --weights=/weights/I3D_NLN_8x8_R50.pkl \
      --test_records='/data/kinetics/val-*' --output_dir=/tmp/psf_test

--model is a training run's model_dir (architecture, clip spec and weights
from the run), a zoo name with --weights (a *.weights.h5 file, a zoo
checkpoint or weight tag; loaded strictly, head included) or a .keras file;
--saved_model evaluates an exported SavedModel through its serving_default
signature (its embedded clip spec). Charades-style multi-label data with
--multi_label gives mAP. --num_classes and the class names default to the
label_map.json beside the records.
"""

import json
import os

from absl import app
from absl import flags
from absl import logging

from nonlocal_tf import cli
from nonlocal_tf import data
from nonlocal_tf import export
from nonlocal_tf import training
from nonlocal_tf.programs import common

# Modules that import TensorFlow are imported in the functions that use
# them, after `cli.run` has loaded it quietly (programs/__init__.py).

FLAGS = flags.FLAGS

common.define_model_flags(
    "Number of classes; default: the size of the label map."
)
flags.DEFINE_string("saved_model", None, "A SavedModel directory instead.")
flags.DEFINE_string("keras_model", None, "A .keras file (same as --model).")
flags.DEFINE_string("test_records", None, "Test TFRecord file pattern.")
flags.DEFINE_boolean("multi_label", False, "Multi-hot labels: report mAP.")
common.define_clip_flags()
flags.DEFINE_integer("batch_size", 1, "Videos per batch.", lower_bound=1)
flags.DEFINE_integer(
    "view_batch_size", None, "Views per model call.", lower_bound=1
)
flags.DEFINE_enum(
    "activation",
    None,
    ["softmax", "sigmoid"],
    "Applied to model outputs before averaging (default: none, the model "
    "outputs probabilities).",
)
flags.DEFINE_enum("ensemble", "mean", ["mean", "max"], "View aggregation.")
flags.DEFINE_string(
    "label_map",
    None,
    "Class names: a label_map.json ({name: index}, as prepare_data.py "
    "writes), a JSON list or one name per line. Default: label_map.json "
    "beside --test_records, if there.",
)
flags.DEFINE_integer(
    "max_videos", None, "Evaluate only this many videos.", lower_bound=1
)
flags.DEFINE_boolean(
    "jit_compile",
    False,
    "Compile the model's forward pass with XLA (slower than without on a "
    "2-core CPU, see docs/performance.md).",
)
flags.DEFINE_string("output_dir", None, "Where the results are written.")
flags.adopt_module_key_flags(common)
flags.mark_flags_as_required(["test_records", "output_dir"])


def load_model(num_classes):
    """`(model or callable, spec, changes)` from --model/--saved_model."""
    source = FLAGS.model or FLAGS.keras_model
    if FLAGS.model and FLAGS.keras_model:
        raise app.UsageError("Give --model or --keras_model, not both.")
    if bool(source) == bool(FLAGS.saved_model):
        raise app.UsageError("Give exactly one of --model and --saved_model.")
    if FLAGS.saved_model:
        classifier = export.SavedModelClassifier(FLAGS.saved_model)
        spec = classifier.clip_spec
        if spec is None:
            raise app.UsageError(
                f"{FLAGS.saved_model} has no clip spec (exported before "
                "clip specs): give the clip flags"
            )
        spec, changes = common.apply_overrides(spec, FLAGS)
        return classifier, spec, changes
    resolved = common.resolve_model(
        FLAGS,
        source=source,
        num_classes=num_classes,
        classifier_activation="sigmoid" if FLAGS.multi_label else "softmax",
    )
    return resolved.model, resolved.clip_spec, resolved.changes


def print_metrics(metrics):
    if FLAGS.multi_label:
        lines = [
            f"mAP ({metrics['num_views']} views/video): {metrics['mAP']:.4f}",
            "single-view mAP (centre clip, centre crop): "
            f"{metrics['single_view_mAP']:.4f}",
        ]
    else:
        lines = [
            f"top-1 / top-5 ({metrics['num_views']} views/video): "
            f"{metrics['top1']:.4f} / {metrics['top5']:.4f}",
            "single-view top-1 / top-5 (centre clip, centre crop): "
            f"{metrics['single_view_top1']:.4f} / "
            f"{metrics['single_view_top5']:.4f}",
        ]
    expected = metrics.get("num_videos_expected", metrics["num_videos"])
    print(f"{metrics['num_videos']} of {expected} videos scored")
    for shard in metrics.get("damaged_shards", []):
        print(f"  damaged shard {shard['path']}: {shard['lost']} lost")
    print("\n".join(lines))


def main(argv):
    del argv
    data.list_files(FLAGS.test_records)  # a pattern that matches nothing
    names, num_classes = common.class_names(
        FLAGS.label_map, FLAGS.test_records, FLAGS.num_classes
    )
    model, spec, changes = load_model(num_classes)
    task = training.VideoClassificationTask(
        model_fn=None,
        clip_spec=spec,
        val_records=FLAGS.test_records,
        num_classes=num_classes,
        multi_label=FLAGS.multi_label,
        class_names=names,
    )
    result = task.evaluate(
        model,
        batch_size=FLAGS.batch_size,
        activation=FLAGS.activation,
        ensemble=FLAGS.ensemble,
        view_batch_size=FLAGS.view_batch_size,
        max_videos=FLAGS.max_videos,
        jit_compile=FLAGS.jit_compile,
    )
    setup = {
        "model": FLAGS.model or FLAGS.keras_model or FLAGS.saved_model,
        "weights": FLAGS.weights,
        "test_records": FLAGS.test_records,
        "views": f"{spec.num_test_clips} clips x {spec.num_test_crops} "
        f"crops of {spec.test_crop_size}",
        "single_view": "centre clip, centre crop",
    }
    task.write_results(
        result,
        FLAGS.output_dir,
        setup=setup,
        extra={"clip_spec_overrides": common.changes_record(changes)},
    )
    print_metrics(result.metrics)
    logging.info("Metrics: %s", json.dumps(result.metrics))
    logging.info("Results in %s", os.path.abspath(FLAGS.output_dir))


def run():
    """The console command `nonlocal-evaluate`."""
    cli.run(main, tensorflow=True)
