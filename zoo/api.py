"""`list_models` / `get_model`: the zoo in the style of keras.applications."""

import os

import keras
from absl import logging

from nonlocal_tf.models import VideoResNet

from . import entries
from . import loading
from .registry import Registry

REGISTRY = Registry()
for _entry in entries.ALL_ENTRIES:
    REGISTRY.register(_entry)

CACHE_SUBDIR = "models/nonlocal_tf"


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


def register(entry):
    """Adds a user `ModelEntry` (names and aliases must be new).

    Example:
        >>> base = get_entry("i3d_nl5_r50_8x8")
        >>> register(dataclasses.replace(base, name="my_i3d_16x4", frames=16,
        ...                              sampling_rate=4, aliases=(),
        ...                              weights={}))
        >>> model = get_model("my_i3d_16x4")
    """
    return REGISTRY.register(entry)


def weights_path(name, weights="kinetics400"):
    """Local path of a named weight source, downloading it if needed.

    Uses `keras.utils.get_file` (cached under `~/.keras/models/nonlocal_tf`),
    so the first call needs network access to the entry's URL.

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
        cache_subdir=CACHE_SUBDIR,
    )


def _resolve_weights(entry, weights, width_per_group):
    if weights is None:
        return None
    weights = os.fspath(weights)
    if weights in entry.weights:
        if width_per_group != 64:
            raise ValueError(
                f"weights={weights!r} are full-width checkpoints; received "
                f"width_per_group={width_per_group}"
            )
        return weights_path(entry.name, weights)
    if os.path.exists(weights):
        return weights
    available = ", ".join(repr(k) for k in sorted(entry.weights))
    named = (
        f"one of {available}"
        if available
        else f"(model {entry.name!r} has no published weights)"
    )
    raise ValueError(
        f"weights must be None, {named}, or the path of an existing "
        f"checkpoint file; received {weights!r} (no such file)"
    )


def get_model(
    name,
    *,
    weights=None,
    include_top=True,
    input_shape=None,
    pooling=None,
    classes=None,
    classifier_activation="softmax",
    width_per_group=64,
    dropout_rate=0.5,
    **kwargs,
):
    """Builds a zoo model by name, optionally with weights.

    Args:
        name: a name from `list_models()` or an alias (video-nonlocal-net
            file name such as `i3d_nonlocal_8x8_IN_pretrain_400k`, PySlowFast
            config name such as `I3D_NLN_8x8_R50`); case-insensitive.
        weights: None (random initialisation), a weight source tag of the
            entry (e.g. "kinetics400", downloaded with
            `keras.utils.get_file`, needs network), or a local checkpoint
            path: Keras `.weights.h5`, Caffe2 `.pkl`, PySlowFast `.pkl` /
            `.pyth` (format detected from the content). Loading is strict:
            any missing, unexpected or shape-mismatched tensor raises.
        include_top: include the classifier (`pool5`, `dropout`, `pred`).
        input_shape: `(T, H, W, 3)`, entries may be None; defaults to the
            entry's clip, e.g. `(8, 224, 224, 3)`.
        pooling: without the top: None, "avg" or "max".
        classes: classes of the head; default the entry's (400). When it
            differs from the checkpoint's, the checkpoint's head is skipped
            (and the log says so).
        classifier_activation: activation of the head, None for logits.
        width_per_group: 64 for the published models; smaller values give
            narrow copies with the same topology and weight names.
        dropout_rate: dropout before `pred`.
        **kwargs: further `nonlocal_tf.models.VideoResNet` arguments
            (e.g. `nonlocal_kwargs`, `zero_init_final_bn`, `name`).

    Returns:
        A `keras.Model`.

    Example:
        >>> model = get_model("I3D_NLN_8x8_R50", weights="I3D_NLN_8x8_R50.pkl")
        >>> probabilities = model(clips)  # (B, 8, 224, 224, 3), normalised
    """
    entry = get_entry(name)
    path = _resolve_weights(entry, weights, width_per_group)
    architecture = dict(entry.architecture)
    architecture.update(kwargs)
    architecture.setdefault("name", entry.name)
    model = VideoResNet(
        width_per_group=width_per_group,
        include_top=include_top,
        input_shape=entry.input_shape if input_shape is None else input_shape,
        pooling=pooling,
        classes=entry.classes if classes is None else classes,
        classifier_activation=classifier_activation,
        dropout_rate=dropout_rate,
        **architecture,
    )
    if path is not None:
        report = loading.load_weights(
            model, path, skip_mismatched_head=classes is not None
        )
        for tensor, reason in report.skipped:
            logging.warning("%s: skipped %s: %s", entry.name, tensor, reason)
        logging.info("%s: %s", entry.name, report.summary())
    return model
