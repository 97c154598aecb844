"""Fuzzing the `classify_frames` signature's decoding (JPEG bytes from the
network): `nonlocal_tf.export.signatures.decode_frames`, traced once and
called directly instead of exporting a model per input.

Inputs: (B, T) batches of valid JPEGs (of any size, extreme aspect ratios
included), JPEG mutations (header fields set to interesting values, cuts,
flips), other image formats, arbitrary bytes. Each batch gives uint8 clips
(B, T, S, S, 3) or `tf.errors.InvalidArgumentError`; never another error, a
hang, or memory the request's bytes do not justify.
"""

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given
from hypothesis import strategies as st

from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.export import signatures
from tests.fuzz import harness

NUM_FRAMES = 2
SPEC = ClipSpec(num_frames=NUM_FRAMES)  # test_crop_size 256, as served
SIZE = SPEC.test_crop_size


def _jpeg(height, width, level=100):
    image = np.full((height, width, 3), level, np.uint8)
    return tf.io.encode_jpeg(image, quality=90).numpy()


GOOD = _jpeg(48, 64)
PROGRESSIVE_LIKE = _jpeg(17, 23)  # odd sizes: partial MCUs


@pytest.fixture(scope="module")
def decode():
    return tf.function(
        lambda frames: signatures.decode_frames(frames, SPEC),
        input_signature=[tf.TensorSpec([None, NUM_FRAMES], tf.string)],
    )


SIDES = st.sampled_from([1, 2, 3, 8, 17, 48, 300, 4000, 30000, 65500])


@st.composite
def _sized_jpeg(draw):
    height, width = draw(SIDES), draw(SIDES)
    if height * width > 1 << 21:  # keep encoding cheap
        width = max(1, (1 << 21) // height)
    return _jpeg(height, width, draw(st.integers(0, 255)))


def _frame():
    return st.one_of(
        st.just(GOOD),
        st.just(GOOD),
        _sized_jpeg(),
        harness.mutated(GOOD),
        harness.mutated(PROGRESSIVE_LIKE),
        st.sampled_from(
            [
                b"",
                tf.io.encode_png(np.zeros((8, 8, 3), np.uint8)).numpy(),
                b"\xff\xd8\xff",
                GOOD[:2] + b"\x00" * 64,
                b"/9j/4AAQSkZJRgABAQ",  # base64 of a JPEG, not its bytes
            ]
        ),
        st.binary(max_size=64),
    )


@st.composite
def batches(draw):
    batch = draw(st.integers(1, 3))
    return [[draw(_frame()) for _ in range(NUM_FRAMES)] for _ in range(batch)]


def _call(decode, frames):
    return decode(tf.constant(frames, tf.string))


@harness.examples(quick=15, cost=3)
@given(frames=batches())
def test_classify_frames_decoding(budget, decode, frames):
    result = budget.check(
        lambda: _call(decode, frames), tf.errors.InvalidArgumentError
    )
    if isinstance(result, tf.errors.InvalidArgumentError):
        return
    assert result.shape.as_list() == [len(frames), NUM_FRAMES, SIZE, SIZE, 3]
    assert result.dtype == tf.uint8


# Regressions: the inputs the fuzzer and its probes found, before their fixes.


def _refusal(decode, frames):
    budget = harness.Budget()
    error = budget.check(
        lambda: _call(decode, frames), tf.errors.InvalidArgumentError
    )
    assert isinstance(error, tf.errors.InvalidArgumentError), error
    return error.message


@pytest.mark.parametrize("height, width", [(65500, 32), (1, 4000)])
def test_regression_thin_frames_are_refused_by_name(decode, height, width):
    # Found by the fuzzer: such a JPEG of a few KB was scaled to short side
    # 256, i.e. 256 x 524000 (or 1024000) pixels: 1.6-3 GB of float32 per
    # frame, 5.9 GB of peak RSS for one request of 4 frames.
    message = _refusal(decode, [[GOOD, GOOD], [GOOD, _jpeg(height, width)]])
    assert "frame [1, 1]" in message
    assert f"{height}] [x] [{width}" in message and "aspect ratio" in message


def _png(height, width):
    """A valid PNG of zeros: a few hundred KB that decode to height x width
    x 3 bytes."""
    import struct
    import zlib

    def chunk(kind, data):
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
        )

    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + 3 * width)
    data = b"".join(packer.compress(row) for _ in range(height))
    data += packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", data)
        + chunk(b"IEND", b"")
    )


def test_regression_png_and_other_formats_are_refused_by_name(decode):
    # Found probing the fuzzer's PNG input: tf.io.decode_jpeg also decodes
    # PNG, with no size bound; a 187 KB PNG decoded to 192 MB (a 16000 x
    # 16000 one, 747 KB, to 768 MB: 1.9 GB of peak RSS for two frames).
    bomb = _png(8000, 8000)
    message = _refusal(decode, [[bomb, GOOD]])
    assert "frame [0, 0]" in message and "is not a JPEG image" in message
    assert f"[{len(bomb)}] [bytes)]" in message
    message = _refusal(decode, [[GOOD, b""]])
    assert "frame [0, 1]" in message and "is not a JPEG image" in message
