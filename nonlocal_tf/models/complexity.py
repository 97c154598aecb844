"""Parameter and multiply-add counts over a built Keras model's layers.

No forward pass: the counts come from each layer's configuration and the
static shapes of its input/output in the functional graph, so the model must
be built with a fully known input shape (e.g. `(8, 224, 224, 3)`).
"""

import dataclasses
import math
import types

import keras

from nonlocal_tf.layers import NonLocalBlock

_BN_STATISTICS = ("moving_mean", "moving_variance")


def count_params(model):
    """Learnable parameters: every weight except BN moving statistics.

    Frozen weights (the `Affine` layers of frozen-BN models) are counted; for
    other models this equals the trainable parameter count.

    Example:
        >>> count_params(keras.applications.ResNet50(weights=None))
        25583592
    """
    total = 0
    for weight in model.weights:
        if weight.path.rsplit("/", 1)[-1] in _BN_STATISTICS:
            continue
        total += math.prod(weight.shape)
    return total


def _known(shape, layer):
    dims = tuple(shape[1:])
    if any(d is None for d in dims):
        raise ValueError(
            f"count_macs needs static shapes, but layer '{layer.name}' sees "
            f"{tuple(shape)}; build the model with a fully known input_shape"
        )
    return dims


def _conv_macs(layer):
    out = _known(layer.output.shape, layer)
    channels_in = _known(layer.input.shape, layer)[-1]
    groups = getattr(layer, "groups", 1)
    per_output = math.prod(layer.kernel_size) * channels_in // groups
    return math.prod(out) * per_output


def _dense_macs(layer):
    shape = _known(layer.input.shape, layer)
    return math.prod(shape) * layer.units


def _nonlocal_macs(layer):
    """Convs and the two affinity matmuls of a `NonLocalBlock`."""
    shape = _known(layer.input.shape, layer)
    channels = shape[-1]
    spatial = shape[:-1]
    inner = layer.inner_dim or channels // 2
    groups = layer.groups or 1
    pool = layer.pool_size or (1,) * len(spatial)
    positions = math.prod(spatial)
    keys = math.prod(d // p for d, p in zip(spatial, pool, strict=True))
    instantiation = layer.instantiation
    after = layer.subsample_position == "after"

    macs = 0
    key_inputs = positions if after else keys
    embed = instantiation != "gaussian"
    if embed:
        macs += positions * channels * inner  # theta
        macs += key_inputs * channels * inner  # phi
    macs += key_inputs * channels * inner  # g
    pair_dim = inner if embed else channels
    if instantiation == "concatenation":
        # w_f^T [theta_i, phi_j] splits into one projection per side.
        macs += (positions + keys) * pair_dim
    else:
        macs += positions * keys * pair_dim // groups  # theta . phi
    macs += positions * keys * inner // groups  # attention . g
    macs += positions * inner * channels  # out
    return macs


def count_macs(model, by_layer=False):
    """Multiply-adds of conv, dense and non-local matmul layers.

    BN, activations, pooling, additions and softmax are not counted (the
    convention of docs/reference.md §7, fvcore and the paper's FLOPs).

    Args:
        model: a functional model built with a fully known input shape.
        by_layer: also return a `{layer_name: macs}` dict.

    Returns:
        Total multiply-adds (int), or `(total, per_layer)` with `by_layer`.

    Example:
        >>> model = VideoClassifier(
        ...     depth=50, arch="c2d", input_shape=(8, 224, 224, 3))
        >>> round(count_macs(model) / 1e9, 2)
        19.49
    """
    per_layer = {}
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            _, inner = count_macs(layer, by_layer=True)
            per_layer.update({f"{layer.name}/{k}": v for k, v in inner.items()})
        elif isinstance(layer, keras.layers.Dense):
            per_layer[layer.name] = _dense_macs(layer)
        elif hasattr(layer, "kernel_size") and hasattr(layer, "filters"):
            per_layer[layer.name] = _conv_macs(layer)
        elif isinstance(layer, NonLocalBlock):
            per_layer[layer.name] = _nonlocal_macs(layer)
    total = sum(per_layer.values())
    return (total, per_layer) if by_layer else total


@dataclasses.dataclass(frozen=True)
class Complexity:
    """Size and cost of one model at one input shape.

    Attributes:
        params: `count_params` (learnable, frozen included).
        trainable_params: size of `model.trainable_weights`.
        macs: `count_macs` total.
        macs_by_layer: `{layer_name: macs}`.
    """

    params: int
    trainable_params: int
    macs: int
    macs_by_layer: types.MappingProxyType


def model_complexity(model):
    """`Complexity` of a model built with a fully known input shape.

    Only shapes are read, so the model may be built inside a
    `keras.StatelessScope()`, which skips initialising the weights.

    Example:
        >>> with keras.StatelessScope():
        ...     model = VideoClassifier(
        ...         depth=50, arch="i3d", input_shape=(8, 224, 224, 3))
        >>> model_complexity(model).trainable_params
        28043472
    """
    macs, by_layer = count_macs(model, by_layer=True)
    return Complexity(
        params=count_params(model),
        trainable_params=sum(
            math.prod(w.shape) for w in model.trainable_weights
        ),
        macs=macs,
        macs_by_layer=types.MappingProxyType(by_layer),
    )
