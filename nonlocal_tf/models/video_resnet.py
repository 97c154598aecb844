"""`VideoResNetBackbone`: the C2D / I3D video ResNet with non-local blocks.

The network follows the video-nonlocal-net Caffe2 code and PySlowFast
(docs/reference.md §2): bottleneck blocks with the spatial stride in the 3x3
conv (or in the first 1x1 conv, `stride_in_1x1`, as PySlowFast's STRIDE_1X1
and keras.applications), no conv biases, BN with epsilon 1e-5 and momentum 0.9,
explicit symmetric `ZeroPadding3D` before every padded conv/pool and `valid`
convs/pools (never `same`, which pads stride-2 layers asymmetrically).
Convolutions are `FrameConv3D` and max pools `FrameMaxPooling3D`: `Conv3D`
and `MaxPooling3D` computed with 2D ops where exact (no 3D pooling in
LiteRT's builtin ops).

Layer names mirror the Caffe2 blob names, so a checkpoint maps onto the model
by name: `conv1`, `res_conv1_bn`, `pool1`, `res3_0_branch2a`,
`res3_0_branch2a_bn`, `res3_0_branch1`, `res3_0_relu`, `pool2`,
`nonlocal_conv3_1`, `pool5`, `pred`. Helper layers add a suffix: `_pad`
(ZeroPadding3D), `_relu`, `_sum`.
"""

import keras
import keras_hub

from nonlocal_tf.layers import Affine
from nonlocal_tf.layers import FrameConv3D
from nonlocal_tf.layers import FrameMaxPooling3D
from nonlocal_tf.layers import NonLocalBlock
from nonlocal_tf.layers.batch_norm import FusedBatchNormalization
from nonlocal_tf.models import architecture

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
            x = FrameMaxPooling3D(
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
    # (FrameMaxPooling3D's 2D pools have one; the policy is kept so the
    # layers' configs and output dtypes stay as they were.)
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
    return FrameMaxPooling3D(
        stem.pool1_size,
        stem.pool1_strides,
        padding="valid",
        dtype=_pool_dtype(),
        name="pool1",
    )(x)


def _stem_config(stem):
    if isinstance(stem, architecture.Stem):
        return {
            "conv1_temporal_stride": stem.conv1_temporal_stride,
            "pool1_size": list(stem.pool1_size),
            "pool1_strides": list(stem.pool1_strides),
            "pool1_padding": list(stem.pool1_padding),
        }
    return stem


def _stem_from_config(stem):
    if isinstance(stem, dict):
        return architecture.Stem(
            conv1_temporal_stride=stem["conv1_temporal_stride"],
            pool1_size=tuple(stem["pool1_size"]),
            pool1_strides=tuple(stem["pool1_strides"]),
            pool1_padding=tuple(stem["pool1_padding"]),
        )
    return stem


def _as_lists(value):
    """Tuples (nested) as lists, so the config is what JSON gives back."""
    if isinstance(value, (list, tuple)):
        return [_as_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_lists(v) for k, v in value.items()}
    return value


# The zoo's resolver of model sources (`nonlocal_tf.zoo.presets.resolve`:
# preset names, run directories, `.keras` files), registered by the zoo
# (models never import the zoo): `fn(source, *, num_classes, load_weights)`
# -> `VideoClassifier`. Without it, `from_preset` is KerasHub's alone.
SOURCE_RESOLVERS = []


def register_source_resolver(resolver):
    """Makes `resolver` answer `from_preset` for sources KerasHub lacks."""
    SOURCE_RESOLVERS[:] = [resolver]


# The architecture arguments, in `get_config` order: the one place they are
# written (`VideoClassifier` forwards them here).
ARCHITECTURE_KEYS = (
    "depth",
    "arch",
    "stem",
    "pool2",
    "stride_in_1x1",
    "width_per_group",
    "temporal_kernel_sizes",
    "nonlocal_locations",
    "nonlocal_groups",
    "nonlocal_use_bn",
    "nonlocal_kwargs",
    "frozen_bn",
    "zero_init_final_bn",
)


@keras.saving.register_keras_serializable(package="nonlocal_tf")
class VideoResNetBackbone(keras_hub.models.Backbone):
    """C2D or I3D ResNet-50/101 with non-local blocks: clips to res5 features.

    A KerasHub `Backbone` (`from_preset`, `save_to_preset`): its config is
    the architecture, its output the res5 map (B, T5, H5, W5, C5). The
    network follows video-nonlocal-net and PySlowFast (docs/reference.md):
    bottleneck blocks with the spatial stride in the 3x3 conv (or in the
    first 1x1 conv, `stride_in_1x1`), no conv biases, BN with epsilon 1e-5,
    explicit symmetric zero padding and `valid` convs/pools. Layer names
    mirror the Caffe2 blob names (`conv1`, `res3_0_branch2a`,
    `nonlocal_conv3_1`, ...), so checkpoints map onto the model by name;
    `nonlocal_tf.models.stage_endpoints` names the stage outputs s1..s5.

    Args:
        depth: 50 or 101 (blocks (3, 4, 6, 3) or (3, 4, 23, 3)).
        arch: "c2d" (all temporal kernels 1) or "i3d" (conv1 5x7x7 and the
            3x1x1 inflation of every other block).
        stem: "caffe2_org" (32x2/128x1 models: conv1 temporal stride 2, pool1
            (2,3,3)/(2,2,2) without padding), "caffe2" (8x8/32x4 models:
            pool1 (1,3,3)/(1,2,2) without padding, res2 55x55 at 224),
            "pyslowfast" (pool1 padded (0,1,1), res2 56x56) or a `Stem`.
        pool2: max-pool (2,1,1)/(2,1,1) after res2 (False for PySlowFast's
            `c2d_nopool`).
        stride_in_1x1: the spatial stride of res3/res4/res5's first block in
            branch2a instead of the 3x3 conv (PySlowFast STRIDE_1X1).
        width_per_group: inner width of res2 (64 in every published model);
            the stem and every stage scale with it.
        temporal_kernel_sizes: optional override of `arch`:
            `(conv1_kernel, (res2, res3, res4, res5))`, one size per block.
        nonlocal_locations: 4 sequences (res2..res5) of 0-based block
            indices; a `NonLocalBlock` named `nonlocal_conv{S}_{i}` follows
            the final ReLU of each listed block.
        nonlocal_groups: int or 4 ints: contiguous temporal groups of the
            non-local blocks of each stage (4 in res3 of the 32x4/128x1
            models).
        nonlocal_use_bn: BN after the non-local output conv (False in the
            frozen-BN models, whose output conv is zero-initialised instead).
        nonlocal_kwargs: further `NonLocalBlock` arguments (`instantiation`,
            `subsample_position`, `implementation`, ...).
        frozen_bn: every backbone BN as a frozen `Affine` (32x4, 128x1).
        zero_init_final_bn: the last BN gamma of every bottleneck starts at 0.
        input_shape: `(T, H, W, C)`, entries may be None. Default
            `(None, None, None, 3)`: any clip size.
        dtype: a dtype policy for the layers (KerasHub `Backbone`).
        **kwargs: `keras.Model` arguments (`name`, `trainable`).

    Example:
        >>> backbone = VideoResNetBackbone(
        ...     50, "i3d", width_per_group=8,
        ...     nonlocal_locations=[[], [1, 3], [1, 3, 5], []])
        >>> backbone(keras.ops.zeros((1, 8, 64, 64, 3))).shape
        (1, 4, 2, 2, 256)
    """

    def __init__(
        self,
        depth=50,
        arch="c2d",
        *,
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
        input_shape=None,
        dtype=None,
        name="video_resnet_backbone",
        **kwargs,
    ):
        stem = _stem_from_config(stem)
        input_shape = tuple(
            (None, None, None, 3) if input_shape is None else input_shape
        )
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(
                "input_shape must be (T, H, W, C) with a known C; received "
                f"{input_shape!r}"
            )
        given = locals()
        architecture_args = {key: given[key] for key in ARCHITECTURE_KEYS}

        # === Functional model ===
        inputs = keras.Input(shape=input_shape, name="video")
        outputs = build_backbone(inputs, **architecture_args)
        super().__init__(
            inputs=inputs, outputs=outputs, dtype=dtype, name=name, **kwargs
        )

        # === Config ===
        self._architecture = architecture_args
        self._input_shape_arg = input_shape

    @classmethod
    def from_preset(cls, preset, load_weights=True, **kwargs):
        """A backbone from any model source (KerasHub `from_preset`).

        Args:
            preset: a zoo preset name (`VideoClassifier.presets`), a local
                preset directory, a `kaggle://` / `hf://` handle, a training
                run's directory or a `.keras` file (the last three and the
                names through `nonlocal_tf.zoo`, imported with
                `nonlocal_tf`).
            load_weights: False gives the architecture, randomly
                initialised.
            **kwargs: KerasHub loader arguments (`dtype`).

        Example:
            >>> backbone = VideoResNetBackbone.from_preset(
            ...     "i3d_nl5_r50_8x8_pyslowfast_kinetics400")
        """
        if SOURCE_RESOLVERS and not kwargs:
            return SOURCE_RESOLVERS[0](
                preset, num_classes=None, load_weights=load_weights
            ).backbone
        return super().from_preset(preset, load_weights=load_weights, **kwargs)

    @property
    def architecture(self):
        """The architecture arguments (a copy)."""
        return dict(self._architecture)

    @property
    def stem(self):
        """The `Stem` (conv1 stride, pool1) of this network."""
        return architecture.get_stem(self._architecture["stem"])

    def get_config(self):
        config = super().get_config()
        config.update({k: _as_lists(v) for k, v in self._architecture.items()})
        config["stem"] = _stem_config(self._architecture["stem"])
        config["input_shape"] = list(self._input_shape_arg)
        return config
