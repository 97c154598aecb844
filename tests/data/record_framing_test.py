"""`prepare.framing`: NumPy CRC-32C and TFRecord files, whole or streamed.

References: the pure-Python byte loop of `integrity.crc32c`, the standard
check value of CRC-32C, and the files `tf.io.TFRecordWriter` writes.
"""

import numpy as np
import pytest
import tensorflow as tf

from nonlocal_tf.data import integrity
from nonlocal_tf.data.prepare import framing


def _random_bytes(size, seed=0):
    return (
        np.random.default_rng(seed).integers(0, 256, size, np.uint8).tobytes()
    )


def test_crc32c_check_value():
    assert framing.crc32c_update(0, b"123456789") == 0xE3069283


# Sizes reaching each path: empty, the byte loop, one lane piece, pieces of
# several powers of two, and more than one 1 MiB piece.
@pytest.mark.parametrize(
    "size", [0, 1, 1023, 1024, 1025, 4096 + 7, 70_001, (1 << 20) + 12_345]
)
def test_crc32c_matches_the_byte_loop(size):
    data = _random_bytes(size, seed=size)
    assert framing.crc32c_update(0, data) == integrity.crc32c(data)


def test_crc32c_in_chunks_is_the_crc_of_the_whole():
    data = _random_bytes(300_000, seed=1)
    crc = 0
    for start, stop in ((0, 7), (7, 5000), (5000, 140_000), (140_000, None)):
        crc = framing.crc32c_update(crc, memoryview(data)[start:stop])
    assert crc == integrity.crc32c(data)


def _tf_file(path, records):
    with tf.io.TFRecordWriter(str(path)) as writer:
        for record in records:
            writer.write(record)
    return path.read_bytes()


def test_record_writer_writes_tensorflows_files(tmp_path):
    records = [b"", b"x", _random_bytes(5000, 2), _random_bytes(1 << 20, 3)]
    expected = _tf_file(tmp_path / "tf.tfrecord", records)
    path = tmp_path / "ours.tfrecord"
    with framing.RecordWriter(str(path)) as writer:
        for i, record in enumerate(records):
            if i % 2:
                # The same bytes, streamed in uneven chunks.
                third = len(record) // 3
                parts = [record[:third], record[third:]]
                writer.write(
                    framing.StreamedRecord(len(record), lambda p=parts: p)
                )
            else:
                writer.write(record)
    assert path.read_bytes() == expected
    read = [r.numpy() for r in tf.data.TFRecordDataset(str(path))]
    assert read == records


def test_a_shard_without_records_is_an_empty_file(tmp_path):
    path = tmp_path / "empty.tfrecord"
    with framing.RecordWriter(str(path)):
        pass
    assert path.read_bytes() == _tf_file(tmp_path / "tf.tfrecord", [])


def test_a_streamed_record_shorter_than_announced_is_refused(tmp_path):
    with framing.RecordWriter(str(tmp_path / "bad.tfrecord")) as writer:
        with pytest.raises(ValueError, match="announced 10 bytes but gave 3"):
            writer.write(framing.StreamedRecord(10, lambda: [b"abc"]))
