r"""Exports a video classifier as a TF Serving SavedModel.

Writes `<export_dir>/<name>/<version>/` with the `serving_default` (float
clip) and `classify_frames` (JPEG frames) signatures and TF Serving warm-up
requests, then prints the signatures.

Examples:

    python scripts/export.py --keras_model=run/model.keras \
        --labels=labels.txt --export_dir=/models --name=my_model

    python scripts/export.py --model=I3D_NLN_8x8_R50 \
        --weights=/weights/I3D_NLN_8x8_R50.pkl --labels=kinetics_400.json \
        --export_dir=/models

    python scripts/export.py --model=C2D_NLN_8x8_R50 --weights=/runs/c2d_nl \
        --labels=records/label_map.json --export_dir=/models --name=c2d_nl
"""

import script_utils
from absl import app
from absl import flags
from absl import logging

from nonlocal_tf.export import labels as labels_lib
from nonlocal_tf.export import saved_model

FLAGS = flags.FLAGS
flags.DEFINE_string("keras_model", None, "A .keras model file.")
script_utils.define_zoo_model_flags(
    "For --model: classes of the head; default the number of --labels, "
    "else the zoo entry's."
)
flags.DEFINE_string(
    "labels",
    None,
    "Class names: a JSON label map {name: index}, a JSON list, or a text "
    "file with one name per line. Default: class_<i>.",
)
flags.DEFINE_string("export_dir", None, "Base directory of served models.")
flags.DEFINE_string(
    "name", None, "Served model name. Default: --model, or the file stem."
)
flags.DEFINE_integer(
    "version", None, "Version number. Default: the next free one."
)
flags.DEFINE_integer(
    "num_frames",
    None,
    "Frames per clip; pins T in the signatures. Default: the model's.",
)
flags.DEFINE_integer(
    "crop_size",
    None,
    "Frame side produced by classify_frames. Default: the zoo entry's crop "
    "(224), or the model's static frame side, else 224.",
)
flags.DEFINE_integer("top_k", 5, "Number of best classes returned.")
flags.DEFINE_enum(
    "from_logits",
    "auto",
    ["auto", "true", "false"],
    "Whether the model returns logits (auto: decided on a random clip).",
)
flags.DEFINE_bool("warmup", True, "Write TF Serving warm-up requests.")
flags.DEFINE_bool("overwrite", False, "Replace an existing --version.")
flags.mark_flag_as_required("export_dir")


def _zoo_model(label_names):
    """The zoo model for --model with --weights (strict, head included).

    Its clip length is --num_frames (default the entry's); height and width
    stay dynamic, so `serving_default` takes any crop size.
    """

    from nonlocal_tf import zoo

    entry = zoo.get_entry(FLAGS.model)
    num_classes = FLAGS.num_classes
    if num_classes is None and label_names is not None:
        num_classes = len(label_names)
    model = zoo.get_model(
        FLAGS.model,
        weights=None,
        classes=num_classes,
        input_shape=(FLAGS.num_frames or entry.frames, None, None, 3),
        width_per_group=FLAGS.width_per_group,
    )
    script_utils.load_model_weights(model, FLAGS.model, FLAGS.weights)
    return model, entry


def _load_model(label_names):
    if bool(FLAGS.keras_model) == bool(FLAGS.model):
        raise app.UsageError("Pass exactly one of --keras_model and --model.")
    if FLAGS.keras_model:
        import keras

        # Registers the project's custom layers for deserialisation.
        from nonlocal_tf import layers  # noqa: F401
        from nonlocal_tf import models  # noqa: F401

        return keras.saving.load_model(FLAGS.keras_model, compile=False), None
    return _zoo_model(label_names)


def _default_name():
    if FLAGS.model:
        return FLAGS.model
    stem = FLAGS.keras_model.rstrip("/").rsplit("/", 1)[-1]
    return stem.removesuffix(".keras")


def main(argv):
    del argv
    label_names = None
    if FLAGS.labels:
        label_names = labels_lib.load_label_names(FLAGS.labels)
    model, entry = _load_model(label_names)
    crop_size = FLAGS.crop_size
    if crop_size is None and entry is not None:
        crop_size = entry.crop_size
    from_logits = {"auto": "auto", "true": True, "false": False}[
        FLAGS.from_logits
    ]
    path = saved_model.export_saved_model(
        model,
        FLAGS.export_dir,
        FLAGS.name or _default_name(),
        version=FLAGS.version,
        label_names=label_names,
        num_frames=FLAGS.num_frames,
        crop_size=crop_size,
        top_k=FLAGS.top_k,
        from_logits=from_logits,
        warmup=FLAGS.warmup,
        overwrite=FLAGS.overwrite,
    )
    logging.info("Exported %s", path)
    print(f"SavedModel: {path}")
    print(saved_model.describe_signatures(path))


if __name__ == "__main__":
    app.run(main)
