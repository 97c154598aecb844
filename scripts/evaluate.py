"""Multi-view evaluation of a video model on TFRecord test data.

Every test video is cut into --num_test_clips clips x --num_test_crops crops;
per-view scores are averaged per video. Prints and writes video-level top-1 /
top-5 (or mAP with --multi_label), the single-view (centre clip, centre crop)
numbers, a per-class CSV and per-video predictions:

    python scripts/evaluate.py --model=i3d_nl5_r50_32x2 \
        --weights=/runs/i3d_nl5 --test_records='/data/kinetics/val-*' \
        --num_frames=32 --sampling_rate=2 --output_dir=/runs/i3d_nl5/test

Charades-style multi-label data (records prepared from a `path,label,label`
list) with --multi_label gives mAP instead of top-1/top-5.

The model is a zoo name with --weights (a training run's model_dir, a
*.weights.h5 file, a zoo checkpoint or weight tag; loaded strictly, head
included) and --width_per_group for narrow copies, or --saved_model (an
exported SavedModel, called through its `serving_default` signature), or
--keras_model (a `.keras` file). --num_classes and the class names default
to the label_map.json beside the records.
"""

import json
import os

import script_utils
from absl import app
from absl import flags
from absl import logging

FLAGS = flags.FLAGS

script_utils.define_zoo_model_flags(
    "Number of classes; default: the size of the label map."
)
flags.DEFINE_string("saved_model", None, "SavedModel directory instead.")
flags.DEFINE_string("keras_model", None, "A .keras model file instead.")
flags.DEFINE_string("test_records", None, "Test TFRecord file pattern.")
flags.DEFINE_boolean("multi_label", False, "Multi-hot labels: report mAP.")
flags.DEFINE_integer("num_frames", 32, "Frames per clip (T).")
flags.DEFINE_integer("sampling_rate", 2, "Frame stride within a clip.")
flags.DEFINE_integer("test_crop_size", 256, "Crop size (short side).")
flags.DEFINE_integer("num_test_clips", 10, "Clips per video (K).")
flags.DEFINE_integer("num_test_crops", 3, "Spatial crops per clip.")
flags.DEFINE_integer("batch_size", 1, "Videos per batch.")
flags.DEFINE_integer("view_batch_size", None, "Views per model call.")
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
flags.DEFINE_integer("max_videos", None, "Evaluate only this many videos.")
flags.DEFINE_string("output_dir", None, "Where the results are written.")

flags.mark_flags_as_required(["test_records", "output_dir"])


def load_model():
    """The model (a Keras model or a clips -> scores callable) to evaluate."""
    chosen = [
        f for f in ("model", "saved_model", "keras_model") if FLAGS[f].value
    ]
    if len(chosen) != 1:
        raise app.UsageError(
            "Give exactly one of --model, --saved_model, --keras_model."
        )
    if FLAGS.saved_model:
        from nonlocal_tf import training

        return training.SavedModelClassifier(FLAGS.saved_model)
    from nonlocal_tf import zoo  # registers the custom layers

    if FLAGS.keras_model:
        import keras

        return keras.saving.load_model(FLAGS.keras_model)
    return zoo_model(zoo)


def zoo_model(zoo):
    """The zoo model with --weights, loaded strictly (the head included)."""
    size = FLAGS.test_crop_size
    model = zoo.get_model(
        FLAGS.model,
        weights=None,
        classes=FLAGS.num_classes,
        classifier_activation="sigmoid" if FLAGS.multi_label else "softmax",
        input_shape=(FLAGS.num_frames, size, size, 3),
        width_per_group=FLAGS.width_per_group,
    )
    script_utils.load_model_weights(model, FLAGS.model, FLAGS.weights)
    return model


def test_dataset():
    return script_utils.multi_view_dataset(
        FLAGS.test_records, FLAGS, FLAGS.batch_size
    )


def main(argv):
    del argv
    from nonlocal_tf import training

    names = script_utils.class_names(FLAGS, FLAGS.test_records)
    result = training.evaluate(
        load_model(),
        test_dataset(),
        multi_label=FLAGS.multi_label,
        activation=FLAGS.activation,
        ensemble=FLAGS.ensemble,
        num_clips=FLAGS.num_test_clips,
        num_crops=FLAGS.num_test_crops,
        view_batch_size=FLAGS.view_batch_size,
        class_names=names,
        max_videos=FLAGS.max_videos,
    )
    out = FLAGS.output_dir
    setup = {
        "model": FLAGS.model or FLAGS.saved_model or FLAGS.keras_model,
        "weights": FLAGS.weights,
        "test_records": FLAGS.test_records,
        "views": f"{FLAGS.num_test_clips} clips x {FLAGS.num_test_crops} "
        f"crops of {FLAGS.test_crop_size}",
        "single_view": "centre clip, centre crop",
    }
    training.write_metrics_json(
        result, os.path.join(out, "metrics.json"), {"setup": setup}
    )
    training.write_per_class_csv(result, os.path.join(out, "per_class.csv"))
    training.write_predictions_csv(result, os.path.join(out, "predictions.csv"))
    m = result.metrics
    if FLAGS.multi_label:
        lines = [
            f"mAP ({m['num_views']} views/video): {m['mAP']:.4f}",
            f"single-view mAP (centre clip, centre crop): "
            f"{m['single_view_mAP']:.4f}",
        ]
    else:
        lines = [
            f"top-1 / top-5 ({m['num_views']} views/video): "
            f"{m['top1']:.4f} / {m['top5']:.4f}",
            f"single-view top-1 / top-5 (centre clip, centre crop): "
            f"{m['single_view_top1']:.4f} / {m['single_view_top5']:.4f}",
        ]
    expected = m.get("num_videos_expected", m["num_videos"])
    print(f"{m['num_videos']} of {expected} videos scored")
    for shard in m.get("damaged_shards", []):
        print(f"  damaged shard {shard['path']}: {shard['lost']} lost")
    print("\n".join(lines))
    logging.info("Metrics: %s", json.dumps(m))
    logging.info("Results in %s", out)


if __name__ == "__main__":
    app.run(main)
