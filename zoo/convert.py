"""Checkpoint -> Keras `.weights.h5` conversion, written atomically."""

import os

from nonlocal_tf import fileio

from . import api
from . import checkpoints
from . import loading
from . import presets


def save_weights_atomic(model, output):
    """`model.save_weights(output)` through a temp file and a rename.

    A crash never leaves a half-written `output` (`nonlocal_tf.fileio`).
    """
    output = os.fspath(output)
    if not output.endswith(".weights.h5"):
        raise ValueError(
            f"output must end with '.weights.h5' (Keras 3); received {output!r}"
        )
    return fileio.atomic_save_weights(model, output)


def convert_checkpoint(
    name,
    checkpoint,
    output=None,
    *,
    to_preset=None,
    width_per_group=64,
    num_classes=None,
):
    """Loads a Caffe2/PySlowFast checkpoint into a zoo model and saves it.

    Args:
        name: zoo model name or alias (the checkpoint's architecture).
        checkpoint: Caffe2 `.pkl`, PySlowFast `.pkl`/`.pyth`, or `.npz`.
        output: destination `.weights.h5`; written atomically.
        to_preset: instead, a new preset directory (KerasHub layout, model
            card naming the checkpoint), written whole or not at all.
        width_per_group: width of the checkpoint's network (64 for the
            published ones).
        num_classes: class count of the checkpoint's head; default: read from
            the checkpoint's `pred_w`, else the entry's.

    Returns:
        The `LoadReport` (strict: a mismatch raises before anything is
        written).

    Example:
        >>> report = convert_checkpoint(
        ...     "i3d_nl5_r50_8x8", "i3d_nonlocal_8x8_IN_pretrain_400k.pkl",
        ...     "i3d_nl5_r50_8x8.weights.h5")
    """
    if (output is None) == (to_preset is None):
        raise ValueError("give output (a .weights.h5) or to_preset, not both")
    ckpt = checkpoints.read_checkpoint(checkpoint)
    if num_classes is None and "pred_w" in ckpt.tensors:
        num_classes = int(ckpt.tensors["pred_w"].shape[0])
    model = api.get_model(
        name,
        weights=None,
        input_shape=(None, None, None, 3),
        num_classes=num_classes,
        width_per_group=width_per_group,
    )
    report = loading.load_checkpoint(model, ckpt)
    if to_preset is not None:
        entry = api.get_entry(name)
        presets.write_preset(
            model,
            to_preset,
            model_card={
                "source": f"{os.path.abspath(checkpoint)} ({ckpt.format})",
                "reported": entry.reported if width_per_group == 64 else None,
                "description": entry.description,
            },
        )
    else:
        save_weights_atomic(model, output)
    return report
