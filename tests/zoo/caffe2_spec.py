"""Official Caffe2 blob names and shapes, restated from docs/reference.md §5.

Independent of the library: a checkpoint built from this table is what the
video-nonlocal-net / PySlowFast `.pkl` files contain (plus momenta, `lr` and
`model_iter`), at any width.
"""

import collections
import pickle

import numpy as np

BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}


def _use_temp_conv(arch, depth):
    """video-nonlocal-net `obtain_arc` use_temp_convs_{1..5}."""
    n = BLOCKS[depth]
    if arch == "c2d":
        return [0], [[0] * k for k in n]
    res4 = [1 if i % 2 == 0 else 0 for i in range(n[2])]
    return [2], [[1, 1, 1], [1, 0, 1, 0], res4, [0, 1, 0]]


def blob_shapes(
    depth,
    arch,
    nonlocal_locations=((), (), (), ()),
    *,
    frozen_bn=False,
    nonlocal_bn=True,
    width=64,
    classes=400,
):
    """Ordered `{blob: shape}` of a C2D/I3D checkpoint (no momenta)."""
    stem_temp, temp = _use_temp_conv(arch, depth)
    shapes = collections.OrderedDict()

    def bn(prefix, channels, frozen):
        suffixes = ("s", "b") if frozen else ("s", "b", "rm", "riv")
        for suffix in suffixes:
            shapes[f"{prefix}_{suffix}"] = (channels,)

    shapes["conv1_w"] = (width, 3, 1 + 2 * stem_temp[0], 7, 7)
    bn("res_conv1_bn", width, frozen_bn)
    dim_in = width
    for stage, count in enumerate(BLOCKS[depth]):
        inner = width * 2**stage
        out = inner * 4
        for i in range(count):
            p = f"res{stage + 2}_{i}"
            kt = 1 + 2 * temp[stage][i]
            shapes[f"{p}_branch2a_w"] = (inner, dim_in, kt, 1, 1)
            bn(f"{p}_branch2a_bn", inner, frozen_bn)
            shapes[f"{p}_branch2b_w"] = (inner, inner, 1, 3, 3)
            bn(f"{p}_branch2b_bn", inner, frozen_bn)
            shapes[f"{p}_branch2c_w"] = (out, inner, 1, 1, 1)
            bn(f"{p}_branch2c_bn", out, frozen_bn)
            if i == 0:
                shapes[f"{p}_branch1_w"] = (out, dim_in, 1, 1, 1)
                bn(f"{p}_branch1_bn", out, frozen_bn)
            dim_in = out
            if i in nonlocal_locations[stage]:
                q = f"nonlocal_conv{stage + 2}_{i}"
                for part in ("theta", "phi", "g"):
                    shapes[f"{q}_{part}_w"] = (out // 2, out, 1, 1, 1)
                    shapes[f"{q}_{part}_b"] = (out // 2,)
                shapes[f"{q}_out_w"] = (out, out // 2, 1, 1, 1)
                shapes[f"{q}_out_b"] = (out,)
                if nonlocal_bn:
                    bn(f"{q}_bn", out, False)
    shapes["pred_w"] = (classes, dim_in)
    shapes["pred_b"] = (classes,)
    return shapes


def random_blobs(shapes, seed=0):
    """Random float32 blobs; BN variances positive, like a real checkpoint."""
    rng = np.random.default_rng(seed)
    blobs = collections.OrderedDict()
    for name, shape in shapes.items():
        if name.endswith("_riv"):
            value = rng.uniform(0.5, 1.5, shape)
        elif name.endswith("_s"):
            value = rng.uniform(0.5, 1.5, shape)
        elif name.endswith("_w") and len(shape) == 5:
            value = rng.normal(0, 1 / np.sqrt(np.prod(shape[1:])), shape)
        else:
            value = rng.normal(0, 0.1, shape)
        blobs[name] = value.astype(np.float32)
    return blobs


def write_caffe2_pickle(path, blobs, *, flat=False, with_momenta=True):
    """Pickles blobs like video-nonlocal-net's `save_model_to_weights_file`.

    Adds `<param>_momentum` for every trainable blob (not `_rm`/`_riv`),
    `lr` and `model_iter`, protocol 2.
    """
    out = collections.OrderedDict(blobs)
    if with_momenta:
        for name, value in blobs.items():
            if not name.endswith(("_rm", "_riv")):
                out[f"{name}_momentum"] = np.zeros_like(value)
        out["lr"] = np.array(0.0001, dtype=np.float32)
        out["model_iter"] = 400001
    payload = out if flat else {"blobs": out}
    with open(path, "wb") as f:
        pickle.dump(payload, f, protocol=2)
    return path
