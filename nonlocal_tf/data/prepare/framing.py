"""Writing TFRecord files, with records streamed from parts.

A TFRecord file is a sequence of records, each

    uint64 length | uint32 crc(length) | data | uint32 crc(data)

(little-endian, crc = masked CRC-32C; tensorflow/core/lib/io/
record_writer.h). `tf.io.TFRecordWriter` takes each record as one `bytes`
object; `RecordWriter` also takes a `StreamedRecord` (its length, then its
data as chunks), so a record larger than memory (a long video's frames) is
written without ever being held whole. The files are byte for byte those of
`tf.io.TFRecordWriter` (uncompressed).

The CRC-32C of a chunk is computed in NumPy: the chunk is cut into lanes
that are checksummed side by side, and the lanes' checksums are combined
with the linear map "append n zero bytes" (zlib's `crc32_combine`), about
200 MB/s on one core, where a byte loop in Python does 5.
"""

import dataclasses
import functools
import struct

import numpy as np
import tensorflow as tf

_POLY = 0x82F63B78  # CRC-32C (Castagnoli), reflected
_MASK_DELTA = 0xA282EAD8
# Below this many bytes a piece is checksummed byte by byte.
_SMALL = 1024
_MAX_LANES = 4096
# Larger data is checksummed in pieces of 2**_LOG2_PIECE bytes (1 MiB).
_LOG2_PIECE = 20


def _byte_table():
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ _POLY, table >> 1)
    return table.astype(np.uint32)


_TABLE = _byte_table()
_TABLE_LIST = [int(x) for x in _TABLE]


def _apply(operator, value):
    """A linear map of 32-bit registers (the images of the bits) at `value`."""
    result, bit = 0, 0
    while value:
        if value & 1:
            result ^= operator[bit]
        value >>= 1
        bit += 1
    return result


@functools.cache
def _zeros_operator(log2_bytes):
    """The register after 2**log2_bytes zero bytes, as images of its bits."""
    if log2_bytes == 0:
        return tuple(
            _TABLE_LIST[(1 << i) & 0xFF] ^ ((1 << i) >> 8) for i in range(32)
        )
    half = _zeros_operator(log2_bytes - 1)
    return tuple(_apply(half, x) for x in half)


@functools.cache
def _zeros_tables(log2_bytes):
    """`_zeros_operator` as 4 tables, one per byte of the register."""
    operator = np.array(_zeros_operator(log2_bytes), np.uint32)
    values = np.arange(256, dtype=np.uint32)
    tables = np.zeros((4, 256), np.uint32)
    for byte in range(4):
        for bit in range(8):
            image = operator[8 * byte + bit]
            tables[byte] ^= np.where((values >> bit) & 1, image, 0).astype(
                np.uint32
            )
    return tables


def _shift(tables, registers):
    """`_zeros_tables` applied to an array of registers."""
    return (
        tables[0][registers & 0xFF]
        ^ tables[1][(registers >> 8) & 0xFF]
        ^ tables[2][(registers >> 16) & 0xFF]
        ^ tables[3][registers >> 24]
    )


def _update_small(register, data):
    table = _TABLE_LIST
    for byte in data:
        register = table[(register ^ byte) & 0xFF] ^ (register >> 8)
    return register


def _update_power_of_two(register, data, log2_size):
    """The register after `data`, whose length is 2**log2_size."""
    log2_lanes = min(_MAX_LANES.bit_length() - 1, log2_size - 4)
    lanes = 1 << log2_lanes
    log2_lane = log2_size - log2_lanes
    columns = np.ascontiguousarray(data.reshape(lanes, 1 << log2_lane).T)
    registers = np.zeros(lanes, np.uint32)
    # The register so far enters the first lane: the map is linear.
    registers[0] = register
    for column in columns:
        registers = _TABLE[(registers ^ column) & 0xFF] ^ (registers >> 8)
    # Combine neighbouring lanes: crc(a + b) = shift_len(b)(crc(a)) ^ crc(b).
    while len(registers) > 1:
        shifted = _shift(_zeros_tables(log2_lane), registers[0::2])
        registers = shifted ^ registers[1::2]
        log2_lane += 1
    return int(registers[0])


def crc32c_update(crc, data):
    """The CRC-32C of what `crc` covered followed by `data`.

    Args:
        crc: the CRC-32C so far (0 for none).
        data: bytes-like.

    Returns:
        The CRC-32C, an int.

    Example:
        >>> hex(crc32c_update(crc32c_update(0, b"1234"), b"56789"))
        '0xe3069283'
    """
    view = np.frombuffer(memoryview(data).cast("B"), np.uint8)
    register = crc ^ 0xFFFFFFFF
    start = 0
    while len(view) - start >= 1 << _LOG2_PIECE:
        register = _update_power_of_two(
            register, view[start : start + (1 << _LOG2_PIECE)], _LOG2_PIECE
        )
        start += 1 << _LOG2_PIECE
    # The rest in pieces of the sizes of its bits, largest first.
    for log2_size in range(len(view).bit_length() - 1, -1, -1):
        size = 1 << log2_size
        if len(view) - start < size:
            continue
        if size < _SMALL:
            register = _update_small(register, view[start:].tobytes())
            start = len(view)
            break
        register = _update_power_of_two(
            register, view[start : start + size], log2_size
        )
        start += size
    return register ^ 0xFFFFFFFF


def masked_crc32c(crc):
    """TFRecord's masked form of a CRC-32C."""
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


@dataclasses.dataclass(frozen=True)
class StreamedRecord:
    """A record given as its length and its data in chunks.

    Attributes:
        size: the record's length in bytes.
        chunks: a callable returning an iterable of bytes-like chunks that
            add up to `size` bytes; `RecordWriter` calls it once.
    """

    size: int
    chunks: object


class RecordWriter:
    """Writes a TFRecord file, records whole or streamed.

    Any `tf.io.gfile` path (`gs://`). The file is that of
    `tf.io.TFRecordWriter` given the same records.

    Example:
        >>> with RecordWriter("out.tfrecord") as writer:
        ...     writer.write(b"record")
        ...     writer.write(StreamedRecord(6, lambda: [b"rec", b"ord"]))
    """

    def __init__(self, path):
        self._file = tf.io.gfile.GFile(path, "wb")
        # GFile creates the file on its first write; a shard whose videos
        # were all skipped is an empty file, as TFRecordWriter leaves it.
        self._file.write(b"")

    def write(self, record):
        """Writes one record: bytes-like, or a `StreamedRecord`."""
        if isinstance(record, StreamedRecord):
            size, chunks = record.size, record.chunks()
        else:
            size, chunks = len(record), (record,)
        length = struct.pack("<Q", size)
        self._file.write(
            length + struct.pack("<I", masked_crc32c(crc32c_update(0, length)))
        )
        crc, written = 0, 0
        for chunk in chunks:
            crc = crc32c_update(crc, chunk)
            written += len(chunk)
            self._file.write(bytes(chunk))
        if written != size:
            raise ValueError(
                f"a streamed record announced {size} bytes but gave {written}"
            )
        self._file.write(struct.pack("<I", masked_crc32c(crc)))

    def close(self):
        self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
