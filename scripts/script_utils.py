"""Helpers shared by the absl programs in scripts/ (not a program itself).

The programs import it as `script_utils`: `python scripts/x.py` puts
`scripts/` first on `sys.path`.
"""

import os

from absl import logging


def load_model_weights(model, model_name, weights):
    """Loads `weights` into a freshly built zoo `model`, strictly.

    Args:
        model: the model from `zoo.get_model(model_name, weights=None, ...)`.
        model_name: its zoo name (resolves weight tags such as
            "kinetics400").
        weights: a training run directory (its final weights, else its
            latest checkpoint), a `.weights.h5` file, an upstream checkpoint
            (Caffe2/PySlowFast `.pkl`, `.pyth`), a weight tag, or empty for
            random initialisation (logged as a warning).

    Example:
        >>> model = zoo.get_model("C2D_NLN_8x8_R50", classes=10)
        >>> load_model_weights(model, "C2D_NLN_8x8_R50", "runs/demo")
    """
    if not weights:
        logging.warning("No --weights: the model is randomly initialised.")
        return
    if weights.endswith(".weights.h5") or os.path.isdir(weights):
        from nonlocal_tf import training

        training.load_initial_weights(model, weights)
        return
    from nonlocal_tf import zoo

    path = weights
    if not os.path.exists(path):
        path = zoo.weights_path(model_name, weights)  # a weight tag
    logging.info("%s", zoo.load_weights(model, path))


WEIGHTS_HELP = (
    "For --model: a training run's model_dir, a *.weights.h5 file, a zoo "
    "checkpoint (.pkl/.pyth) or a zoo weight tag (e.g. kinetics400)."
)


def define_zoo_model_flags(num_classes_help):
    """Defines --model, --weights, --width_per_group and --num_classes.

    Args:
        num_classes_help: the help of --num_classes (its default differs
            between programs).

    Example:
        >>> define_zoo_model_flags("For --model: classes of the head.")
    """
    from absl import flags

    flags.DEFINE_string("model", None, "Zoo model name (nonlocal_tf.zoo).")
    flags.DEFINE_string("weights", None, WEIGHTS_HELP)
    flags.DEFINE_integer(
        "width_per_group",
        64,
        "For --model: res2 bottleneck width (64: the published models).",
    )
    flags.DEFINE_integer("num_classes", None, num_classes_help)


def multi_view_dataset(pattern, flag_values, batch_size):
    """The multi-view test pipeline over `pattern`, from the usual flags.

    Args:
        pattern: TFRecord file pattern.
        flag_values: parsed flags with num_frames, sampling_rate,
            test_crop_size, num_test_clips, num_test_crops, num_classes and
            multi_label.
        batch_size: videos per batch.

    Returns:
        `nonlocal_tf.data.build_dataset(..., mode="test")`, one pass in
        file order.

    Example:
        >>> multi_view_dataset("records/val-*", FLAGS, batch_size=1)
    """
    from nonlocal_tf import data

    return data.build_dataset(
        pattern,
        mode="test",
        num_frames=flag_values.num_frames,
        sampling_rate=flag_values.sampling_rate,
        test_crop_size=flag_values.test_crop_size,
        num_test_clips=flag_values.num_test_clips,
        num_test_crops=flag_values.num_test_crops,
        num_classes=flag_values.num_classes,
        multi_label=flag_values.multi_label,
        batch_size=batch_size,
        shuffle=False,
        repeat=False,
    )


def class_names(flag_values, records):
    """Class names (or None) from --label_map or the one beside `records`.

    Also sets `flag_values.num_classes` to their count when it was unset;
    a disagreement between the two is a `UsageError`.

    Example:
        >>> names = class_names(FLAGS, FLAGS.test_records)
    """
    from absl import app

    from nonlocal_tf import training

    try:
        names, flag_values.num_classes = training.resolve_class_names(
            flag_values.label_map, records, flag_values.num_classes
        )
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    return names
