"""Fuzzing the record parser behind `build_dataset` (`data/pipeline.py`,
`data/features.py`).

Two inputs:
- structurally valid `SequenceExample`s with hostile field values (wrong
  dtypes, missing and unknown keys, several values where one is expected,
  huge or negative counts and labels, corrupt, empty, non-JPEG and
  oddly-sized JPEG frames), given to the very functions `build_dataset`
  maps over each record (`parse_fn`, then `train_clip_fn` or
  `test_views_fn`): a clip of the spec's shape, or
  `tf.errors.InvalidArgumentError` (which `build_dataset` skips and counts);
- whole TFRecord files (arbitrary bytes, mutated framing, headers whose
  length claims up to 2^64 bytes under a valid CRC, records of the first
  kind) read by `build_dataset` itself: it yields the good clips and never
  raises, hangs or allocates what the file does not hold.
"""

import struct

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given
from hypothesis import strategies as st

from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.data import features
from nonlocal_tf.data import integrity
from nonlocal_tf.data import pipeline
from tests.fuzz import harness

SPEC = ClipSpec(
    num_frames=2,
    sampling_rate=2,
    crop_size=16,
    jitter_scales=(16, 20),
    test_crop_size=256,  # as most models: frames are scaled to it
    num_test_clips=2,
    num_test_crops=3,
)
NUM_CLASSES = 5
CONTEXT_KEYS = (
    features.LABEL_INDEX_KEY,
    features.LABEL_TEXT_KEY,
    features.VIDEO_ID_KEY,
    features.FPS_KEY,
    features.NUM_FRAMES_KEY,
)


def _jpeg(height, width, level=128):
    image = np.full((height, width, 3), level, np.uint8)
    return tf.io.encode_jpeg(image).numpy()


GOOD_JPEG = _jpeg(24, 32)
# Frames a preparation never writes: a PNG (decode_jpeg reads it, is_jpeg
# does not), extreme aspect ratios, a frame of another size.
ODD_FRAMES = (
    tf.io.encode_png(np.zeros((24, 32, 3), np.uint8)).numpy(),
    _jpeg(1, 1),
    _jpeg(1, 4000),
    _jpeg(4000, 1),
    _jpeg(24, 33),
    b"",
)


def _settings(mode, multi_label=False):
    return pipeline.PipelineSettings(
        spec=SPEC,
        mode=mode,
        num_classes=NUM_CLASSES,
        multi_label=multi_label,
        batch_size=1,
        random_flip=True,
        clips_per_video=1,
    )


@pytest.fixture(scope="module")
def element_fns():
    return per_record_functions()


def per_record_functions():
    """The per-record functions of `build_dataset`, traced once each."""
    fns = {}
    for mode in pipeline.MODES:
        for multi_label in (False, True):
            settings = _settings(mode, multi_label)
            parse = pipeline.parse_fn(settings)
            if settings.training:
                clip = pipeline.train_clip_fn(
                    settings, tf.constant([7, 0], tf.int64)
                )
            else:
                clip = pipeline.test_views_fn(settings)

            def element(serialized, parse=parse, clip=clip):
                parsed = parse(
                    {
                        "serialized": serialized,
                        "filename": tf.constant("fuzz.tfrecord"),
                        "index": tf.constant(0, tf.int64),
                    }
                )
                return clip({**parsed, "position": tf.constant(3, tf.int64)})

            fns[mode, multi_label] = tf.function(
                element, input_signature=[tf.TensorSpec([], tf.string)]
            )
    return fns


# Feature values of every dtype, hostile ones included.

_FLOATS = st.floats(width=32, allow_nan=True, allow_infinity=True)
_INTS = harness.interesting_ints()


@st.composite
def _feature(draw, key=None):
    feature = tf.train.Feature()
    kind = draw(st.sampled_from(["int64", "float", "bytes", "none"]))
    count = draw(st.sampled_from([0, 1, 1, 1, 2, 3, 64]))
    if kind == "int64":
        feature.int64_list.value.extend(
            draw(st.lists(_INTS, min_size=count, max_size=count))
        )
    elif kind == "float":
        feature.float_list.value.extend(
            draw(st.lists(_FLOATS, min_size=count, max_size=count))
        )
    elif kind == "bytes":
        feature.bytes_list.value.extend(
            draw(
                st.lists(st.binary(max_size=16), min_size=count, max_size=count)
            )
        )
    return feature


@st.composite
def _good_context(draw):
    labels = draw(st.lists(st.integers(-3, NUM_CLASSES + 2), max_size=3))
    return {
        features.LABEL_INDEX_KEY: tf.train.Feature(
            int64_list=tf.train.Int64List(value=labels)
        ),
        features.VIDEO_ID_KEY: tf.train.Feature(
            bytes_list=tf.train.BytesList(value=[b"video"])
        ),
        features.FPS_KEY: tf.train.Feature(
            float_list=tf.train.FloatList(value=[30.0])
        ),
    }


def _frame_bytes():
    return st.one_of(
        st.just(GOOD_JPEG),
        st.just(GOOD_JPEG),
        harness.mutated(GOOD_JPEG),
        st.sampled_from(ODD_FRAMES),
        st.binary(max_size=64),
    )


@st.composite
def _frame_feature(draw):
    if draw(st.integers(0, 9)) == 0:  # a frame of the wrong dtype or count
        return draw(_feature())
    return tf.train.Feature(
        bytes_list=tf.train.BytesList(value=[draw(_frame_bytes())])
    )


@st.composite
def sequence_examples(draw):
    example = tf.train.SequenceExample()
    context = example.context.feature
    for key, feature in draw(_good_context()).items():
        context[key].CopyFrom(feature)
    # Hostile values for some keys (known ones and a stranger), some
    # dropped.
    for key in draw(st.lists(st.sampled_from(CONTEXT_KEYS + ("x",)))):
        context[key].CopyFrom(draw(_feature()))
    for key in draw(st.lists(st.sampled_from(CONTEXT_KEYS), max_size=2)):
        context.pop(key, None)
    count = draw(st.sampled_from([0, 1, 2, 3, 5, 9, 40]))
    same = draw(st.booleans())
    if same:  # one frame repeated: most records are mostly good
        frame = draw(_frame_feature())
        frames = [frame] * count
    else:
        frames = [draw(_frame_feature()) for _ in range(count)]
    declared = draw(st.sampled_from([None, count, count + 1, -5, 10**12]))
    if declared is not None:
        context[features.NUM_FRAMES_KEY].CopyFrom(
            tf.train.Feature(int64_list=tf.train.Int64List(value=[declared]))
        )
    key = draw(st.sampled_from([integrity.IMAGE_KEY] * 5 + ["image/other"]))
    if count or draw(st.booleans()):
        feature_list = example.feature_lists.feature_list[key]
        for frame in frames:
            feature_list.feature.add().CopyFrom(frame)
    return example.SerializeToString()


def _expected_shape(mode):
    if mode == pipeline.TRAIN:
        return list(SPEC.train_input_shape)
    return [SPEC.num_test_views, *SPEC.test_input_shape]


@harness.examples(quick=15, cost=3)
@given(
    serialized=sequence_examples() | harness.seeded_bytes(b""),
    mode=st.sampled_from(pipeline.MODES),
    multi_label=st.booleans(),
)
def test_record_fields(budget, element_fns, serialized, mode, multi_label):
    fn = element_fns[mode, multi_label]
    result = budget.check(
        lambda: fn(tf.constant(serialized)), tf.errors.InvalidArgumentError
    )
    if isinstance(result, dict):
        key = "clips" if mode == pipeline.TRAIN else "views"
        assert result[key].shape.as_list() == _expected_shape(mode)
        labels = result["labels"].numpy()
        if multi_label:
            assert labels.shape == (NUM_CLASSES,) and set(labels) <= {0, 1}
        else:
            assert -1 <= labels < NUM_CLASSES


# Whole files read by build_dataset.


def _frame(data, length=None, crc=None):
    """TFRecord framing of `data`, a header length or CRC forced if given."""
    length = len(data) if length is None else length
    header = struct.pack("<Q", length % 2**64)
    header_crc = integrity.masked_crc32c(header) if crc is None else crc
    return (
        header
        + struct.pack("<I", header_crc)
        + data
        + struct.pack("<I", integrity.masked_crc32c(data))
    )


GOOD_RECORD = features.make_sequence_example(
    [GOOD_JPEG] * 3, video_id="good", label_indices=[1], fps=30.0
).SerializeToString()


@st.composite
def record_files(draw):
    parts = []
    for _ in range(draw(st.integers(0, 4))):
        data = draw(
            st.one_of(
                st.just(GOOD_RECORD),
                sequence_examples(),
                harness.mutated(GOOD_RECORD),
            )
        )
        length = draw(
            st.one_of(
                st.none(),
                st.none(),
                st.sampled_from([0, len(data) + 1, 2**31, 10**12, 2**64 - 1]),
            )
        )
        parts.append(_frame(data, length))
    whole = b"".join(parts)
    return draw(st.just(whole) | harness.mutated(whole) | st.binary())


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    """`build_dataset` in both modes over one file, built once: each example
    rewrites the file and iterates anew (a new iterator reads it again)."""
    path = tmp_path_factory.mktemp("records") / "fuzz-00000-of-00001.tfrecord"
    path.write_bytes(b"")
    built = {
        mode: pipeline.build_dataset(
            str(path),
            SPEC,
            mode=mode,
            num_classes=NUM_CLASSES,
            batch_size=1,
            seed=0,
            repeat=False,
            skipped_records=integrity.SkippedRecords(),
        )
        for mode in pipeline.MODES
    }
    return path, built


@harness.examples(quick=3, cost=20)
@given(data=record_files(), mode=st.sampled_from(pipeline.MODES))
def test_record_files(budget, datasets, data, mode):
    path, built = datasets
    path.write_bytes(data)
    # Every record is a clip or skipped (and counted); nothing raises.
    yielded = budget.check(lambda: sum(1 for _ in built[mode]))
    assert yielded <= data.count(b"image/encoded")


# Regressions: the inputs the fuzzer found, before their fixes.

THIN = _jpeg(1, 4000)


def test_regression_thin_frames_are_refused_not_scaled(element_fns):
    # Found by the fuzzer (at the served test size, 256; see
    # frames_fuzz_test.py): the test views scaled this 1.6 KB JPEG to
    # 256 x 1024000 pixels; two such frames asked for a 6.3 GB float32
    # tensor (ResourceExhaustedError after 7 GB of peak RSS under an 8 GB
    # cap, the OOM killer without one).
    record = features.make_sequence_example(
        [THIN] * 3, video_id="thin", label_indices=[1], fps=30.0
    ).SerializeToString()
    budget = harness.Budget()
    # Training decodes only a crop window (bounded memory), but refuses the
    # same frames, so that both modes skip the same records.
    for mode in pipeline.MODES:
        error = budget.check(
            lambda mode=mode: element_fns[mode, False](tf.constant(record)),
            tf.errors.InvalidArgumentError,
        )
        assert isinstance(error, tf.errors.InvalidArgumentError), error
        assert "record 0 of fuzz.tfrecord (video" in error.message
        assert "[1] [x] [4000] [pixels: frames need]" in error.message
    # A frame at the limit, 16:1, gives a clip and views.
    limit = features.make_sequence_example(
        [_jpeg(2, 32)] * 3, video_id="wide", label_indices=[1], fps=30.0
    ).SerializeToString()
    for mode in pipeline.MODES:
        result = element_fns[mode, False](tf.constant(limit))
        key = "clips" if mode == pipeline.TRAIN else "views"
        assert result[key].shape.as_list() == _expected_shape(mode)


@pytest.mark.parametrize("mode", pipeline.MODES)
def test_regression_build_dataset_skips_and_counts_a_thin_record(
    tmp_path, mode
):
    path = tmp_path / "thin-00000-of-00001.tfrecord"
    thin = features.make_sequence_example(
        [THIN] * 3, video_id="thin", label_indices=[1], fps=30.0
    )
    path.write_bytes(_frame(GOOD_RECORD) + _frame(thin.SerializeToString()))
    counter = integrity.SkippedRecords()
    dataset = pipeline.build_dataset(
        str(path),
        SPEC,
        mode=mode,
        num_classes=NUM_CLASSES,
        batch_size=1,
        repeat=False,
        skipped_records=counter,
    )
    budget = harness.Budget()
    batches = budget.check(lambda: list(dataset))
    assert len(batches) == 1 and counter.count == 1
    if mode == pipeline.TEST:  # training batches are (clips, labels)
        assert batches[0]["video_id"].numpy().tolist() == [b"good"]


# The record the fuzzer found (shrunk): video id b"\x80", no frames.
NOT_UTF8_ID = (
    b"\nB\n\x15\n\tvideo/fps\x12\x08\x12\x06\n\x04\x00\x00\xf0A\n\x11\n\x08"
    b"video/id\x12\x05\n\x03\n\x01\x80\n\x16\n\x10clip/label/index\x12\x02"
    b"\x1a\x00\x12\x13\n\x11\n\rimage/encoded\x12\x00"
)


def _labelled_with_frames(serialized, frames):
    example = tf.train.SequenceExample.FromString(serialized)
    label = example.context.feature[features.LABEL_INDEX_KEY]
    label.int64_list.value.append(1)
    feature_list = example.feature_lists.feature_list[integrity.IMAGE_KEY]
    for frame in frames:
        feature_list.feature.add().bytes_list.value.append(frame)
    return example.SerializeToString()


@pytest.mark.parametrize("mode", pipeline.MODES)
@pytest.mark.parametrize(
    "serialized, problem",
    [
        (NOT_UTF8_ID, "has no"),  # frames (test), label (training)
        (_labelled_with_frames(NOT_UTF8_ID, [b"x"] * 3), "not a JPEG"),
        (_labelled_with_frames(NOT_UTF8_ID, [THIN] * 3), "aspect ratio"),
    ],
    ids=["as_found", "not_jpeg", "thin"],
)
def test_regression_video_id_not_utf8_in_errors(
    element_fns, mode, serialized, problem
):
    # Was: UnicodeDecodeError ("'utf-8' codec can't decode byte 0x80")
    # out of TensorFlow's Python side, which decodes the error message, in
    # place of the InvalidArgumentError naming the record.
    budget = harness.Budget()
    error = budget.check(
        lambda: element_fns[mode, False](tf.constant(serialized)),
        tf.errors.InvalidArgumentError,
    )
    assert isinstance(error, tf.errors.InvalidArgumentError), error
    # The message quotes the id as \'\ufffd\' (Assert escapes quotes).
    assert "record 0 of fuzz.tfrecord (video \\'\ufffd\\')" in error.message
    assert problem in error.message
