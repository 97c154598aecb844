"""The test transform of a clip spec in Keras ops, and its KerasHub layers.

The one implementation of the clip spec's test transform, in Keras's ops
(the backend functions `keras.ops` calls) so it runs on the TensorFlow, JAX
and PyTorch backends, and in `tf.data` on each. Besides the layers
below, the test pipeline (`nonlocal_tf.data.transforms.test_views`, the
clips' normalisation) and the serving signatures (`nonlocal_tf.export`) call
these functions, so evaluation, `VideoClassifier.predict` and a served model
see the same pixels:

1. `resize_short_side`: each frame scaled so its short side is S
   (`scaled_size`: the long side is `floor(long * S / short)`), bilinear,
   half-pixel centres, no antialiasing (`tf.image.resize(..., "bilinear")`).
2. `to_uint8`: rounded half to even and clipped to [0, 255], as the
   pipeline's uint8 clips.
3. `test_crops`: 1 centre crop or 3 crops along the long side, at offsets
   `p * ((long - S) // 2)` for `p = 0, 1, 2` (`crop_offsets`).
4. `normalize`: `(pixel - mean) / std` per RGB channel.

`VideoResNetVideoConverter` applies the four to a batch of videos and
`VideoClassifierPreprocessor` applies the converter to raw uint8 videos (the
`keras_hub.models.Task` preprocessor of `nonlocal_tf.models.VideoClassifier`).

Backends: the functions run the ops of Keras's backend, except on
TensorFlow tensors in a graph (a `tf.function`, a `tf.data` map: KerasHub's
`predict` and `fit` map the preprocessor over `tf.data` on every backend),
where they run TensorFlow's, as Keras's own data layers do. The values are
the same: the interpolation is TensorFlow's kernel's arithmetic on every
backend.

Shapes: on JAX and PyTorch (eager arrays) H and W are static. In a
TensorFlow graph H and W may also be unknown: the sizes and offsets are then
computed in the graph. The tests' references are NumPy and
`tf.image.resize` itself.
"""

import functools

import keras
import keras_hub
import numpy as np
from keras.src.utils import backend_utils
from keras_hub.src.utils.tensor_utils import preprocessing_function

from nonlocal_tf.clip_spec import PIXEL_MEAN
from nonlocal_tf.clip_spec import PIXEL_STD
from nonlocal_tf.clip_spec import ClipSpec

NUM_CROPS = (1, 3)
# The `keras.ops` this module uses, by the backend submodule that has each.
_OP_MODULES = {
    "cast": "core",
    "convert_to_tensor": "core",
    "is_tensor": "core",
    "shape": "core",
    "clip": "numpy",
    "reshape": "numpy",
    "round": "numpy",
    "stack": "numpy",
    "take": "numpy",
    "where": "numpy",
}


class _Ops:
    """The ops of this module as one backend's functions (`backend`).

    The functions `keras.ops` calls on tensors; `resize` is the backend's
    `image.resize`, which takes the tensor sizes of frames of unknown size
    (`keras.ops.image.resize` refuses them).
    """

    def __init__(self, backend):
        self.backend = backend
        functions = backend_utils.DynamicBackend(backend)
        for name, module in _OP_MODULES.items():
            setattr(self, name, getattr(getattr(functions, module), name))
        self.resize = functions.image.resize


@functools.cache
def _backend_ops(backend):
    return _Ops(backend)


def _ops():
    """Keras's backend's ops, or TensorFlow's in a TensorFlow graph.

    A `tf.data` map or a `tf.function` holds TensorFlow tensors whatever the
    Keras backend: there the transform runs TensorFlow's ops (as Keras's
    `DataLayer`s do), elsewhere the backend's.
    """
    if backend_utils.in_tf_graph():
        return _backend_ops("tensorflow")
    return _backend_ops(keras.backend.backend())


def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def scaled_size(height, width, short_side):
    """(height, width) with the short side set to `short_side`.

    The long side is `floor(long * short_side / short)`; a square frame
    becomes `short_side` square.

    Args:
        height: frame height, a Python int (or a scalar int tensor: a
            dynamic size in a TensorFlow graph).
        width: frame width, likewise.
        short_side: S, a Python int.

    Returns:
        `(new_height, new_width)`: Python ints for int inputs, else scalar
        int tensors.

    Example:
        >>> scaled_size(320, 752, 256)
        (256, 601)
        >>> scaled_size(480, 360, 256)
        (341, 256)
    """
    if _is_int(height) and _is_int(width):
        height, width = int(height), int(width)
        if height > width:
            return height * short_side // width, short_side
        return short_side, width * short_side // height
    ops = _ops()
    portrait = height > width
    new_height = ops.where(portrait, height * short_side // width, short_side)
    new_width = ops.where(portrait, short_side, width * short_side // height)
    return new_height, new_width


def _frame_size(frames):
    shape = _ops().shape(frames)
    if len(shape) < 3:
        raise ValueError(
            "frames must be (..., H, W, C); received shape "
            f"{tuple(frames.shape)}"
        )
    return shape[-3], shape[-2]


def _constant(value, like):
    """A NumPy constant as a tensor on the device of the tensor `like`."""
    ops = _ops()
    value = ops.convert_to_tensor(value)
    if ops.backend == "torch":
        # Preprocessing tensors may live on the CPU, the default on a GPU.
        value = value.to(like.device)
    return value


def _lerp_weights(size, new_size):
    """`tf.image.resize` bilinear taps and weights of one axis (NumPy).

    The arithmetic of TensorFlow's CPU kernel (half-pixel centres), in
    float32: source position `(i + 0.5) * (size / new_size) - 0.5`, its
    floor and ceiling clamped to the frame, and the fraction above the floor.
    """
    half = np.float32(0.5)
    scale = np.float32(size) / np.float32(new_size)
    positions = (np.arange(new_size, dtype="float32") + half) * scale - half
    floor = np.floor(positions)
    lower = np.maximum(floor, 0).astype("int32")
    upper = np.minimum(np.ceil(positions), np.float32(size - 1))
    return lower, upper.astype("int32"), positions - floor


def _lerp_axis(frames, new_size, axis):
    """Linear interpolation of float32 `frames` along `axis` (-3 or -2).

    Static sizes only (Python ints): JAX and PyTorch arrays.
    """
    ops = _ops()
    size = ops.shape(frames)[axis]
    if size == new_size:
        return frames  # What the kernel gives: taps i and i, weight 0.
    lower, upper, fraction = _lerp_weights(size, new_size)
    fraction = ops.reshape(
        _constant(fraction, frames), (-1,) + (1,) * (-axis - 1)
    )
    low = ops.take(frames, _constant(lower, frames), axis=axis)
    high = ops.take(frames, _constant(upper, frames), axis=axis)
    return low + (high - low) * fraction


def resize_bilinear(frames, size):
    """Bilinear resize of (..., H, W, C) frames as `tf.image.resize` does.

    Half-pixel centres, no antialiasing: the arithmetic of TensorFlow's CPU
    kernel, so the result is the same float32 values, not only the same
    uint8 pixels after rounding (the JAX and PyTorch backends' own bilinear
    resizes miss those by one grey level on a few pixels in 10^5). With
    TensorFlow's ops (the TensorFlow backend, or a TensorFlow graph) this is
    `tf.image.resize(frames, size, "bilinear")` itself, through the
    backend's resize (`keras.ops.image.resize` refuses the tensor sizes of
    frames of unknown size; written out, the interpolation is 3 times
    slower there); on JAX and PyTorch arrays the interpolation is written
    out, along W then H.

    Args:
        frames: (..., H, W, C), any real dtype.
        size: `(new_height, new_width)`: Python ints (or scalar int tensors
            in a TensorFlow graph, for frames of unknown size).

    Returns:
        float32 (..., new_height, new_width, C).

    Example:
        >>> resize_bilinear(keras.ops.zeros((8, 240, 320, 3)), (256, 341)).shape
        (8, 256, 341, 3)
    """
    ops = _ops()
    new_height, new_width = size
    if ops.backend != "tensorflow":
        frames = ops.cast(frames, "float32")
        frames = _lerp_axis(frames, new_width, axis=-2)
        return _lerp_axis(frames, new_height, axis=-3)
    # The kernel reads uint8 frames as they are (no float32 copy first).
    frames = ops.convert_to_tensor(frames)
    shape = ops.shape(frames)
    leading, height, width, channels = shape[:-3], *shape[-3:]
    images = ops.reshape(frames, (-1, height, width, channels))
    resized = ops.resize(
        images,
        (new_height, new_width),
        interpolation="bilinear",
        antialias=False,
        data_format="channels_last",
    )
    resized = ops.cast(resized, "float32")
    return ops.reshape(resized, (*leading, new_height, new_width, channels))


def resize_short_side(frames, short_side):
    """Bilinear resize of (..., H, W, C) frames to short side `short_side`.

    `resize_bilinear` (as `tf.image.resize(..., "bilinear")`: half-pixel
    centres, no antialiasing) to `scaled_size(H, W, short_side)`.

    Args:
        frames: (..., H, W, C), any real dtype (uint8 or float pixels).
        short_side: S, a Python int.

    Returns:
        float32 (..., H', W', C), in the input's value range (not rounded,
        not normalised).

    Example:
        >>> resize_short_side(keras.ops.zeros((2, 320, 480, 3)), 256).shape
        (2, 256, 384, 3)
    """
    height, width = _frame_size(frames)
    return resize_bilinear(frames, scaled_size(height, width, short_side))


def to_uint8(frames):
    """Float pixels clipped to [0, 255], rounded half to even, as uint8.

    The result is a uint8 tensor (what the pipeline's `to_uint8` gives):
    `normalize` casts it back to float32.

    Args:
        frames: float pixel values, any shape.

    Returns:
        uint8 tensor of the same shape.

    Example:
        >>> to_uint8(keras.ops.convert_to_tensor([0.4, 126.5, 254.6, 300.0]))
        [0, 126, 255, 255]  # as a uint8 tensor
    """
    ops = _ops()
    frames = ops.clip(ops.cast(frames, "float32"), 0.0, 255.0)
    return ops.cast(ops.round(frames), "uint8")


def crop_offsets(height, width, crop_size, num_crops):
    """Offsets (y, x) of the 1 or 3 test crops (Caffe2 `ClipTransformFlex`).

    With `y_mid = (height - crop_size) // 2` and `x_mid` likewise, the crops
    are at `p * y_mid` (portrait frames, `y_mid > 0`) or `p * x_mid` along
    the long side, the centre `y_mid` or `x_mid` across it: `p = 1` for 1
    crop, `p = 0, 1, 2` for 3.

    Args:
        height: height of the scaled frame, a Python int (or a scalar int
            tensor in a TensorFlow graph).
        width: its width, likewise.
        crop_size: S, a Python int.
        num_crops: 1 (centre) or 3.

    Returns:
        A list of `num_crops` `(y, x)` pairs: Python ints for int sizes,
        else scalar int tensors.

    Raises:
        ValueError: `num_crops` is not 1 or 3.

    Example:
        >>> crop_offsets(256, 455, 256, 3)
        [(0, 0), (0, 99), (0, 198)]
        >>> crop_offsets(341, 256, 256, 1)
        [(42, 0)]
    """
    if num_crops not in NUM_CROPS:
        raise ValueError(f"num_crops must be 1 or 3; got {num_crops!r}")
    positions = (1,) if num_crops == 1 else (0, 1, 2)
    y_mid = (height - crop_size) // 2
    x_mid = (width - crop_size) // 2
    if _is_int(height) and _is_int(width):
        if y_mid > 0:
            return [(y_mid * p, x_mid) for p in positions]
        return [(y_mid, x_mid * p) for p in positions]
    ops = _ops()
    along_height = y_mid > 0
    return [
        (
            ops.where(along_height, y_mid * p, y_mid),
            ops.where(along_height, x_mid, x_mid * p),
        )
        for p in positions
    ]


def test_crops(frames, crop_size, num_crops):
    """The 1 or 3 test crops of scaled frames, stacked after the first axis.

    Args:
        frames: (N, ..., H, W, C), already scaled to short side `crop_size`
            (`resize_short_side`); any dtype.
        crop_size: S, a Python int.
        num_crops: 1 (centre) or 3 (`crop_offsets`).

    Returns:
        (N * num_crops, ..., S, S, C), the input's dtype; item
        `n * num_crops + c` is crop c of `frames[n]` (the view order of
        `nonlocal_tf.data.transforms.test_views`).

    Raises:
        ValueError: `num_crops` is not 1 or 3.

    Example:
        >>> clips = keras.ops.zeros((2, 8, 256, 340, 3), "uint8")
        >>> test_crops(clips, 256, 3).shape
        (6, 8, 256, 256, 3)
    """
    height, width = _frame_size(frames)
    offsets = crop_offsets(height, width, crop_size, num_crops)
    ops = _ops()
    shape = ops.shape(frames)
    if len(shape) < 4:
        raise ValueError(
            "frames must be (N, ..., H, W, C); received shape "
            f"{tuple(frames.shape)}"
        )
    crops = []
    for y, x in offsets:
        crop = frames[..., y : y + crop_size, x : x + crop_size, :]
        # Restores the static crop shape lost to dynamic offsets (TF).
        crops.append(
            ops.reshape(crop, (*shape[:-3], crop_size, crop_size, shape[-1]))
        )
    views = ops.stack(crops, axis=1)
    return ops.reshape(
        views, (-1, *shape[1:-3], crop_size, crop_size, shape[-1])
    )


def normalize(frames, mean=PIXEL_MEAN, std=PIXEL_STD):
    """`(pixel - mean) / std` per channel (last axis), float32.

    Args:
        frames: (..., C) pixel values on [0, 255], uint8 or float.
        mean: C per-channel means.
        std: C per-channel standard deviations.

    Returns:
        float32 tensor of the same shape.

    Example:
        >>> normalize(keras.ops.full((1, 3), 114.75))
        [[0.0, 0.0, 0.0]]  # as a float32 tensor
    """
    frames = _ops().cast(frames, "float32")
    mean = _constant(np.asarray(mean, "float32"), frames)
    std = _constant(np.asarray(std, "float32"), frames)
    return (frames - mean) / std


def _check_triple(name, value, positive=False):
    try:
        value = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        value = None
    if value is None or len(value) != 3:
        raise ValueError(
            f"VideoResNetVideoConverter: `{name}` needs 3 numbers (R, G, B); "
            f"got {value!r}"
        )
    if positive and min(value) <= 0:
        raise ValueError(
            f"VideoResNetVideoConverter: `{name}` must be positive; got "
            f"{value!r}"
        )
    return value


@keras.saving.register_keras_serializable(package="nonlocal_tf")
class VideoResNetVideoConverter(keras_hub.layers.VideoConverter):
    """The clip spec's test transform of a batch of videos, as a layer.

    Each frame is scaled to short side `crop_size` (bilinear), rounded to
    uint8, cut into `num_crops` `crop_size` squares (centre, or 3 along the
    long side) and normalised; the views of each video follow it in the
    batch. The functions of this module, as the test pipeline's `test_views`
    (`nonlocal_tf.data.transforms`) calls them: it runs eagerly on every
    backend, and in a `tf.function` or `tf.data` map (frames of unknown size
    included) with TensorFlow's ops, whatever the Keras backend.

    Args:
        crop_size: S, the short side the frames are scaled to and the side
            of each crop (`ClipSpec.test_crop_size`).
        num_crops: 1 (centre) or 3 (along the long side) views per video.
        mean: per-channel RGB mean on [0, 255].
        std: per-channel RGB std on [0, 255], positive.
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`).

    Call arguments:
        videos: (B, T, H, W, 3) uint8 or float pixel values on [0, 255].

    Returns:
        float32 (B * num_crops, T, S, S, 3); view `b * num_crops + c` is
        video b, crop c.

    Raises:
        ValueError: an invalid argument; the message names it.

    Example:
        >>> converter = VideoResNetVideoConverter(crop_size=224, num_crops=3)
        >>> videos = np.zeros((2, 8, 240, 320, 3), "uint8")
        >>> converter(videos).shape
        (6, 8, 224, 224, 3)
    """

    backbone_cls = None

    def __init__(
        self,
        crop_size=256,
        num_crops=1,
        mean=PIXEL_MEAN,
        std=PIXEL_STD,
        **kwargs,
    ):
        if not _is_int(crop_size) or crop_size < 1:
            raise ValueError(
                "VideoResNetVideoConverter: `crop_size` must be a positive "
                f"int; got {crop_size!r}"
            )
        if _is_int(num_crops) and num_crops in NUM_CROPS:
            num_crops = int(num_crops)
        else:
            raise ValueError(
                "VideoResNetVideoConverter: `num_crops` must be 1 or 3; got "
                f"{num_crops!r}"
            )
        mean = _check_triple("mean", mean)
        std = _check_triple("std", std, positive=True)
        # The base's frame converter stays an identity (no size, scale or
        # offset): this layer's `call` does the whole transform.
        super().__init__(**kwargs)
        self.crop_size = int(crop_size)
        self.num_crops = num_crops
        self.mean = mean
        self.std = std
        self.built = True

    @classmethod
    def from_clip_spec(cls, spec, num_crops=1, **kwargs):
        """The converter of a clip spec's test transform.

        Args:
            spec: a `ClipSpec` or its dict; `test_crop_size`, `mean` and
                `std` are used.
            num_crops: 1 or 3 views per video (the spec's `num_test_crops`
                is the evaluation's choice, not the default here).
            **kwargs: layer arguments (`name`, `dtype`).

        Example:
            >>> converter = VideoResNetVideoConverter.from_clip_spec(
            ...     ClipSpec(test_crop_size=224))
            >>> converter.crop_size
            224
        """
        spec = ClipSpec.from_dict(spec)
        return cls(
            crop_size=spec.test_crop_size,
            num_crops=num_crops,
            mean=spec.mean,
            std=spec.std,
            **kwargs,
        )

    def call(self, videos):
        ops = _ops()
        if not ops.is_tensor(videos):
            videos = ops.convert_to_tensor(videos)
        if len(videos.shape) != 5:
            raise ValueError(
                "VideoResNetVideoConverter takes videos (B, T, H, W, 3); "
                f"received shape {tuple(videos.shape)}"
            )
        frames = to_uint8(resize_short_side(videos, self.crop_size))
        views = test_crops(frames, self.crop_size, self.num_crops)
        return normalize(views, self.mean, self.std)

    def compute_output_shape(self, input_shape):
        batch = input_shape[0]
        if batch is not None:
            batch *= self.num_crops
        size = self.crop_size
        return (batch, input_shape[1], size, size, input_shape[-1])

    def get_config(self):
        config = super().get_config()
        for key in ("image_size", "scale", "offset"):
            config.pop(key, None)
        config.update(
            {
                "crop_size": self.crop_size,
                "num_crops": self.num_crops,
                "mean": list(self.mean),
                "std": list(self.std),
            }
        )
        return config


@keras.saving.register_keras_serializable(package="nonlocal_tf")
class VideoClassifierPreprocessor(keras_hub.models.Preprocessor):
    """The preprocessor of `nonlocal_tf.models.VideoClassifier`.

    Modelled on `keras_hub.models.ImageClassifierPreprocessor`: takes `x`
    and optional `y` and `sample_weight`, returns `x`, `(x, y)` or
    `(x, y, sample_weight)`, with `y` and `sample_weight` unchanged. A uint8
    `x` is raw video frames (B, T, H, W, 3) of any size, converted by the
    `video_converter` (the clip spec's test transform); a float `x` is taken
    as model-ready, normalised clips (what `nonlocal_tf.data.build_dataset`
    gives) and passed through unchanged, as is any `x` without a converter.

    Args:
        video_converter: a `VideoResNetVideoConverter`, or None.
        **kwargs: `keras.layers.Layer` arguments.

    Example:
        >>> preprocessor = VideoClassifierPreprocessor(
        ...     VideoResNetVideoConverter(crop_size=224))
        >>> x, y = preprocessor(np.zeros((2, 8, 240, 320, 3), "uint8"), [0, 1])
        >>> x.shape
        (2, 8, 224, 224, 3)
    """

    video_converter_cls = VideoResNetVideoConverter

    def __init__(self, video_converter=None, **kwargs):
        super().__init__(**kwargs)
        self.video_converter = video_converter

    @classmethod
    def from_clip_spec(cls, spec, num_crops=1, **kwargs):
        """The preprocessor of a clip spec's test transform.

        Args:
            spec: a `ClipSpec` or its dict.
            num_crops: views per uint8 video (1 keeps one prediction per
                video and label).
            **kwargs: layer arguments of the preprocessor.

        Example:
            >>> preprocessor = VideoClassifierPreprocessor.from_clip_spec(
            ...     ClipSpec())
            >>> preprocessor.video_converter.crop_size
            256
        """
        converter = cls.video_converter_cls.from_clip_spec(
            spec, num_crops=num_crops
        )
        return cls(video_converter=converter, **kwargs)

    @classmethod
    def from_config(cls, config):
        # The base deserialises the converter in place: keep `config` intact.
        return super().from_config(dict(config))

    @preprocessing_function
    def call(self, x, y=None, sample_weight=None):
        if (
            self.video_converter is not None
            and keras.backend.standardize_dtype(x.dtype) == "uint8"
        ):
            x = self.video_converter(x)
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
