"""The C2D / I3D video ResNet backbone with optional non-local blocks.

The network follows the video-nonlocal-net Caffe2 code and PySlowFast
(docs/reference.md §2): bottleneck blocks with the spatial stride in the 3x3
conv (or in the first 1x1 conv, `stride_in_1x1`, as PySlowFast's STRIDE_1X1
and keras.applications), no conv biases, BN with epsilon 1e-5 and momentum 0.9,
explicit symmetric `ZeroPadding3D` before every padded conv/pool and `valid`
convs/pools (never `same`, which pads stride-2 layers asymmetrically).

Layer names mirror the Caffe2 blob names, so a checkpoint maps onto the model
by name: `conv1`, `res_conv1_bn`, `pool1`, `res3_0_branch2a`,
`res3_0_branch2a_bn`, `res3_0_branch1`, `res3_0_relu`, `pool2`,
`nonlocal_conv3_1`, `pool5`, `pred`. Helper layers add a suffix: `_pad`
(ZeroPadding3D), `_relu`, `_sum`.
"""

import keras

from nonlocal_tf.layers import NonLocalBlock
from nonlocal_tf.layers.batch_norm import FusedBatchNormalization
from nonlocal_tf.models import architecture
from nonlocal_tf.models.affine import Affine
from nonlocal_tf.models.frame_conv import FrameConv3D

BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9

# Caffe2 MSRAFill and PySlowFast c2_msra_fill: N(0, 2 / fan_out).
_CONV_INIT = {
    "class_name": "VarianceScaling",
    "config": {
        "scale": 2.0,
        "mode": "fan_out",
        "distribution": "untruncated_normal",
    },
}

NONLOCAL_DEFAULTS = {
    "instantiation": "embedded_gaussian",
    "subsample": True,
    "subsample_position": "before",
    "use_scale": True,
}


def _conv(x, filters, kernel, strides, padding, name):
    """Symmetric zero padding + `valid` Conv3D without bias (`FrameConv3D`)."""
    if any(padding):
        x = keras.layers.ZeroPadding3D(
            padding=tuple((p, p) for p in padding), name=f"{name}_pad"
        )(x)
    return FrameConv3D(
        filters,
        kernel,
        strides=strides,
        padding="valid",
        use_bias=False,
        kernel_initializer=keras.initializers.get(dict(_CONV_INIT)),
        name=name,
    )(x)


def _norm(x, name, frozen_bn, zero_gamma=False):
    """BatchNormalization (eps 1e-5, momentum 0.9) or a frozen `Affine`."""
    if frozen_bn:
        return Affine(trainable=False, name=name)(x)
    return FusedBatchNormalization(
        axis=-1,
        epsilon=BN_EPSILON,
        momentum=BN_MOMENTUM,
        gamma_initializer="zeros" if zero_gamma else "ones",
        name=name,
    )(x)


def _bottleneck(
    x,
    prefix,
    inner,
    out,
    stride,
    temporal_kernel,
    stride_in_1x1,
    frozen_bn,
    zero_init_final_bn,
):
    """Caffe2 `_generic_residual_block_3d` with a 3D bottleneck."""
    in_channels = x.shape[-1]
    stride_a = (1, stride, stride) if stride_in_1x1 else (1, 1, 1)
    stride_b = (1, 1, 1) if stride_in_1x1 else (1, stride, stride)

    y = _conv(
        x,
        inner,
        (temporal_kernel, 1, 1),
        stride_a,
        (temporal_kernel // 2, 0, 0),
        f"{prefix}_branch2a",
    )
    y = _norm(y, f"{prefix}_branch2a_bn", frozen_bn)
    y = keras.layers.ReLU(name=f"{prefix}_branch2a_relu")(y)
    y = _conv(y, inner, (1, 3, 3), stride_b, (0, 1, 1), f"{prefix}_branch2b")
    y = _norm(y, f"{prefix}_branch2b_bn", frozen_bn)
    y = keras.layers.ReLU(name=f"{prefix}_branch2b_relu")(y)
    y = _conv(y, out, (1, 1, 1), (1, 1, 1), (0, 0, 0), f"{prefix}_branch2c")
    y = _norm(
        y, f"{prefix}_branch2c_bn", frozen_bn, zero_gamma=zero_init_final_bn
    )

    if in_channels != out or stride != 1:
        shortcut = _conv(
            x,
            out,
            (1, 1, 1),
            (1, stride, stride),
            (0, 0, 0),
            f"{prefix}_branch1",
        )
        shortcut = _norm(shortcut, f"{prefix}_branch1_bn", frozen_bn)
    else:
        shortcut = x
    y = keras.layers.Add(name=f"{prefix}_sum")([y, shortcut])
    return keras.layers.ReLU(name=f"{prefix}_relu")(y)


def _nonlocal(x, name, groups, use_bn, nonlocal_kwargs):
    kwargs = dict(NONLOCAL_DEFAULTS)
    kwargs.update(nonlocal_kwargs or {})
    kwargs.setdefault("bn_epsilon", BN_EPSILON)
    kwargs.setdefault("bn_momentum", BN_MOMENTUM)
    return NonLocalBlock(groups=groups, use_bn=use_bn, name=name, **kwargs)(x)


def build_backbone(
    inputs,
    *,
    depth=50,
    arch="c2d",
    stem="pyslowfast",
    pool2=True,
    stride_in_1x1=False,
    width_per_group=64,
    temporal_kernel_sizes=None,
    nonlocal_locations=None,
    nonlocal_groups=1,
    nonlocal_use_bn=True,
    nonlocal_kwargs=None,
    frozen_bn=False,
    zero_init_final_bn=True,
):
    """The stem and res2..res5 of a C2D / I3D ResNet on `inputs`.

    The arguments are those of `VideoClassifier` (see there).

    Returns:
        The res5 features (B, T5, H5, W5, 32 * width_per_group).

    Example:
        >>> inputs = keras.Input((8, 224, 224, 3))
        >>> build_backbone(inputs, depth=50, arch="i3d").shape
        (None, 4, 7, 7, 2048)
    """
    blocks = architecture.stage_blocks(depth)
    conv1_kt, stage_kts = _temporal_kernels(
        arch, depth, temporal_kernel_sizes, blocks
    )
    locations = architecture.normalize_locations(nonlocal_locations, depth)
    groups = architecture.normalize_groups(nonlocal_groups)
    widths = architecture.stage_widths(width_per_group)
    x = _stem(
        inputs,
        architecture.get_stem(stem),
        width_per_group,
        conv1_kt,
        frozen_bn,
    )
    block = {
        "stride_in_1x1": stride_in_1x1,
        "frozen_bn": frozen_bn,
        "zero_init_final_bn": zero_init_final_bn,
    }
    for stage, (inner, out) in enumerate(widths):
        for index in range(blocks[stage]):
            prefix = f"res{stage + 2}_{index}"
            x = _bottleneck(
                x,
                prefix,
                inner,
                out,
                2 if (index == 0 and stage > 0) else 1,
                stage_kts[stage][index],
                **block,
            )
            if index in locations[stage]:
                x = _nonlocal(
                    x,
                    f"nonlocal_conv{stage + 2}_{index}",
                    groups[stage],
                    nonlocal_use_bn,
                    nonlocal_kwargs,
                )
        if stage == 0 and pool2:
            x = keras.layers.MaxPooling3D(
                (2, 1, 1),
                (2, 1, 1),
                padding="valid",
                dtype=_pool_dtype(),
                name="pool2",
            )(x)
    return x


def _temporal_kernels(arch, depth, temporal_kernel_sizes, blocks):
    """(conv1 kernel, per-block kernels): the arch's, or the override."""
    if temporal_kernel_sizes is None:
        return architecture.temporal_kernels(arch, depth)
    conv1_kt, stage_kts = temporal_kernel_sizes
    stage_kts = tuple(tuple(k) for k in stage_kts)
    if tuple(len(k) for k in stage_kts) != blocks:
        raise ValueError(
            f"temporal_kernel_sizes has {[len(k) for k in stage_kts]} "
            f"blocks per stage; ResNet-{depth} has {list(blocks)}"
        )
    return conv1_kt, stage_kts


def _pool_dtype():
    # Max pools run in the variable dtype (float32 under mixed precision,
    # exact either way): TensorFlow has no float16 MaxPool3D kernel on CPU.
    return keras.config.dtype_policy().variable_dtype


def _stem(inputs, stem, width, conv1_kt, frozen_bn):
    """conv1, its BN and ReLU, pool1 (`stem`: padding, strides)."""
    x = _conv(
        inputs,
        width,
        (conv1_kt, 7, 7),
        (stem.conv1_temporal_stride, 2, 2),
        (conv1_kt // 2, 3, 3),
        "conv1",
    )
    x = _norm(x, "res_conv1_bn", frozen_bn)
    x = keras.layers.ReLU(name="conv1_relu")(x)
    if any(stem.pool1_padding):
        x = keras.layers.ZeroPadding3D(
            padding=tuple((p, p) for p in stem.pool1_padding), name="pool1_pad"
        )(x)
    return keras.layers.MaxPooling3D(
        stem.pool1_size,
        stem.pool1_strides,
        padding="valid",
        dtype=_pool_dtype(),
        name="pool1",
    )(x)
