"""`list_models`, `get_model`, `from_preset`: the zoo, keras.applications way.

Every model source goes through one resolver (`presets.resolve`); this
module names the zoo's entries and builds them.
"""

import json
import os

from absl import logging
from keras_hub.src.utils.preset_utils import register_presets as _hub_presets

from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.models import VideoClassifier
from nonlocal_tf.models import VideoResNetBackbone
from nonlocal_tf.models import video_resnet

from . import loading
from . import presets
from .entries import REGISTRY

# Keyword arguments `get_model` passes on besides the architecture's.
_MODEL_KWARGS = ("name", "dtype", "trainable", "preprocessor", "class_names")


class NoClipSpecError(ValueError):
    """A model file that is not a `VideoClassifier`: it has no clip spec."""


def list_models(with_weights=False):
    """Canonical names of the registered models.

    Args:
        with_weights: only those with a published checkpoint.

    Example:
        >>> "i3d_nl5_r50_8x8" in list_models()
        True
    """
    return [e.name for e in REGISTRY.entries() if e.weights or not with_weights]


def get_entry(name):
    """The `ModelEntry` of a canonical name or alias (case-insensitive).

    Raises:
        ValueError: unknown name; the message suggests close matches.

    Example:
        >>> get_entry("I3D_NLN_8x8_R50").name
        'i3d_nl5_r50_8x8_pyslowfast'
    """
    return REGISTRY.get(name)


def is_registered(name):
    """Whether `name` is a zoo name or alias (case-insensitive).

    Example:
        >>> is_registered("I3D_NLN_8x8_R50"), is_registered("runs/c2d")
        (True, False)
    """
    return name in REGISTRY


def register(entry):
    """Adds a user `ModelEntry` (names and aliases must be new).

    Example:
        >>> base = get_entry("i3d_nl5_r50_8x8")
        >>> spec, _ = base.clip_spec.override(num_frames=16, sampling_rate=4)
        >>> register(dataclasses.replace(base, name="my_i3d_16x4",
        ...                              clip_spec=spec, aliases=(),
        ...                              weights={}))
        >>> model = get_model("my_i3d_16x4")
    """
    return REGISTRY.register(entry)


def get_model(
    name,
    *,
    weights=None,
    include_top=True,
    input_shape=None,
    pooling=None,
    num_classes=None,
    classifier_activation="softmax",
    width_per_group=None,
    dropout_rate=0.5,
    clip_spec=None,
    **kwargs,
):
    """Builds a zoo model by name, optionally with weights.

    Args:
        name: a name from `list_models()` or an alias (video-nonlocal-net
            file name such as `i3d_nonlocal_8x8_IN_pretrain_400k`, PySlowFast
            config name such as `I3D_NLN_8x8_R50`); case-insensitive.
        weights: None (random initialisation), a weight source tag of the
            entry (e.g. "kinetics400", downloaded with
            `keras.utils.get_file`, needs network), or anything
            `load_weights` takes: a Keras `.weights.h5`, Caffe2 `.pkl`,
            PySlowFast `.pkl` / `.pyth` / `.npz` (format detected from the
            content) or a training run's directory. Loading is strict: any
            missing, unexpected or shape-mismatched tensor raises.
        include_top: include the classifier (`pool5`, `dropout`, `pred`).
        input_shape: `(T, H, W, 3)`, entries may be None; default
            `(None, None, None, 3)` (training and test crops alike).
        pooling: without the top: None, "avg" or "max".
        num_classes: classes of the head; default the entry's (400). When it
            differs from the checkpoint's, the checkpoint's head is skipped
            (and the log says so).
        classifier_activation: activation of the head, None for logits.
        width_per_group: default the entry's (64 for the published
            models); smaller values give
            narrow copies with the same topology and weight names.
        dropout_rate: dropout before `pred`.
        clip_spec: a `ClipSpec` (or dict) replacing the entry's; default the
            entry's `clip_spec`.
        **kwargs: further `nonlocal_tf.models.VideoClassifier` arguments
            (e.g. `nonlocal_kwargs`, `zero_init_final_bn`, `name`).

    Returns:
        A `nonlocal_tf.models.VideoClassifier`; `model.clip_spec` says what
        clips it takes.

    Example:
        >>> model = get_model("I3D_NLN_8x8_R50", weights="I3D_NLN_8x8_R50.pkl")
        >>> model.clip_spec.num_frames, model.clip_spec.test_crop_size
        (8, 256)
    """
    entry = get_entry(name)
    unknown = sorted(
        set(kwargs) - set(video_resnet.ARCHITECTURE_KEYS) - set(_MODEL_KWARGS)
    )
    if unknown:
        raise TypeError(
            f"get_model({name!r}) got unknown keyword arguments {unknown}; "
            "it takes weights, include_top, input_shape, pooling, "
            "num_classes, classifier_activation, width_per_group, "
            "dropout_rate, clip_spec and the architecture arguments of "
            "nonlocal_tf.models.VideoResNetBackbone"
        )
    architecture = dict(entry.architecture)
    architecture.update(kwargs)
    if width_per_group is None:
        width_per_group = architecture.pop("width_per_group", 64)
    else:
        architecture.pop("width_per_group", None)
    architecture.setdefault("name", entry.name)
    model = VideoClassifier(
        width_per_group=width_per_group,
        include_top=include_top,
        input_shape=input_shape,
        pooling=pooling,
        num_classes=entry.num_classes if num_classes is None else num_classes,
        classifier_activation=classifier_activation,
        dropout_rate=dropout_rate,
        clip_spec=entry.clip_spec if clip_spec is None else clip_spec,
        **architecture,
    )
    if weights is not None:
        published = entry.architecture.get("width_per_group", 64)
        if os.fspath(weights) in entry.weights and width_per_group != published:
            raise ValueError(
                f"weights={weights!r} are full-width checkpoints; received "
                f"width_per_group={width_per_group}"
            )
        load_weights(
            model,
            weights,
            entry=entry,
            skip_mismatched_head=num_classes is not None,
        )
    return model


def load_model(
    source,
    *,
    weights=None,
    clip_spec=None,
    input_shape=None,
    num_classes=None,
    width_per_group=None,
    **kwargs,
):
    """A model from a zoo name or any source `from_preset` takes.

    What every program's `--model` goes through.

    Args:
        source: a zoo name or alias (see `get_model`, random initialisation
            unless `weights`), or what `VideoClassifier.from_preset` takes:
            a preset name or directory, a training run's directory, a
            `.keras` file.
        weights: what `load_weights` takes; default the source's own.
        clip_spec: a `ClipSpec` replacing the model's (`rebuild`).
        input_shape: `(T, H, W, 3)` of the rebuilt model.
        num_classes: a zoo name's class count; for other sources, the count
            the caller expects (another one is an error).
        width_per_group: a zoo name's width (other sources have their own).
        **kwargs: for a zoo name, the other `get_model` arguments; for
            other sources `classifier_activation` and `dropout_rate` rebuild
            the head (same weights).

    Returns:
        A `nonlocal_tf.models.VideoClassifier`.

    Raises:
        ValueError: an argument that does not apply to `source`.

    Example:
        >>> model = load_model("runs/c2d_nl")        # the trained model
        >>> model.clip_spec.describe()
    """
    source = os.fspath(source)
    if is_architecture_name(source):
        return get_model(
            source,
            weights=weights,
            clip_spec=clip_spec,
            input_shape=input_shape,
            num_classes=num_classes,
            width_per_group=width_per_group,
            **kwargs,
        )
    if width_per_group or set(kwargs) - {
        "classifier_activation",
        "dropout_rate",
    }:
        given = sorted(kwargs) + (
            ["width_per_group"] if width_per_group else []
        )
        raise ValueError(
            f"{given} apply to zoo names only; {source} has its own "
            "architecture"
        )
    model = from_preset(source, load_weights=weights is None)
    if num_classes is not None and num_classes != model.num_classes:
        raise ValueError(
            f"num_classes={num_classes}, but {source} predicts "
            f"{model.num_classes} classes"
        )
    config = model.get_config()
    head = {k: v for k, v in kwargs.items() if config[k] != v}
    if (
        clip_spec is not None
        and ClipSpec.from_dict(clip_spec) == model.clip_spec
    ):
        clip_spec = None
    if clip_spec is not None or input_shape is not None or head:
        model = rebuild(
            model, clip_spec=clip_spec, input_shape=input_shape, **head
        )
    if weights is not None:
        load_weights(model, weights)
    return model


def from_preset(source, *, num_classes=None, load_weights=True):
    """`VideoClassifier.from_preset` (the zoo's resolver behind it).

    Example:
        >>> model = from_preset("i3d_nl5_r50_8x8_pyslowfast_kinetics400",
        ...                     num_classes=3)
    """
    return presets.resolve(
        source,
        registry=REGISTRY,
        build_model=_build_entry,
        num_classes=num_classes,
        load_weights=load_weights,
    )


def _build_entry(entry, weights_path):
    return get_model(entry.name, weights=weights_path)


def is_architecture_name(source):
    """Whether `source` names a zoo architecture (not a preset or a path).

    Example:
        >>> is_architecture_name("I3D_NLN_8x8_R50"), is_architecture_name(
        ...     "i3d_nl5_r50_8x8_pyslowfast_kinetics400")
        (True, False)
    """
    source = os.fspath(source)
    return (
        source in REGISTRY
        and presets.find_preset(REGISTRY, source) is None
        and not os.path.exists(source)
    )


def register_presets():
    """Lists the zoo's presets on the model classes and answers their names.

    `VideoClassifier.presets` then lists every (entry, weight tag); KerasHub
    finds a converted preset in the cache by its name.
    """
    table = {}
    for name, (entry, tag) in presets.preset_table(REGISTRY).items():
        source = entry.weights[tag]
        table[name] = {
            "metadata": {
                "description": entry.description,
                "params": None,
                "path": name,
                "source": source.url,
            },
            "kaggle_handle": os.path.join(presets.cache_root(), name),
        }
    _hub_presets(table, VideoResNetBackbone)
    video_resnet.register_source_resolver(
        lambda source, *, num_classes, load_weights: from_preset(
            source, num_classes=num_classes, load_weights=load_weights
        )
    )


def rebuild(model, *, clip_spec=None, input_shape=None, **head):
    """The same architecture and weights around another spec or input shape.

    Args:
        model: a `VideoClassifier`.
        clip_spec: a `ClipSpec` replacing the model's.
        input_shape: `(T, H, W, 3)` of the rebuilt backbone; default
            `(T, None, None, 3)` for a new spec.
        **head: `num_classes`, `classifier_activation`, `dropout_rate`,
            `class_names` of the rebuilt head; a new class count gets a
            fresh `pred` (and no class names unless given).

    Example:
        >>> longer = rebuild(model, clip_spec=spec16)  # 16-frame clips
    """
    unknown = sorted(
        set(head)
        - {
            "num_classes",
            "classifier_activation",
            "dropout_rate",
            "class_names",
        }
    )
    if unknown:
        raise TypeError(f"rebuild() got unknown keyword arguments {unknown}")
    config = model.get_config()
    backbone = config["backbone"]["config"]
    if clip_spec is not None:
        config["clip_spec"] = ClipSpec.from_dict(clip_spec).to_dict()
    if input_shape is not None:
        backbone["input_shape"] = list(input_shape)
    elif clip_spec is not None:
        backbone["input_shape"] = [config["clip_spec"]["num_frames"]] + [
            None,
            None,
            3,
        ]
    config.pop("preprocessor", None)  # made anew from the new spec
    if head.get("num_classes", config["num_classes"]) != config["num_classes"]:
        config["class_names"] = None
    config.update(head)
    new = VideoClassifier.from_config(config)
    new.backbone.set_weights(model.backbone.get_weights())
    _copy_head(model, new, skip_mismatched_head=True)
    logging.info("Rebuilt %s for %s", model.name, new.clip_spec.describe())
    return new


def _copy_head(source, model, *, skip_mismatched_head):
    """Copies `pred`, or leaves it fresh (logged) when the classes differ."""
    if not (source.include_top and model.include_top):
        return
    src, dst = source.get_layer("pred"), model.get_layer("pred")
    if tuple(src.kernel.shape) == tuple(dst.kernel.shape):
        dst.set_weights(src.get_weights())
    elif skip_mismatched_head:
        logging.warning(
            "%s: skipped pred: the source has %d classes, the model %d; the "
            "head keeps its initialisation",
            model.name,
            source.num_classes,
            model.num_classes,
        )
    else:
        raise loading.CheckpointMismatchError(
            loading.LoadReport(
                source=source.name,
                format="preset",
                mismatched=[
                    f"pred_w: source {tuple(src.kernel.shape)}, model "
                    f"expects {tuple(dst.kernel.shape)}"
                ],
            )
        )


def load_weights(model, source, *, entry=None, skip_mismatched_head=False):
    """`loading.load_weights`, and presets and `.keras` files as sources.

    A preset (name, directory, handle) or `.keras` file gives its backbone's
    weights and, where the class counts agree, its head's.

    Example:
        >>> load_weights(model, "runs/c2d_nl", skip_mismatched_head=True)
    """
    text = os.fspath(source)
    if (
        presets.find_preset(REGISTRY, text) is not None
        or text.startswith(presets.HANDLE_PREFIXES)
        or presets.is_preset_dir(text)
        or text.endswith(".keras")
    ):
        donor = from_preset(text)
        try:
            model.backbone.set_weights(donor.backbone.get_weights())
        except ValueError as error:
            raise ValueError(
                f"{text} does not fit model '{model.name}': its backbone has "
                f"another architecture ({error})"
            ) from None
        _copy_head(donor, model, skip_mismatched_head=skip_mismatched_head)
        logging.info("%s: weights from %s", model.name, text)
        return loading.LoadReport(
            source=text,
            format="preset",
            loaded=[w.path for w in model.weights],
        )
    return loading.load_weights(
        model, source, entry=entry, skip_mismatched_head=skip_mismatched_head
    )


def clip_spec_of(source):
    """The `ClipSpec` a model source carries, without building the model.

    Args:
        source: a zoo name or alias, a training run's directory (its
            `model.json`) or a `.keras` file of a `VideoClassifier`.

    Raises:
        FileNotFoundError: a path that does not exist.
        ValueError: an unknown zoo name, or a source without a clip spec.

    Example:
        >>> clip_spec_of("I3D_NLN_8x8_R50").num_frames
        8
    """
    source = os.fspath(source)
    if presets.is_preset_dir(source):
        with open(os.path.join(source, "task.json"), encoding="utf-8") as f:
            config = json.load(f)
    elif os.path.isdir(source):
        config = loading.run_model_config(source)
    elif source.endswith(".keras"):
        config = presets.keras_file_config(source)
    else:
        found = presets.find_preset(REGISTRY, source)
        return (found[0] if found else get_entry(source)).clip_spec
    # A damaged or foreign file may hold any JSON (found by fuzzing).
    if not isinstance(config, dict):
        config = {"class_name": type(config).__name__}
    inner = config.get("config")
    spec = inner.get("clip_spec") if isinstance(inner, dict) else None
    if spec is None:
        raise NoClipSpecError(
            f"{source} holds a {config.get('class_name')}, not a nonlocal_tf "
            "VideoClassifier: it carries no clip spec (give the clip flags)"
        )
    try:
        return ClipSpec.from_dict(spec)
    except ValueError as error:
        raise presets.SourceError(
            f"{source} holds an invalid clip spec ({error})"
        ) from None
