"""Pipeline stage 2: a record -> its frames, checked frame count and labels.

Runs next to the read of each file (`pipeline.build_dataset`): the record,
megabytes of JPEG frames, is still in cache, so parsing there costs half the
CPU of parsing in a later stage. A record that fails a check raises inside
the map; the pipeline skips, logs and counts it (`skipped.py`).
"""

import tensorflow as tf

from nonlocal_tf.data import features


def where_of(parsed, filename, index):
    return tf.strings.join(
        [
            "record ",
            tf.strings.as_string(index),
            " of ",
            filename,
            " (video '",
            parsed["video_id"],
            "')",
        ]
    )


def _checked_frames(parsed, where):
    """The frame count, asserted > 0 and equal to `video/num_frames`."""
    frames = parsed["frames"]
    count = tf.size(frames)
    declared = parsed["num_frames"]
    checks = [
        tf.debugging.Assert(count > 0, [where, "has no frames"]),
        tf.debugging.Assert(
            tf.logical_or(declared < 0, declared == tf.cast(count, tf.int64)),
            [where, "says video/num_frames =", declared, "but has", count],
        ),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(count)


def checked_jpegs(jpegs, where):
    check = tf.debugging.Assert(
        tf.reduce_all(tf.io.is_jpeg(jpegs)),
        [where, "has a frame that is not a JPEG"],
    )
    with tf.control_dependencies([check]):
        return tf.identity(jpegs)


def _labels(label_index, where, *, num_classes, multi_label, require):
    """Class index (int32, -1 when unlabelled) or multi-hot (float32)."""
    count = tf.size(label_index)
    if multi_label:
        in_range = tf.reduce_all(
            tf.logical_and(label_index >= 0, label_index < num_classes)
        )
        check = tf.debugging.Assert(
            in_range,
            [
                where,
                "has label indices",
                label_index,
                "outside [0,",
                num_classes,
                ")",
            ],
            summarize=64,
        )
        with tf.control_dependencies([check]):
            hot = tf.reduce_sum(tf.one_hot(label_index, num_classes), axis=0)
        return tf.minimum(hot, 1.0)
    checks = [
        tf.debugging.Assert(
            count <= 1,
            [
                where,
                "has",
                count,
                "labels; pass multi_label=True for multi-label data",
            ],
        )
    ]
    if require:
        checks.append(tf.debugging.Assert(count >= 1, [where, "has no label"]))
    label = tf.concat([label_index, [-1]], axis=0)[0]
    checks.append(
        tf.debugging.Assert(
            tf.logical_or(count == 0, label >= 0),
            [where, "has a negative label", label],
        )
    )
    if num_classes:
        checks.append(
            tf.debugging.Assert(
                label < num_classes,
                [where, "has label", label, ">= num_classes =", num_classes],
            )
        )
    with tf.control_dependencies(checks):
        return tf.cast(label, tf.int32)


def label_spec(settings):
    if settings.multi_label:
        return tf.TensorSpec([settings.num_classes], tf.float32)
    return tf.TensorSpec([], tf.int32)


def parsed_spec(settings):
    return {
        "frames": tf.TensorSpec([None], tf.string),
        "count": tf.TensorSpec([], tf.int32),
        "labels": label_spec(settings),
        "video_id": tf.TensorSpec([], tf.string),
        "filename": tf.TensorSpec([], tf.string),
        "index": tf.TensorSpec([], tf.int64),
    }


def parse_fn(settings):
    """Record -> frames, checked count and labels (may raise: skipped)."""

    def element(record):
        parsed = features.parse_sequence_example(record["serialized"])
        where = where_of(parsed, record["filename"], record["index"])
        return {
            "frames": parsed["frames"],
            "count": _checked_frames(parsed, where),
            "labels": _labels(
                parsed["label_index"],
                where,
                num_classes=settings.num_classes,
                multi_label=settings.multi_label,
                require=settings.training,
            ),
            "video_id": parsed["video_id"],
            "filename": record["filename"],
            "index": record["index"],
        }

    return element
