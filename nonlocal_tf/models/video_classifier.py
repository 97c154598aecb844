"""`VideoClassifier`: a C2D / I3D ResNet that keeps its input contract.

A registered functional `keras.Model` subclass (KerasHub style): its config
holds the architecture arguments and the `ClipSpec` the model was made for,
so a `.keras` file reloads into the same class with the same spec, and every
program can ask a model what clips it takes (`model.clip_spec`).
"""

import keras

from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.models import architecture
from nonlocal_tf.models import heads
from nonlocal_tf.models.video_resnet import build_backbone

# Architecture arguments, in `get_config` order.
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


@keras.saving.register_keras_serializable(package="nonlocal_tf")
class VideoClassifier(keras.Model):
    """C2D or I3D ResNet-50/101 with non-local blocks for clips (B, T, H, W, 3).

    The network follows video-nonlocal-net and PySlowFast (docs/reference.md):
    bottleneck blocks with the spatial stride in the 3x3 conv (or in the first
    1x1 conv, `stride_in_1x1`), no conv biases, BN with epsilon 1e-5, explicit
    symmetric zero padding and `valid` convs/pools. Layer names mirror the
    Caffe2 blob names (`conv1`, `res3_0_branch2a`, `nonlocal_conv3_1`,
    `pred`, ...), so checkpoints map onto the model by name.

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
        clip_spec: the `ClipSpec` (or its dict) of the clips the model takes;
            it sizes the fully convolutional head's window. Default
            `ClipSpec()`.
        include_top: add the classifier head (`clip_spec.test_head`).
        input_shape: `(T, H, W, C)`, entries may be None. Default
            `(None, None, None, 3)`: any clip size, so the same model takes
            training crops and larger test crops.
        pooling: without the top: None (5D features), "avg" or "max".
        num_classes: outputs of the classifier.
        classifier_activation: activation of the top (float32); None gives
            logits.
        dropout_rate: dropout before the classifier (0.5 in the references).
        name: model name.
        **kwargs: `keras.Model` arguments (`dtype`, `trainable`).

    Example:
        >>> model = VideoClassifier(
        ...     50, "i3d", width_per_group=8, num_classes=10,
        ...     nonlocal_locations=[[], [1, 3], [1, 3, 5], []])
        >>> model(keras.ops.zeros((1, 8, 64, 64, 3))).shape
        (1, 10)
        >>> model.clip_spec.num_frames
        8
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
        clip_spec=None,
        include_top=True,
        input_shape=None,
        pooling=None,
        num_classes=400,
        classifier_activation="softmax",
        dropout_rate=0.5,
        name="video_classifier",
        **kwargs,
    ):
        spec = (
            ClipSpec() if clip_spec is None else ClipSpec.from_dict(clip_spec)
        )
        stem = _stem_from_config(stem)
        input_shape = _check_arguments(
            pooling, include_top, num_classes, input_shape
        )
        architecture_args = {
            "depth": depth,
            "arch": arch,
            "stem": stem,
            "pool2": pool2,
            "stride_in_1x1": stride_in_1x1,
            "width_per_group": width_per_group,
            "temporal_kernel_sizes": temporal_kernel_sizes,
            "nonlocal_locations": nonlocal_locations,
            "nonlocal_groups": nonlocal_groups,
            "nonlocal_use_bn": nonlocal_use_bn,
            "nonlocal_kwargs": nonlocal_kwargs,
            "frozen_bn": frozen_bn,
            "zero_init_final_bn": zero_init_final_bn,
        }

        # === Functional model ===
        inputs = keras.Input(shape=input_shape, name="video")
        x = build_backbone(inputs, **architecture_args)
        if include_top:
            x = heads.classifier_head(
                x,
                num_classes=num_classes,
                test_head=spec.test_head,
                pool_size=head_pool_size(spec, stem, pool2),
                activation=classifier_activation,
                dropout_rate=dropout_rate,
            )
        elif pooling == "avg":
            x = keras.layers.GlobalAveragePooling3D(name="pool5")(x)
        elif pooling == "max":
            x = keras.layers.GlobalMaxPooling3D(name="pool5")(x)
        super().__init__(inputs=inputs, outputs=x, name=name, **kwargs)

        # === Config ===
        self._architecture = architecture_args
        self._clip_spec = spec
        self.include_top = include_top
        self.pooling = pooling
        self.num_classes = num_classes
        self.classifier_activation = classifier_activation
        self.dropout_rate = dropout_rate
        self._input_shape_arg = input_shape

    @property
    def clip_spec(self):
        """The `ClipSpec` of the clips this model takes (read-only)."""
        return self._clip_spec

    @property
    def architecture(self):
        """The architecture arguments (a copy)."""
        return dict(self._architecture)

    def get_config(self):
        config = {
            **{k: _as_lists(v) for k, v in self._architecture.items()},
            "stem": _stem_config(self._architecture["stem"]),
            "clip_spec": self._clip_spec.to_dict(),
            "include_top": self.include_top,
            "input_shape": list(self._input_shape_arg),
            "pooling": self.pooling,
            "num_classes": self.num_classes,
            "classifier_activation": self.classifier_activation,
            "dropout_rate": self.dropout_rate,
            "name": self.name,
            "trainable": self.trainable,
        }
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        del custom_objects
        return cls(**config)


def _check_arguments(pooling, include_top, num_classes, input_shape):
    """Validates the head arguments; returns the input shape as a tuple."""
    if pooling not in (None, "avg", "max"):
        raise ValueError(
            f"pooling must be None, 'avg' or 'max'; received {pooling!r}"
        )
    if include_top and (
        isinstance(num_classes, bool)
        or not isinstance(num_classes, int)
        or num_classes < 1
    ):
        raise ValueError(
            f"num_classes must be a positive int; received {num_classes!r}"
        )
    input_shape = tuple(
        (None, None, None, 3) if input_shape is None else input_shape
    )
    if len(input_shape) != 4 or input_shape[-1] is None:
        raise ValueError(
            "input_shape must be (T, H, W, C) with a known C; received "
            f"{input_shape!r}"
        )
    return input_shape


def head_pool_size(spec, stem="pyslowfast", pool2=True):
    """The fully convolutional window: res5's map at the training clip.

    `(T5, crop_size // 32, crop_size // 32)`, as PySlowFast's head pool
    (`[NUM_FRAMES // pool, TRAIN_CROP_SIZE // 32, ...]`) and Caffe2's test
    `pool5` (T, 7, 7) at a 224 crop.

    Example:
        >>> head_pool_size(ClipSpec(num_frames=32, sampling_rate=2),
        ...                "caffe2_org")
        (4, 7, 7)
    """
    side = max(spec.crop_size // 32, 1)
    frames = architecture.res5_temporal_size(spec.num_frames, stem, pool2)
    return (frames, side, side)
