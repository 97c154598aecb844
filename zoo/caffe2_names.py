"""The Caffe2 blob name, shape and layout of every weight of a zoo model.

The zoo's layer names are the Caffe2 blob prefixes, so the table is generic:

- Conv3D X: X_w (O, I, kT, kH, kW); Keras kernel = w.transpose(2, 3, 4, 1, 0).
- BatchNormalization X: X_s, X_b, X_rm, X_riv -> gamma, beta, moving_mean,
  moving_variance.
- Affine X (frozen BN): X_s, X_b -> scale, bias.
- NonLocalBlock X: X_{theta,phi,g,out}_w (as Conv3D) and _b;
  X_bn_{s,b,rm,riv} (as BatchNormalization) when the block has a BN.
- Dense pred: pred_w (K, C) -> kernel = w.T; pred_b.

`_riv` is the running variance (not its inverse), docs/reference.md §5.
"""

import dataclasses

import keras
import numpy as np

from nonlocal_tf.layers import Affine
from nonlocal_tf.layers import NonLocalBlock


@dataclasses.dataclass(frozen=True)
class Target:
    """One model weight and how a Caffe2 blob becomes it.

    Attributes:
        blob: Caffe2 blob name.
        variable: the Keras variable to assign.
        caffe2_shape: the blob's shape in a Caffe2 checkpoint.
        kind: "conv", "dense" or "vector".
        layer: the Keras layer name.
    """

    blob: str
    variable: object
    caffe2_shape: tuple
    kind: str
    layer: str

    def to_keras(self, blob):
        """Caffe2 layout -> the variable's layout."""
        if self.kind == "conv":
            return np.transpose(blob, (2, 3, 4, 1, 0))
        if self.kind == "dense":
            return np.transpose(blob)
        return blob


def _conv_targets(layer, prefix, owner):
    kernel = tuple(layer.kernel.shape)
    if len(kernel) != 5:
        raise ValueError(
            f"Layer '{owner}' has a {len(kernel) - 2}D conv kernel {kernel}; "
            "the Caffe2 name map covers Conv3D only"
        )
    shape = (kernel[4], kernel[3]) + kernel[:3]
    out = [Target(f"{prefix}_w", layer.kernel, shape, "conv", owner)]
    if layer.use_bias:
        out.append(
            Target(f"{prefix}_b", layer.bias, (kernel[4],), "vector", owner)
        )
    return out


def _bn_targets(layer, prefix, owner):
    pairs = [
        ("s", layer.gamma),
        ("b", layer.beta),
        ("rm", layer.moving_mean),
        ("riv", layer.moving_variance),
    ]
    return [
        Target(f"{prefix}_{suffix}", var, tuple(var.shape), "vector", owner)
        for suffix, var in pairs
        if var is not None
    ]


def _is_nonlocal(layer):
    return isinstance(layer, NonLocalBlock)


def layer_targets(layer):
    """Targets of one layer, or None when the layer has no Caffe2 mapping."""
    name = layer.name
    if isinstance(layer, keras.layers.Conv3D):
        return _conv_targets(layer, name, name)
    if isinstance(layer, keras.layers.BatchNormalization):
        return _bn_targets(layer, name, name)
    if isinstance(layer, Affine):
        return [
            Target(
                f"{name}_s",
                layer.scale,
                tuple(layer.scale.shape),
                "vector",
                name,
            ),
            Target(
                f"{name}_b", layer.bias, tuple(layer.bias.shape), "vector", name
            ),
        ]
    if isinstance(layer, keras.layers.Dense):
        kernel = tuple(layer.kernel.shape)
        out = [Target(f"{name}_w", layer.kernel, kernel[::-1], "dense", name)]
        if layer.use_bias:
            out.append(
                Target(f"{name}_b", layer.bias, (kernel[1],), "vector", name)
            )
        return out
    if _is_nonlocal(layer):
        out = []
        for part in ("theta", "phi", "g", "out"):
            sub = getattr(layer, part)
            if sub is not None:
                out += _conv_targets(sub, f"{name}_{part}", name)
        if layer.bn is not None:
            out += _bn_targets(layer.bn, f"{name}_bn", name)
        return out
    return None


def model_targets(model):
    """`{blob_name: Target}` for every mapped weight of `model`.

    Returns:
        `(targets, unmapped)`: the targets, and the paths of model weights
        that no Caffe2 blob can fill (layers outside the table above).
    """
    targets = {}
    covered = set()
    unmapped = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            inner, inner_unmapped = model_targets(layer)
            targets.update(inner)
            covered.update(id(t.variable) for t in inner.values())
            unmapped += inner_unmapped
            continue
        found = layer_targets(layer)
        if found is None:
            unmapped += [w.path for w in layer.weights]
            continue
        for target in found:
            if target.blob in targets:
                raise ValueError(
                    f"Two weights map to the Caffe2 blob {target.blob!r} "
                    f"(layers '{targets[target.blob].layer}' and "
                    f"'{target.layer}')"
                )
            targets[target.blob] = target
            covered.add(id(target.variable))
        unmapped += [w.path for w in layer.weights if id(w) not in covered]
    return targets, unmapped
