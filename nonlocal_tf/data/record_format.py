"""The TFRecord framing, read without TensorFlow: headers, damage, resync.

A TFRecord file is a sequence of records, each

    uint64 length | uint32 crc(length) | data | uint32 crc(data)

(little-endian, crc = masked CRC-32C; tensorflow/core/lib/io/record_writer.h).
Checking the 8-byte length against its CRC is cheap, so the records of a file
can be counted by walking the headers, without reading the data; after
damage, the next intact header is found again by searching for 12 bytes whose
CRC holds (a random match has a chance of 2**-32 per position). Data CRCs
are TensorFlow's job (`TFRecordDataset` checks both CRCs of every record it
reads).

Example:
    >>> walk = walk_headers("records/val-00000-of-00004.tfrecord")
    >>> walk.records, walk.damage  # doctest: +SKIP
    (25, None)
"""

import dataclasses
import struct

import numpy as np

HEADER_BYTES = 12
FOOTER_BYTES = 4
OVERHEAD_BYTES = HEADER_BYTES + FOOTER_BYTES
_CHUNK = 1 << 24
_MASK_DELTA = 0xA282EAD8

# Damage kinds.
TRUNCATED_HEADER = "truncated record header"
TRUNCATED_RECORD = "truncated record"
BAD_LENGTH_CRC = "corrupted record length (length CRC mismatch)"
BAD_DATA_CRC = "corrupted record data (data CRC mismatch)"
MISSING_RECORDS = "file ends early (fewer records than expected)"


def _crc_table():
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc_table()


def crc32c(data):
    """CRC-32C (Castagnoli) of `data`; pure Python, for short inputs.

    Example:
        >>> hex(crc32c(b"123456789"))
        '0xe3069283'
    """
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data):
    """The masked CRC TFRecord stores: rotate right by 15, add a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def header_length(header):
    """The data length in a 12-byte header, or None if its CRC fails."""
    if len(header) < HEADER_BYTES:
        return None
    length, stored = struct.unpack("<QI", header[:HEADER_BYTES])
    return length if masked_crc32c(header[:8]) == stored else None


@dataclasses.dataclass
class HeaderWalk:
    """What walking the headers of a file from some offset found.

    Attributes:
        records: intact-looking records found (header CRC holds, the record
            fits in the file), the damaged one not included.
        damage: the kind of the first damage, or None.
        damage_offset: its byte offset, or None.
        resumed: records found after the first damage (by resyncing).
        size: the file size.
    """

    records: int = 0
    damage: str | None = None
    damage_offset: int | None = None
    resumed: int = 0
    size: int = 0


def _next_header(f, start, size):
    """Offset of the next intact header at or after `start`, or None."""
    position = start
    while position + HEADER_BYTES <= size:
        f.seek(position)
        block = f.read(min(_CHUNK, size - position))
        data = np.frombuffer(block, np.uint8)
        if data.size < HEADER_BYTES:
            return None
        # Record lengths fit in 32 bits: the high 4 length bytes are 0.
        zeros = data[4:] == 0
        n = data.size - HEADER_BYTES + 1
        candidates = np.flatnonzero(
            zeros[0:n] & zeros[1 : n + 1] & zeros[2 : n + 2] & zeros[3 : n + 3]
        )
        for index in candidates:
            header = block[index : index + HEADER_BYTES]
            length = header_length(header)
            end = position + int(index) + OVERHEAD_BYTES + (length or 0)
            if length is not None and end <= size:
                return position + int(index)
        if position + len(block) >= size:
            return None
        position += len(block) - HEADER_BYTES + 1
    return None


def _walk(f, offset, size):
    """Counts records from `offset` while headers are intact.

    Returns `(records, end_offset, damage_kind)`.
    """
    records = 0
    while offset < size:
        f.seek(offset)
        header = f.read(HEADER_BYTES)
        if len(header) < HEADER_BYTES:
            return records, offset, TRUNCATED_HEADER
        length = header_length(header)
        if length is None:
            return records, offset, BAD_LENGTH_CRC
        if offset + OVERHEAD_BYTES + length > size:
            return records, offset, TRUNCATED_RECORD
        records += 1
        offset += OVERHEAD_BYTES + length
    return records, offset, None


def walk_headers(path, start=0, *, size=None, open_fn=open):
    """Counts the records of a file by their headers, resyncing after damage.

    Args:
        path: the TFRecord file.
        start: byte offset of a record header to start from.
        size: the file size, if known.
        open_fn: `open` or `tf.io.gfile.GFile` (for `gs://` and the like).

    Returns:
        A `HeaderWalk`.

    Example:
        >>> walk_headers("val-00000-of-00001.tfrecord").records
        ... # doctest: +SKIP
        12
    """
    with open_fn(path, "rb") as f:
        if size is None:
            f.seek(0, 2)
            size = f.tell()
        records, offset, damage = _walk(f, start, size)
        walk = HeaderWalk(records=records, size=size)
        if damage is None:
            return walk
        walk.damage, walk.damage_offset = damage, offset
        position = offset + 1
        while True:
            found = _next_header(f, position, size)
            if found is None:
                return walk
            more, offset, damage = _walk(f, found, size)
            walk.resumed += more
            if damage is None:
                return walk
            position = offset + 1


def damage_at(path, offset, *, size, open_fn=open):
    """What is wrong with the record at `offset` that a reader stopped at.

    Returns:
        `(kind, records_after)`: the damage kind and the records that follow
        the damaged one (found by their headers, resyncing if needed).
    """
    with open_fn(path, "rb") as f:
        f.seek(offset)
        header = f.read(HEADER_BYTES)
        if len(header) < HEADER_BYTES:
            return TRUNCATED_HEADER, 0
        length = header_length(header)
    if length is None:
        walk = walk_headers(path, offset, size=size, open_fn=open_fn)
        return BAD_LENGTH_CRC, walk.resumed
    following = offset + OVERHEAD_BYTES + length
    if following > size:
        return TRUNCATED_RECORD, 0
    walk = walk_headers(path, following, size=size, open_fn=open_fn)
    return BAD_DATA_CRC, walk.records + walk.resumed
