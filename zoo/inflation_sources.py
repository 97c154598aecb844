"""The 2D ImageNet ResNet that inflation starts from, as Caffe2-named tensors.

`inflate_2d_weights` (`nonlocal_tf.zoo.inflation`) takes a Caffe2 ImageNet
`.pkl`, a `keras.applications` ResNet50/101 or a weights file saved from
one; each is read here into the Caffe2 namespace of docs/reference.md §5
(conv kernels (O, I, kH, kW), BN vectors `<name>_{s,b,rm,riv}`, the head
`pred_w`/`pred_b`), with what the reading changed (folded conv biases, the
source's BN epsilon, where its stride is).
"""

import dataclasses
import os
import re

import h5py
import keras
import numpy as np

from . import checkpoints

_KERAS_BRANCHES = {
    "0": "branch1",
    "1": "branch2a",
    "2": "branch2b",
    "3": "branch2c",
}
_KERAS_NAME = re.compile(r"^conv(\d)_block(\d+)_([0-3])_(conv|bn)$")


@dataclasses.dataclass
class Source:
    """2D weights in the Caffe2 namespace (conv kernels (O, I, kH, kW))."""

    label: str
    tensors: dict
    bn_epsilon: float
    stride_in_1x1: bool | None
    notes: list


def from_caffe2(path):
    """A Caffe2 ImageNet `.pkl`, whose blobs already have Caffe2 names.

    Args:
        path: the pickle (`checkpoints.read_checkpoint` reads it).

    Returns:
        A `Source` (BN epsilon 1e-5, stride position unknown).
    """
    ckpt = checkpoints.read_checkpoint(path)
    return Source(
        label=str(path),
        tensors=dict(ckpt.tensors),
        bn_epsilon=1e-5,
        stride_in_1x1=None,
        notes=[],
    )


def from_keras(model):
    """keras.applications ResNet50/101 weights under Caffe2 names.

    Conv kernels are transposed to (O, I, kH, kW), conv biases folded into
    the following BN's moving mean, the classifier kept as `pred_w`/`pred_b`.

    Args:
        model: a `keras.applications.ResNet50` or `ResNet101`.

    Returns:
        A `Source` with the model's BN epsilon and its stride in the first
        1x1 conv.

    Raises:
        ValueError: a weighted layer that is not part of such a ResNet.
    """
    tensors = {}
    biases = {}
    epsilon = None
    for layer in model.layers:
        name = layer.name
        if name in ("conv1_conv", "conv1_bn"):
            stem = "conv1" if name == "conv1_conv" else "res_conv1_bn"
            kind = "conv" if name == "conv1_conv" else "bn"
        elif name == "predictions":
            kernel, bias = (np.asarray(w) for w in layer.get_weights())
            tensors["pred_w"] = kernel.T
            tensors["pred_b"] = bias
            continue
        else:
            match = _KERAS_NAME.match(name)
            if not match:
                if layer.weights:
                    raise ValueError(
                        f"inflate_2d_weights: keras model '{model.name}' has "
                        f"a weighted layer '{name}' that is not part of a "
                        "keras.applications ResNet"
                    )
                continue
            stage, block, branch, kind = match.groups()
            prefix = f"res{stage}_{int(block) - 1}_{_KERAS_BRANCHES[branch]}"
            stem = prefix if kind == "conv" else f"{prefix}_bn"
        if kind == "conv":
            weights = layer.get_weights()
            tensors[f"{stem}_w"] = np.transpose(weights[0], (3, 2, 0, 1))
            if len(weights) > 1:
                bn = "res_conv1_bn" if stem == "conv1" else f"{stem}_bn"
                biases[bn] = np.asarray(weights[1])
        else:
            gamma, beta, mean, var = (
                np.asarray(w) for w in layer.get_weights()
            )
            tensors[f"{stem}_s"] = gamma
            tensors[f"{stem}_b"] = beta
            tensors[f"{stem}_rm"] = mean
            tensors[f"{stem}_riv"] = var
            epsilon = layer.epsilon
    for bn, bias in biases.items():
        # BN(conv(x) + c) with mean m == BN(conv(x)) with mean m - c.
        tensors[f"{bn}_rm"] = tensors[f"{bn}_rm"] - bias
    notes = []
    if biases:
        notes.append(
            f"{len(biases)} conv biases folded into the following BN's "
            "moving mean"
        )
    return Source(
        label=f"keras model '{model.name}'",
        tensors=tensors,
        bn_epsilon=epsilon if epsilon is not None else 1e-5,
        stride_in_1x1=True,
        notes=notes,
    )


def keras_resnet_from_file(path):
    """Rebuilds the keras.applications ResNet a weights file was saved from.

    Args:
        path: a Keras 3 `.weights.h5` or a legacy `.h5` weights file.

    Returns:
        The ResNet50/101 (told apart by their conv count) with the file's
        weights loaded, with its head when the file has one.
    """
    with h5py.File(path, "r") as f:
        if "layers" in f and "vars" in f:
            groups = list(f["layers"])
            convs = sum(1 for g in groups if g.startswith("conv2d"))
            dense = [g for g in groups if g.startswith("dense")]
            classes = (
                f["layers"][dense[0]]["vars"]["0"].shape[1] if dense else None
            )
        else:
            groups = [str(n) for n in f.attrs.get("layer_names", list(f))]
            groups = [g.decode() if isinstance(g, bytes) else g for g in groups]
            convs = sum(1 for g in groups if g.endswith("_conv"))
            classes = None
            if "predictions" in f:
                kernels = []
                f["predictions"].visititems(
                    lambda n, o: (
                        kernels.append(o.shape)
                        if hasattr(o, "shape") and len(o.shape) == 2
                        else None
                    )
                )
                classes = kernels[0][1] if kernels else None
    builders = {
        53: keras.applications.ResNet50,
        104: keras.applications.ResNet101,
    }
    if convs not in builders:
        raise ValueError(
            f"{path}: found {convs} conv layers; expected the 53 of a "
            "keras.applications ResNet50 or the 104 of a ResNet101"
        )
    model = builders[convs](
        weights=None,
        include_top=classes is not None,
        classes=classes or 1000,
        input_shape=(None, None, 3) if classes is None else None,
    )
    model.load_weights(path)
    return model


def load_source(source):
    """The 2D source of `inflate_2d_weights`, whatever form it comes in.

    Args:
        source: a `keras.Model`, or the path of a Caffe2 `.pkl` or of a
            keras.applications ResNet weights file.

    Returns:
        A `Source`, labelled with the path or the model's name.
    """
    if isinstance(source, keras.Model):
        return from_keras(source)
    path = os.fspath(source)
    fmt = checkpoints.detect_format(path)
    if fmt == "keras_h5":
        src = from_keras(keras_resnet_from_file(path))
        src.label = path
        return src
    if fmt == "pickle":
        return from_caffe2(path)
    raise ValueError(
        f"{path}: expected a Caffe2 ImageNet .pkl or a keras.applications "
        f"ResNet weights file, found format {fmt!r}"
    )
