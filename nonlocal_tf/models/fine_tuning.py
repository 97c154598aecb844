"""Fine-tuning settings of a `VideoClassifier`: what to freeze, the head.

`freeze(model, mode)` sets `trainable = False` on a part of the network, by
the Caffe2 layer names: Keras then neither updates those variables nor (for
batch norm) uses batch statistics or updates the moving averages, so a
frozen part is exactly unchanged by training.

Modes:
- `"backbone"`: everything but the classifier (`pred`).
- `"stages:res2,res3"`: the listed parts, from `stem` (conv1 and its BN),
  `res2`, `res3`, `res4`, `res5` (each with its non-local blocks).
- `"bn"`: every batch norm (statistics and affine), the usual choice for
  the small batches of fine-tuning.
"""

import keras

from nonlocal_tf.models.architecture import STAGES

FREEZE_MODES = ("backbone", "stages:<part>[,<part>...]", "bn")
STEM = "stem"
STEM_LAYERS = ("conv1", "conv1_pad", "res_conv1_bn", "conv1_relu", "pool1")
HEAD_LAYERS = ("pred",)


def parse_freeze(mode):
    """Checks a freeze mode; returns `(kind, parts)`.

    Args:
        mode: "" (nothing), "backbone", "bn" or "stages:res2,res3".

    Raises:
        ValueError: an unknown mode or part, naming it and the choices.

    Example:
        >>> parse_freeze("stages:stem,res2")
        ('stages', ('stem', 'res2'))
    """
    mode = (mode or "").strip()
    if mode in ("", "backbone", "bn"):
        return mode, ()
    if mode.startswith("stages:"):
        parts = tuple(p.strip() for p in mode[len("stages:") :].split(","))
        known = (STEM,) + STAGES
        unknown = [p for p in parts if p not in known]
        if unknown or not parts:
            raise ValueError(
                f"freeze={mode!r}: unknown part(s) {unknown or ['']}; "
                f"choose from {', '.join(known)}"
            )
        return "stages", parts
    raise ValueError(
        f"freeze={mode!r}: expected one of {', '.join(FREEZE_MODES)}"
    )


def _part_of(layer_name):
    """`stem`, `res2`..`res5`, or None (the head, the input)."""
    if layer_name in STEM_LAYERS:
        return STEM
    for stage in STAGES:
        index = stage[-1]
        if layer_name.startswith(f"{stage}_") or layer_name.startswith(
            f"nonlocal_conv{index}_"
        ):
            return stage
    if layer_name == "pool2":
        return "res2"
    return None


def freeze(model, mode):
    """Freezes a part of `model` in place; returns the frozen layers' names.

    Args:
        model: a `VideoClassifier` (or any model with its layer names).
        mode: see the module docstring; "" freezes nothing.

    Example:
        >>> frozen = freeze(model, "stages:stem,res2")
        >>> "res2_0_branch2a" in frozen
        True
    """
    kind, parts = parse_freeze(mode)
    frozen = []
    for layer in model.layers:
        if isinstance(layer, keras.Model) or not layer.weights:
            continue
        if kind == "backbone":
            hit = layer.name not in HEAD_LAYERS
        elif kind == "stages":
            hit = _part_of(layer.name) in parts
        elif kind == "bn":
            hit = False
            for sub in layer._flatten_layers():
                if isinstance(sub, keras.layers.BatchNormalization):
                    sub.trainable = False
                    name = layer.name
                    frozen.append(
                        name if sub is layer else f"{name}/{sub.name}"
                    )
        else:
            hit = False
        if hit:
            layer.trainable = False
            frozen.append(layer.name)
    return frozen


def head_variables(model):
    """The classifier's variables (`pred`): the head of fine-tuning.

    Example:
        >>> [v.path for v in head_variables(model)]
        ['pred/kernel', 'pred/bias']
    """
    return [
        v
        for layer in model.layers
        if layer.name in HEAD_LAYERS
        for v in layer.trainable_variables
    ]
