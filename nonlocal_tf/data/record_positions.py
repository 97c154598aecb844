"""Numbering the elements of a `tf.data` stream, with an end sentinel.

A gap in the positions after a map that drops failing records is a skipped
record (`skip_gaps`). At the sentinel of one file's records, the records and
bytes read are checked against the file (`records_check.shard_damage`) and
noted in a `skipped.SkippedRecords`.
"""

import tensorflow as tf
from absl import logging

from nonlocal_tf.data import record_format
from nonlocal_tf.data import records_check
from nonlocal_tf.data import skipped

# Placeholders keep tensors up to this many elements at their full shape
# (labels); larger ones (frames, clips) get a zero-sized leading dimension.
_SMALL = 1 << 16


def _note_shard_end(counter, name, filename, records_read, bytes_read):
    path = filename.numpy().decode("utf-8", "replace")
    records_read, bytes_read = (
        int(records_read.numpy()),
        int(bytes_read.numpy()),
    )
    try:
        damage = records_check.shard_damage(path, records_read, bytes_read)
    except (tf.errors.OpError, OSError) as error:
        logging.warning("%s: cannot check the end of %s: %s", name, path, error)
        damage = None
    if counter.shard_end(path, records_read, damage, name):
        logging.warning(
            "%s: damaged shard %s. The records after the damage cannot be "
            "read; check all shards with scripts/check_records.py.",
            name,
            damage.describe(),
        )
    return 0


def placeholder(spec):
    """A cheap element of the structure `spec` (a dict of `TensorSpec`)."""
    out = {}
    for key, s in spec.items():
        shape = s.shape
        if shape.is_fully_defined() and shape.num_elements() <= _SMALL:
            out[key] = tf.zeros(shape, s.dtype)
            continue
        dims = [0 if d is None else d for d in shape.as_list()]
        if dims:
            dims[0] = 0
        out[key] = tf.zeros(dims, s.dtype)
    return out


def add_positions(elements, *, finite, sentinel_values=None, shard_end=None):
    """Numbers the elements; appends a sentinel when the stream is finite.

    Args:
        elements: dataset of dicts with an int64 `index` >= 0.
        finite: whether `elements` ends (then a sentinel, `index` -1,
            follows).
        sentinel_values: optional values for the sentinel's keys (e.g. the
            `filename` that the end-of-file log line names).
        shard_end: optional `(counter, name)` when `elements` are the records
            (`serialized`) of one file (`filename`): at the sentinel, the
            records and bytes read are checked against the file
            (`records_check.shard_damage`) and noted in the counter; a
            damaged shard is logged once per process.

    Returns:
        The dicts with `position` (int64) and `sentinel` (bool) added.
    """
    if finite:
        sentinel = placeholder(elements.element_spec)
        sentinel.update(sentinel_values or {})
        sentinel["index"] = tf.constant(-1, tf.int64)
        elements = elements.concatenate(tf.data.Dataset.from_tensors(sentinel))

    in_graph = skipped.logs_in_graph()

    def number(state, element):
        position, read = state
        element = dict(element)
        element["position"] = position
        element["sentinel"] = element["index"] < 0
        if shard_end is None or in_graph:  # no py_function on a service
            return (position + 1, read), element
        counter, name = shard_end

        def note():
            return tf.py_function(
                lambda f, r, b: _note_shard_end(counter, name, f, r, b),
                [element["filename"], position, read],
                tf.int64,
            )

        done = tf.cond(
            element["sentinel"], note, lambda: tf.constant(0, tf.int64)
        )
        with tf.control_dependencies([done]):
            element["position"] = tf.identity(position)
        size = tf.cast(tf.strings.length(element["serialized"]), tf.int64)
        read += size + record_format.OVERHEAD_BYTES
        return (position + 1, read), element

    zero = tf.constant(0, tf.int64)
    return elements.scan((zero, zero), number)


def with_sentinel(fn, spec):
    """Wraps a map function: sentinels skip `fn` and get a placeholder.

    Args:
        fn: function of an element dict to a dict of structure `spec`.
        spec: dict of `TensorSpec` of `fn`'s output.

    Returns:
        A map function keeping `position` and `sentinel`.
    """

    def element(record):
        out = tf.cond(
            record["sentinel"], lambda: placeholder(spec), lambda: fn(record)
        )
        out["position"] = record["position"]
        out["sentinel"] = record["sentinel"]
        if "filename" in out and "filename" in record:
            out["filename"] = record["filename"]  # names the file at its end
        return out

    return element
