"""Per-example classification losses (single-label softmax, multi-label)."""

import keras
import tensorflow as tf


def per_example_loss(
    labels,
    predictions,
    *,
    multi_label=False,
    from_logits=False,
    label_smoothing=0.0,
):
    """Cross-entropy per example, in float32.

    Single-label: `labels` are class indices `(B,)`; softmax cross-entropy
    against the smoothed one-hot target `(1 - e) * onehot + e / C`.
    Multi-label: `labels` are multi-hot `(B, C)`; sigmoid cross-entropy
    against `(1 - e) * y + e / 2`, averaged over classes.

    Args:
        labels: Integer `(B,)` or multi-hot `(B, C)` labels.
        predictions: `(B, C)` probabilities or logits (`from_logits`).
        multi_label: Multi-label (sigmoid) instead of softmax.
        from_logits: `predictions` are logits.
        label_smoothing: Smoothing `e` in [0, 1).

    Returns:
        A float32 `(B,)` tensor.

    Example:
        >>> per_example_loss(tf.constant([2]), probabilities,
        ...                  label_smoothing=0.1)
    """
    predictions = tf.cast(predictions, tf.float32)
    if multi_label:
        labels = tf.cast(labels, tf.float32)
        return keras.losses.binary_crossentropy(
            labels,
            predictions,
            from_logits=from_logits,
            label_smoothing=label_smoothing,
        )
    num_classes = predictions.shape[-1]
    if num_classes is None:
        num_classes = tf.shape(predictions)[-1]
    one_hot = tf.one_hot(tf.cast(labels, tf.int32), num_classes)
    return keras.losses.categorical_crossentropy(
        one_hot,
        predictions,
        from_logits=from_logits,
        label_smoothing=label_smoothing,
    )


def top1_hits(labels, predictions, *, multi_label=False):
    """1.0 where the top-scoring class is the label (or one of the labels)."""
    top = tf.argmax(predictions, axis=-1, output_type=tf.int32)
    if multi_label:
        hit = tf.gather(tf.cast(labels, tf.float32), top, batch_dims=1)
        return tf.cast(hit > 0.5, tf.float32)
    return tf.cast(tf.equal(top, tf.cast(labels, tf.int32)), tf.float32)
