"""What the programs share: the model flags, the clip spec flags, class names.

Every program that takes a model states it once (`--model`: a zoo name, a
training run's directory or a `.keras` file) and takes its input settings
from the model's `ClipSpec`; a clip flag given explicitly overrides the
spec, and the override is logged and recorded with the results.
"""

import dataclasses

from absl import app
from absl import flags
from absl import logging

from nonlocal_tf.clip_spec import DCT_METHODS
from nonlocal_tf.clip_spec import TEMPORAL_SAMPLING
from nonlocal_tf.clip_spec import TEST_HEADS
from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.data import annotations

MODEL_HELP = (
    "The model: a zoo name or alias (nonlocal_tf.zoo.list_models()), a "
    "training run's model_dir (its architecture, clip spec and weights), or "
    "a .keras file."
)
WEIGHTS_HELP = (
    "Weights for --model: a training run's model_dir, a *.weights.h5 file, "
    "a zoo checkpoint (Caffe2 .pkl, PySlowFast .pkl/.pyth/.npz) or a zoo "
    "weight tag (e.g. kinetics400). Default: a run's or .keras file's own; "
    "none (random initialisation) for a zoo name."
)
_DEFAULT = "Default: the model's clip spec."
CLIP_FLAGS = {
    "num_frames": ("integer", "Frames per clip (T)."),
    "sampling_rate": ("integer", "Step between the clip's frames."),
    "temporal_sampling": (
        TEMPORAL_SAMPLING,
        "Where clips start; short videos wrap (caffe2) or clamp (pyslowfast).",
    ),
    "crop_size": ("integer", "Training crop side (sizes the test head)."),
    "jitter_scales": ("list", "Training short side range: min,max."),
    "test_crop_size": ("integer", "Test short side and crop side."),
    "num_test_clips": ("integer", "Test clips per video, evenly spaced."),
    "num_test_crops": ("integer", "Test crops per clip: 1 or 3."),
    "test_head": (TEST_HEADS, "Classifier at test crops."),
    "jpeg_dct_method": (DCT_METHODS, "IDCT of the recorded JPEG frames."),
}


def require(name, predicate, message):
    """Checks flag `name` when it is set: a bad value names the flag.

    absl reports a failed check as `flag --<name>=<value>: <message>`, which
    `cli.run` prints as one `error:` line before anything else runs.

    Args:
        name: the flag.
        predicate: `fn(value) -> bool`, for a value that is not None; it may
            raise `ValueError` or `TypeError` for a bad value.
        message: what a good value is, e.g. "must be > 0".

    Example:
        >>> require("dropout", lambda v: 0 <= v < 1, "must be in [0, 1)")
    """

    def check(value):
        if value is None:
            return True
        try:
            return bool(predicate(value))
        except (ValueError, TypeError):
            return False

    flags.register_validator(name, check, message=message)


def increasing_positive(values, kind=int):
    """Whether `values` (strings) are `kind` numbers > 0, strictly increasing.

    Example:
        >>> increasing_positive(["150000", "300000"])
        True
    """
    numbers = [kind(value) for value in values]
    return all(n > 0 for n in numbers) and numbers == sorted(set(numbers))


def jitter_range(values):
    """Whether `values` is `min,max`: two integers, 1 <= min <= max."""
    low, high = (int(value) for value in values)
    return 1 <= low <= high


def define_model_flags(num_classes_help, *, weights=True):
    """--model, --weights, --width_per_group, --num_classes.

    Example:
        >>> define_model_flags("Classes of the head; default the label map's.")
    """
    flags.DEFINE_string("model", None, MODEL_HELP)
    if weights:
        flags.DEFINE_string("weights", None, WEIGHTS_HELP)
    flags.DEFINE_integer(
        "width_per_group",
        None,
        "For a zoo --model: res2 bottleneck width (default 64, the "
        "published models; smaller values give narrow copies).",
        lower_bound=1,
    )
    flags.DEFINE_integer("num_classes", None, num_classes_help, lower_bound=1)


def define_clip_flags(names=tuple(CLIP_FLAGS), defaults=None):
    """The clip spec flags `names`, each unset (None: the model's) by default.

    Args:
        names: which `ClipSpec` fields get a flag.
        defaults: `{name: default}` where a program has its own default.
    """
    defaults = defaults or {}
    for name in names:
        kind, text = CLIP_FLAGS[name]
        default = defaults.get(name)
        help_text = f"{text} {_DEFAULT if default is None else ''}".strip()
        if isinstance(kind, tuple):
            flags.DEFINE_enum(name, default, list(kind), help_text)
        elif kind == "integer":
            flags.DEFINE_integer(name, default, help_text, lower_bound=1)
        else:
            getattr(flags, f"DEFINE_{kind}")(name, default, help_text)
    if "num_test_crops" in names:
        require("num_test_crops", lambda v: v in (1, 3), "must be 1 or 3")
    if "jitter_scales" in names:
        require(
            "jitter_scales",
            jitter_range,
            "must be min,max: two integers, 1 <= min <= max",
        )


def clip_overrides(flag_values, names=None):
    """`{field: value}` of the clip flags given (not None).

    Args:
        flag_values: the parsed flags.
        names: the clip flags to read; default those `define_clip_flags`
            defined there.
    """
    if names is None:
        names = [
            name
            for name in CLIP_FLAGS
            if flag_values.find_module_defining_flag(name) == __name__
        ]
    values = {}
    for name in names:
        if name not in flag_values:
            continue
        value = flag_values[name].value
        if value is None:
            continue
        if name == "jitter_scales":
            if len(value) != 2:
                raise app.UsageError(
                    f"--jitter_scales needs min,max; got {','.join(value)}"
                )
            value = tuple(int(v) for v in value)
        values[name] = value
    return values


def apply_overrides(spec, flag_values, names=None):
    """`spec` with the given clip flags applied; logs each change.

    Returns:
        `(spec, changes)`, `changes` as `ClipSpec.override` gives them.

    Raises:
        app.UsageError: the result is not a valid spec.
    """
    try:
        spec, changes = spec.override(**clip_overrides(flag_values, names))
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    for name, (old, new) in changes.items():
        logging.info(
            "Clip spec override: --%s=%s replaces the model's %s",
            name,
            new,
            old,
        )
    logging.info("Clips: %s", spec.describe())
    return spec, changes


def changes_record(changes):
    """The overrides as JSON: `{field: {"model": old, "flag": new}}`."""

    def plain(value):
        return list(value) if isinstance(value, tuple) else value

    return {
        k: {"model": plain(old), "flag": plain(new)}
        for k, (old, new) in changes.items()
    }


def effective_clip_spec(flag_values, source, names=None):
    """The clips a program feeds `source`: its spec, the clip flags applied.

    Returns:
        `(spec, changes)` as `apply_overrides` gives them.
    """
    from nonlocal_tf import zoo

    return apply_overrides(zoo.clip_spec_of(source), flag_values, names)


@dataclasses.dataclass
class ResolvedModel:
    """A program's model and the clips it takes."""

    model: object
    clip_spec: ClipSpec
    changes: dict
    source: str


def resolve_model(
    flag_values,
    *,
    source=None,
    num_classes=None,
    input_shape_fn=None,
    clip_names=None,
    load_weights=True,
    **get_model_kwargs,
):
    """Builds `--model` with `--weights` and the clip flags applied.

    Args:
        flag_values: the parsed flags (model, weights, width_per_group,
            num_classes and the clip flags).
        source: the model instead of `--model`.
        num_classes: the class count instead of `--num_classes`.
        input_shape_fn: `fn(spec) -> (T, H, W, 3)`; default
            `(None, None, None, 3)`.
        clip_names: the clip flags to apply; default all defined.
        load_weights: load `--weights` (or a run's own).
        **get_model_kwargs: more `zoo.get_model` arguments for zoo names
            (e.g. `classifier_activation`, `dropout_rate`).

    Returns:
        A `ResolvedModel`.
    """
    from nonlocal_tf import zoo

    source = source or flag_values.model
    num_classes = num_classes or flag_values.num_classes
    if not source:
        raise app.UsageError("Give --model (a zoo name, run dir or .keras).")
    try:
        spec, changes = effective_clip_spec(flag_values, source, clip_names)
    except zoo.NoClipSpecError:
        return _plain_keras_model(flag_values, source, clip_names)
    shape = input_shape_fn(spec) if input_shape_fn else None
    weights = flag_values.weights if "weights" in flag_values else None
    if not load_weights:
        weights = None
    elif not weights and zoo.is_architecture_name(source):
        logging.warning("No --weights: the model is randomly initialised.")
    # A ValueError (an argument that does not apply to this source) is one
    # line through `cli.run`.
    model = zoo.load_model(
        source,
        weights=weights or None,
        clip_spec=spec,
        input_shape=shape,
        num_classes=num_classes,
        width_per_group=flag_values.width_per_group,
        **get_model_kwargs,
    )
    return ResolvedModel(model, model.clip_spec, changes, source)


def _plain_keras_model(flag_values, source, clip_names):
    """A `.keras` file of another model class: default spec + clip flags."""
    import keras

    from nonlocal_tf import models  # noqa: F401  (registers our layers)

    logging.warning(
        "%s is not a VideoClassifier and carries no clip spec: using "
        "ClipSpec() with the clip flags",
        source,
    )
    spec, changes = apply_overrides(ClipSpec(), flag_values, clip_names)
    model = keras.saving.load_model(source, compile=False)
    return ResolvedModel(model, spec, changes, source)


def class_names(label_map, records, num_classes):
    """Class names (or None) and their count from a label map or records.

    Returns:
        `(names or None, num_classes)`.
    """
    try:
        return annotations.resolve_class_names(label_map, records, num_classes)
    except ValueError as error:
        raise app.UsageError(str(error)) from None
