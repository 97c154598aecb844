"""The input contract of a video model: the clips it is trained and tested on.

One `ClipSpec` per model is the only place these values are defined. The zoo
gives each entry one, `nonlocal_tf.models.VideoClassifier` keeps it in its
config (so a `.keras` file knows it), the data pipeline, training, evaluation
and the SavedModel export read it. Pure Python (no TensorFlow, no Keras), so
every package may import it.

Example:
    >>> from nonlocal_tf import ClipSpec
    >>> spec = ClipSpec(num_frames=32, sampling_rate=2)
    >>> spec.train_input_shape
    (32, 224, 224, 3)
    >>> ClipSpec.from_dict(spec.to_dict()) == spec
    True
"""

import dataclasses
import json

CAFFE2 = "caffe2"
PYSLOWFAST = "pyslowfast"
TEMPORAL_SAMPLING = (CAFFE2, PYSLOWFAST)

FULLY_CONVOLUTIONAL = "fully_convolutional"
GLOBAL_AVERAGE = "global_average"
TEST_HEADS = (FULLY_CONVOLUTIONAL, GLOBAL_AVERAGE)

INTEGER_ACCURATE = "INTEGER_ACCURATE"
INTEGER_FAST = "INTEGER_FAST"
DCT_METHODS = (INTEGER_ACCURATE, INTEGER_FAST)

# RGB on [0, 255]: mean 0.45 and std 0.225 on [0, 1] (PySlowFast DATA.MEAN /
# DATA.STD; video-nonlocal-net subtracts 114.75 and divides by 57.375).
PIXEL_MEAN = (114.75, 114.75, 114.75)
PIXEL_STD = (57.375, 57.375, 57.375)


def _positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            f"ClipSpec.{name} must be a positive int; got {value!r}"
        )


def _one_of(name, value, choices):
    if value not in choices:
        raise ValueError(
            f"ClipSpec.{name} must be one of {choices}; got {value!r}"
        )


def _triple(name, value):
    try:
        numbers = tuple(float(v) for v in value)
    except (TypeError, ValueError):  # not a sequence of numbers
        numbers = ()
    if len(numbers) != 3:
        raise ValueError(
            f"ClipSpec.{name} needs 3 values (R, G, B); got {value!r}"
        )
    return numbers


@dataclasses.dataclass(frozen=True)
class ClipSpec:
    """What clips a model takes, in training and in testing.

    Attributes:
        num_frames: T, frames per clip.
        sampling_rate: r, step between the clip's frames in the video.
        temporal_sampling: where clips start and how short videos are
            handled: "caffe2" (video-nonlocal-net: frames wrap around) or
            "pyslowfast" (clamped linspace); see `nonlocal_tf.data.sampling`.
        crop_size: side of the square training crop; also the input the
            fully convolutional head's pooling window is sized for.
        jitter_scales: (min, max) short side of the training scale jitter,
            inclusive; `crop_size <= min <= max`.
        test_crop_size: short side the test frames are scaled to, and the
            side of each test crop.
        num_test_clips: K clips per test video, evenly spaced in time.
        num_test_crops: 1 (centre) or 3 (along the long side) crops per clip.
        mean: per-channel RGB mean on [0, 255], subtracted from the pixels.
        std: per-channel RGB std on [0, 255], dividing after the mean.
        jpeg_dct_method: `tf.io.decode_jpeg` IDCT for recorded JPEG frames,
            in training, testing and serving: "INTEGER_ACCURATE" (the same
            pixels as libjpeg's default, used by PIL, OpenCV and FFmpeg) or
            "INTEGER_FAST".
        test_head: how the classifier meets a test crop larger than
            `crop_size`: "fully_convolutional" (the paper, video-nonlocal-net
            and PySlowFast: average pooling with the training window at
            stride 1, the classifier and softmax at every position, then the
            mean over positions) or "global_average" (global pooling, then
            the classifier).

    Example:
        >>> spec = ClipSpec(num_frames=8, sampling_rate=8)
        >>> spec.num_test_views
        30
        >>> spec.override(num_frames=16, crop_size=None)
        (ClipSpec(num_frames=16, ...), {'num_frames': (8, 16)})
    """

    num_frames: int = 8
    sampling_rate: int = 8
    temporal_sampling: str = CAFFE2
    crop_size: int = 224
    jitter_scales: tuple = (256, 320)
    test_crop_size: int = 256
    num_test_clips: int = 10
    num_test_crops: int = 3
    mean: tuple = PIXEL_MEAN
    std: tuple = PIXEL_STD
    jpeg_dct_method: str = INTEGER_ACCURATE
    test_head: str = FULLY_CONVOLUTIONAL

    def __post_init__(self):
        for name in (
            "num_frames",
            "sampling_rate",
            "crop_size",
            "test_crop_size",
            "num_test_clips",
        ):
            _positive_int(name, getattr(self, name))
        _one_of("temporal_sampling", self.temporal_sampling, TEMPORAL_SAMPLING)
        _one_of("num_test_crops", self.num_test_crops, (1, 3))
        _one_of("jpeg_dct_method", self.jpeg_dct_method, DCT_METHODS)
        _one_of("test_head", self.test_head, TEST_HEADS)
        try:
            scales = tuple(self.jitter_scales)
        except TypeError:  # not a sequence
            scales = ()
        if len(scales) != 2:
            raise ValueError(
                "ClipSpec.jitter_scales needs (min, max); got "
                f"{self.jitter_scales!r}"
            )
        for value in scales:
            _positive_int("jitter_scales", value)
        if not self.crop_size <= scales[0] <= scales[1]:
            raise ValueError(
                "ClipSpec.jitter_scales must satisfy crop_size <= min <= max; "
                f"got jitter_scales={scales}, crop_size={self.crop_size}"
            )
        std = _triple("std", self.std)
        if min(std) <= 0:
            raise ValueError(f"ClipSpec.std must be positive; got {std}")
        object.__setattr__(self, "jitter_scales", scales)
        object.__setattr__(self, "mean", _triple("mean", self.mean))
        object.__setattr__(self, "std", std)

    @property
    def train_input_shape(self):
        """`(T, crop_size, crop_size, 3)`: one training clip."""
        return (self.num_frames, self.crop_size, self.crop_size, 3)

    @property
    def test_input_shape(self):
        """`(T, test_crop_size, test_crop_size, 3)`: one test view."""
        size = self.test_crop_size
        return (self.num_frames, size, size, 3)

    @property
    def num_test_views(self):
        """Views per test video: `num_test_clips * num_test_crops`."""
        return self.num_test_clips * self.num_test_crops

    def to_dict(self):
        """A JSON-ready dict (tuples as lists) that `from_dict` reads back."""
        values = dataclasses.asdict(self)
        for key in ("jitter_scales", "mean", "std"):
            values[key] = list(values[key])
        return values

    @classmethod
    def from_dict(cls, values):
        """A spec from `to_dict()` output; unknown keys are refused by name.

        Missing keys take their defaults.

        Raises:
            ValueError: an unknown key or an invalid value.
        """
        if isinstance(values, ClipSpec):
            return values
        if not isinstance(values, dict):
            raise ValueError(
                f"A clip spec must be a dict; got {type(values).__name__}"
            )
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"Unknown clip spec keys {unknown} (known: {sorted(known)})"
            )
        return cls(**values)

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))

    def override(self, **values):
        """This spec with the non-None `values` applied, and what changed.

        Programs pass their flags here: a flag left unset (None) keeps the
        model's value.

        Returns:
            `(spec, changes)` where `changes` maps each changed field to
            `(old, new)`.

        Raises:
            ValueError: an unknown field or an invalid result.
        """
        known = {field.name for field in dataclasses.fields(self)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown clip spec fields {unknown}")
        given = {k: v for k, v in values.items() if v is not None}
        spec = dataclasses.replace(self, **given)
        changes = {
            k: (getattr(self, k), getattr(spec, k))
            for k in given
            if getattr(self, k) != getattr(spec, k)
        }
        return spec, changes

    def describe(self):
        """One line for logs, e.g. `8x8 caffe2, train 224 (256-320), ...`."""
        low, high = self.jitter_scales
        return (
            f"{self.num_frames}x{self.sampling_rate} {self.temporal_sampling} "
            f"sampling, train crop {self.crop_size} (short side {low}-{high}), "
            f"test {self.num_test_clips}x{self.num_test_crops} views of "
            f"{self.test_crop_size}, {self.test_head.replace('_', ' ')} head"
        )
