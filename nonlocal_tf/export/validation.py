"""Checks of a model and the export arguments, before anything is written.

Each raises `ValueError` naming what the export received, so a refused
export leaves nothing on disk.
"""

import keras
import numpy as np
from absl import logging

from nonlocal_tf.clip_spec import GLOBAL_AVERAGE
from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.data import label_maps

DEFAULT_WARMUP_FRAMES = 8
_PROBABILITY_TOLERANCE = 1e-2


def model_io_shapes(model):
    """(input shape, output shape) of a single-input, single-output model."""
    inputs = getattr(model, "inputs", None)
    outputs = getattr(model, "outputs", None)
    if not inputs or not outputs:
        raise ValueError(
            f"Model {model.name!r} has no defined inputs/outputs; export "
            "needs a built Functional model (or a subclassed model called "
            "once on a batch, wrapped in a Functional model)."
        )
    if len(inputs) != 1 or len(outputs) != 1:
        raise ValueError(
            f"Model {model.name!r} must take one video clip and return one "
            f"tensor of class scores. Received {len(inputs)} inputs and "
            f"{len(outputs)} outputs."
        )
    return tuple(inputs[0].shape), tuple(outputs[0].shape)


def check_video_input(input_shape, model_name):
    if len(input_shape) != 5 or input_shape[-1] != 3:
        raise ValueError(
            f"Model {model_name!r} must take RGB clips (B, T, H, W, 3), "
            f"channels last. Received input shape {input_shape}."
        )


def check_num_classes(output_shape, model_name):
    if len(output_shape) != 2 or output_shape[-1] is None:
        raise ValueError(
            f"Model {model_name!r} must return class scores (B, classes) "
            f"with a known number of classes. Received output shape "
            f"{output_shape}."
        )
    return int(output_shape[-1])


def resolve_num_frames(model_frames, num_frames, model_name):
    if num_frames is None:
        return model_frames
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1. Received: {num_frames}")
    if model_frames is not None and model_frames != num_frames:
        raise ValueError(
            f"Model {model_name!r} takes clips of {model_frames} frames. "
            f"Received num_frames={num_frames}."
        )
    return int(num_frames)


def spec_of_plain_model(height, width, num_frames):
    """A spec for a model that carries none: its static frame side, if any."""
    if height is not None and height == width:
        side = int(height)
        return ClipSpec(
            num_frames=num_frames or DEFAULT_WARMUP_FRAMES,
            crop_size=side,
            jitter_scales=(side, side),
            test_crop_size=side,
            test_head=GLOBAL_AVERAGE,
        )
    if height is not None or width is not None:
        raise ValueError(
            f"The model takes frames of {height}x{width}; the frames "
            "signature crops squares. Pass a clip_spec or crop_size."
        )
    return ClipSpec(
        num_frames=num_frames or DEFAULT_WARMUP_FRAMES,
        test_head=GLOBAL_AVERAGE,
    )


def resolve_spec(model, clip_spec, num_frames, crop_size, input_shape):
    """The spec the signatures follow: given, the model's, or derived."""
    _, model_frames, height, width, _ = input_shape
    if clip_spec is None:
        clip_spec = getattr(model, "clip_spec", None)
    if clip_spec is None:
        spec = spec_of_plain_model(height, width, num_frames or model_frames)
    else:
        spec = ClipSpec.from_dict(clip_spec)
    if crop_size is not None and (
        isinstance(crop_size, bool)
        or not isinstance(crop_size, int)
        or crop_size < 1
    ):
        raise ValueError(f"crop_size must be >= 1. Received: {crop_size}")
    spec, changes = spec.override(
        num_frames=num_frames, test_crop_size=crop_size
    )
    if changes:
        logging.info("Export clip spec overrides: %s", changes)
    static = [side for side in (height, width) if side is not None]
    if any(side != spec.test_crop_size for side in static):
        raise ValueError(
            f"Model {model.name!r} takes frames of {height}x{width}; the "
            f"frames signature makes {spec.test_crop_size}x"
            f"{spec.test_crop_size} views. Pass crop_size={height} or a "
            "model with dynamic frame sizes."
        )
    return spec


def resolve_label_names(label_names, num_classes, model_name):
    if label_names is None:
        return label_maps.default_label_names(num_classes)
    label_names = [str(name) for name in label_names]
    if len(label_names) != num_classes:
        raise ValueError(
            f"Model {model_name!r} predicts {num_classes} classes. Received "
            f"{len(label_names)} label names."
        )
    return label_names


def looks_like_probabilities(scores):
    scores = np.asarray(scores, dtype=np.float64)
    sums = scores.sum(axis=-1)
    return (
        scores.min() >= -_PROBABILITY_TOLERANCE
        and np.abs(sums - 1.0).max() <= _PROBABILITY_TOLERANCE
    )


def resolve_from_logits(model, clip, from_logits):
    """Checks (or, with "auto", decides) whether the model returns logits.

    A model exported with from_logits=False must return probabilities on a
    random clip; otherwise its logits would be served as probabilities.
    """
    if from_logits is True:
        return True
    if from_logits not in (False, "auto"):
        raise ValueError(
            "from_logits must be True, False or 'auto'. Received: "
            f"{from_logits!r}"
        )
    scores = keras.ops.convert_to_numpy(model(clip, training=False))
    if looks_like_probabilities(scores):
        return False
    if from_logits == "auto":
        return True
    raise ValueError(
        f"Model {model.name!r} does not return probabilities (on a test "
        f"clip its scores span [{scores.min():.3g}, {scores.max():.3g}] and "
        f"sum to {scores.sum(axis=-1)[0]:.4g}). If it returns logits, pass "
        "from_logits=True so the export applies a softmax."
    )


def _fits(probe, num_frames, side):
    """Whether every layer has a non-empty output for `side` x `side` frames.

    Symbolic: only shapes are computed (a real call at a size the model does
    not support can crash the process inside oneDNN). Layers that cannot
    compute at that size raise (a non-local block whose subsampling pool is
    larger than its input, a pool larger than its input...).
    """
    try:
        outputs = probe(keras.KerasTensor((1, num_frames, side, side, 3)))
    except ValueError:
        return False
    return all(
        dim is None or dim > 0
        for output in keras.tree.flatten(outputs)
        for dim in output.shape
    )


def minimum_frame_side(model, num_frames, largest):
    """The smallest square frame side (<= `largest`) the model computes on.

    Strided convolutions and pools, and the non-local blocks' subsampling,
    each need a few pixels; the layer shapes are propagated for candidate
    sizes (doubling, then bisecting), nothing is run.

    Example:
        >>> minimum_frame_side(model, 8, 256)  # doctest: +SKIP
        17
    """
    layers = [layer for layer in model.layers[1:] if layer._inbound_nodes]
    probe = keras.Model(model.inputs, [layer.output for layer in layers])
    if not _fits(probe, num_frames, largest):
        raise ValueError(
            f"Model {model.name!r} does not compute on {num_frames}-frame "
            f"clips of {largest}x{largest} (the frames signature's size)."
        )
    low, high = 0, 1
    while high < largest and not _fits(probe, num_frames, high):
        low, high = high, min(high * 2, largest)
    while high - low > 1:
        middle = (low + high) // 2
        if _fits(probe, num_frames, middle):
            high = middle
        else:
            low = middle
    return high
