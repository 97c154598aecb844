"""TensorBoard scalar summaries that need no `tensorboard` package.

`tf.summary.scalar` is implemented in `tensorboard` (not a TensorFlow 2.21
dependency); this writes the same event records (scalar plugin metadata,
float32 tensor) with TensorFlow's own `tf.summary.write`.
"""

import tensorflow as tf
from tensorflow.core.framework import summary_pb2


def _scalar_metadata():
    metadata = summary_pb2.SummaryMetadata()
    metadata.plugin_data.plugin_name = "scalars"
    metadata.data_class = summary_pb2.DATA_CLASS_SCALAR
    return metadata


def write_scalar(name, value, step):
    """Writes one scalar to the default summary writer at `step`.

    Example:
        >>> with tf.summary.create_file_writer(logdir).as_default():
        ...     write_scalar("loss", 0.5, step=10)
    """
    return tf.summary.write(
        tag=name,
        tensor=tf.constant(value, tf.float32),
        step=step,
        metadata=_scalar_metadata(),
    )


def read_scalars(logdir):
    """All scalars in the event files under `logdir`: {tag: [(step, v)]}.

    Example:
        >>> read_scalars("/tmp/run/train")["loss"][-1]
    """
    values = {}
    for path in sorted(tf.io.gfile.glob(f"{logdir}/events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.HasField("tensor"):
                    number = float(tf.make_ndarray(value.tensor))
                else:
                    number = float(value.simple_value)
                values.setdefault(value.tag, []).append((event.step, number))
    return values
