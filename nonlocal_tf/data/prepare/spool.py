"""A video's JPEG frames in a local file, as its record will hold them.

A record holds a whole video (one `SequenceExample`), so a 10-minute video's
frames would otherwise be held in memory three or four times over: the
worker's list, its pickled result, the parent's `SequenceExample` and its
serialization. Instead the worker appends each frame to a `FrameSpool` file
in the protobuf wire format of the record's `image/encoded` feature list,
and hands back only the file's name, frame count and size; the writer then
streams the record into the shard: `record_head` (the context and the
lengths before the frames) followed by the file's bytes
(`framing.StreamedRecord`). The record's bytes are those of
`SequenceExample.SerializeToString(deterministic=True)`.

The wire format, for a record with context `C` and frames `J_i`
(tag bytes 0x0A = field 1, 0x12 = field 2, both length-delimited;
`n(x)` = the varint length of `x`):

    SequenceExample: 0A n(C) C  12 n(L) L
      L, FeatureLists:  0A n(E) E
      E, map entry:     0A n(key) key  12 n(F) F      (key "image/encoded")
      F, FeatureList:   for each frame: 0A n(G_i) G_i
      G_i, Feature:     0A n(B_i) B_i                 (bytes_list)
      B_i, BytesList:   0A n(J_i) J_i

A spool file holds `F`. TensorFlow-free: the decoding workers write it.
"""

import os
import tempfile


def varint(value):
    """`value` (>= 0) as a protobuf varint."""
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        if value:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def _field(data):
    """Field 1, length-delimited, holding `data`."""
    return b"\x0a" + varint(len(data)) + data


def frame_entry(jpeg):
    """One frame as the feature list holds it (`0A n(G) G` above)."""
    return _field(_field(_field(bytes(jpeg))))


def record_head(context, key, frames_size):
    """The bytes of a record before its spooled frames.

    Args:
        context: the serialized `tf.train.Features` of the context.
        key: the feature list's key, e.g. "image/encoded".
        frames_size: the spool's size (`FrameSpool.size`).

    Returns:
        bytes; `record_head(...) + spool bytes` is the serialized
        `SequenceExample`.

    Example:
        >>> record_head(b"", "image/encoded", 0)
        b'\\n\\x00\\x12\\x13\\n\\x11\\n\\rimage/encoded\\x12\\x00'
    """
    key = key.encode("utf-8")
    entry_head = b"\x0a" + varint(len(key)) + key + b"\x12"
    entry_head += varint(frames_size)
    entry_size = len(entry_head) + frames_size
    lists_head = b"\x0a" + varint(entry_size)
    lists_size = len(lists_head) + entry_size
    return (
        b"\x0a"
        + varint(len(context))
        + context
        + b"\x12"
        + varint(lists_size)
        + lists_head
        + entry_head
    )


class FrameSpool:
    """JPEG frames appended to a local file in the record's wire format.

    Used as `video.encode_video_jpeg(..., frames=spool)`: it takes frames
    with `append` and counts them with `len`. Pickles as its file name,
    count and size (the worker sends it back closed).

    Attributes:
        path: the file.
        size: bytes written.

    Example:
        >>> spool = FrameSpool.create("/tmp")
        >>> spool.append(b"\\xff\\xd8...")
        >>> spool.close()
        >>> len(spool), spool.size
        (1, 11)
        >>> spool.discard()
    """

    def __init__(self, path):
        self.path = os.fspath(path)
        self.size = 0
        self._count = 0
        self._file = open(self.path, "wb")  # noqa: SIM115 - closed by close()

    @classmethod
    def create(cls, directory):
        """A new, empty spool file in `directory`."""
        fd, path = tempfile.mkstemp(suffix=".frames", dir=directory)
        os.close(fd)
        return cls(path)

    def append(self, jpeg):
        """Adds one frame's JPEG bytes."""
        entry = frame_entry(jpeg)
        self._file.write(entry)
        self.size += len(entry)
        self._count += 1

    def __len__(self):
        return self._count

    def close(self):
        """Flushes the file; the spool keeps its count and size."""
        if self._file is not None:
            self._file.close()
            self._file = None

    def discard(self):
        """Closes and removes the file."""
        self.close()
        if os.path.exists(self.path):
            os.remove(self.path)

    def chunks(self, chunk_size=1 << 20):
        """Yields the file's bytes in chunks, then removes the file."""
        self.close()
        try:
            with open(self.path, "rb") as f:
                while chunk := f.read(chunk_size):
                    yield chunk
        finally:
            self.discard()

    def __getstate__(self):
        state = dict(self.__dict__)
        if state["_file"] is not None:
            raise ValueError(f"close the spool {self.path} before sending it")
        return state
