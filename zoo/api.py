"""`list_models`, `get_model`, `load_model`: the zoo, keras.applications way."""

import json
import os
import zipfile

import keras
from absl import logging

from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.models import VideoClassifier

from . import entries
from . import loading
from .registry import Registry

REGISTRY = Registry()
for _entry in entries.ALL_ENTRIES:
    REGISTRY.register(_entry)

CACHE_SUBDIR = "models/nonlocal_tf"


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


def weights_path(name, weights="kinetics400"):
    """Local path of a named weight source, downloading it if needed.

    Uses `keras.utils.get_file` (cached under `~/.keras/models/nonlocal_tf`),
    so the first call needs network access to the entry's URL. A source with
    a `file_hash` is checked (sha256).

    Example:
        >>> path = weights_path("I3D_NLN_8x8_R50")  # downloads once
        >>> model = get_model("I3D_NLN_8x8_R50", weights=path)
    """
    entry = get_entry(name)
    if weights not in entry.weights:
        available = sorted(entry.weights) or "none"
        raise ValueError(
            f"Model {entry.name!r} has no weight source {weights!r} "
            f"(available: {available})"
        )
    source = entry.weights[weights]
    return keras.utils.get_file(
        fname=source.file_name,
        origin=source.url,
        file_hash=source.file_hash,
        hash_algorithm="sha256",
        cache_subdir=CACHE_SUBDIR,
    )


def get_model(
    name,
    *,
    weights=None,
    include_top=True,
    input_shape=None,
    pooling=None,
    num_classes=None,
    classifier_activation="softmax",
    width_per_group=64,
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
        width_per_group: 64 for the published models; smaller values give
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
    architecture = dict(entry.architecture)
    architecture.update(kwargs)
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
        if os.fspath(weights) in entry.weights and width_per_group != 64:
            raise ValueError(
                f"weights={weights!r} are full-width checkpoints; received "
                f"width_per_group={width_per_group}"
            )
        loading.load_weights(
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
    **kwargs,
):
    """A model from a zoo name, a training run's directory or a `.keras` file.

    Args:
        source: a zoo name or alias (see `get_model`), a directory written by
            `nonlocal_tf.training.train` (its `model.json`), or a `.keras`
            file.
        weights: what `load_weights` takes; default: none for a zoo name
            (random initialisation), the run's own for a run directory, the
            file's own for a `.keras` file.
        clip_spec: a `ClipSpec` replacing the model's (the model is rebuilt
            around it, weights kept: the fully convolutional window follows
            the new training crop and clip length).
        input_shape: `(T, H, W, 3)` of the rebuilt model.
        **kwargs: for a zoo name, the other `get_model` arguments.

    Returns:
        A `nonlocal_tf.models.VideoClassifier`.

    Raises:
        ValueError: `source` is none of these, or its weights do not fit.

    Example:
        >>> model = load_model("runs/c2d_nl")        # the trained model
        >>> model.clip_spec.describe()
    """
    source = os.fspath(source)
    if os.path.isdir(source):
        model = loading.model_from_run(source)
        weights = source if weights is None else weights
    elif source.endswith(".keras"):
        if not os.path.exists(source):
            raise FileNotFoundError(f"No such .keras file: {source}")
        model = keras.saving.load_model(source, compile=False)
        if not isinstance(model, VideoClassifier):
            raise ValueError(
                f"{source} holds a {type(model).__name__}, not a "
                "nonlocal_tf VideoClassifier: it carries no clip spec"
            )
    else:
        if not is_registered(source) and os.path.sep in source:
            raise FileNotFoundError(
                f"--model {source!r}: no such run directory or .keras file, "
                "and not a zoo name"
            )
        return get_model(
            source,
            weights=weights,
            clip_spec=clip_spec,
            input_shape=input_shape,
            **kwargs,
        )
    if kwargs:
        raise ValueError(
            f"{sorted(kwargs)} apply to zoo names only; {source} has its "
            "own architecture"
        )
    if clip_spec is not None or input_shape is not None:
        model = rebuild(model, clip_spec=clip_spec, input_shape=input_shape)
    if weights is not None:
        loading.load_weights(model, weights)
    return model


def rebuild(model, *, clip_spec=None, input_shape=None):
    """The same architecture and weights around another spec or input shape.

    Example:
        >>> longer = rebuild(model, clip_spec=spec16)  # 16-frame clips
    """
    config = model.get_config()
    if clip_spec is not None:
        config["clip_spec"] = ClipSpec.from_dict(clip_spec).to_dict()
    if input_shape is not None:
        config["input_shape"] = list(input_shape)
    elif clip_spec is not None:
        config["input_shape"] = [
            config["clip_spec"]["num_frames"],
            None,
            None,
            3,
        ]
    new = VideoClassifier.from_config(config)
    new.set_weights(model.get_weights())
    logging.info("Rebuilt %s for %s", model.name, new.clip_spec.describe())
    return new


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
    if os.path.isdir(source):
        config = loading.run_model_config(source)
    elif source.endswith(".keras"):
        if not os.path.isfile(source):
            raise FileNotFoundError(f"No such .keras file: {source}")
        with zipfile.ZipFile(source) as archive:
            config = json.loads(archive.read("config.json"))
    else:
        return get_entry(source).clip_spec
    spec = config.get("config", {}).get("clip_spec")
    if spec is None:
        raise NoClipSpecError(
            f"{source} holds a {config.get('class_name')}, not a nonlocal_tf "
            "VideoClassifier: it carries no clip spec (give the clip flags)"
        )
    return ClipSpec.from_dict(spec)
