"""The distributed training step: forward, loss, gradients, update.

The per-example classification losses (single-label softmax, multi-label
sigmoid) and the top-1 hits the step reports are here too.
"""

import keras
import tensorflow as tf

# ---------------------------------------------------------------- losses


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


# ---------------------------------------------------------------- step


def replica_loss(config, model, clips, labels, global_batch_size):
    """One replica's forward pass and loss (averaged over the global batch).

    Args:
        config: The run's `TrainConfig` (loss settings).
        model: The built Keras model.
        clips: The replica's clips.
        labels: Their labels.
        global_batch_size: Examples per step over all replicas.

    Returns:
        `(loss, predictions)`: the float32 loss, with the model's
        regularisation losses, and the model's outputs.
    """
    predictions = model(clips, training=True)
    per_example = per_example_loss(
        labels,
        predictions,
        multi_label=config.multi_label,
        from_logits=config.from_logits,
        label_smoothing=config.label_smoothing,
    )
    loss = tf.nn.compute_average_loss(
        per_example, global_batch_size=global_batch_size
    )
    if model.losses:
        loss += tf.nn.scale_regularization_loss(
            tf.add_n([tf.cast(x, tf.float32) for x in model.losses])
        )
    return loss, predictions


def make_train_step(
    config, model, optimizer, data, strategy, global_batch_size, loss_scaling
):
    """One distributed optimizer step as a `tf.function` of no arguments.

    Each replica computes its examples' loss averaged over the global batch
    (plus the model's regularisation losses), the gradients of the (scaled,
    under mixed_float16) loss, and applies them; the step returns the
    summed loss, top-1 hits and example count over replicas.

    Args:
        config: The run's `TrainConfig` (loss settings).
        model: The built Keras model.
        optimizer: Its optimizer (`optimizer_lib.build_optimizer`).
        data: The `inputs.WorkerInput` that feeds the replicas.
        strategy: The `tf.distribute.Strategy` the variables live in.
        global_batch_size: Examples per step over all replicas.
        loss_scaling: Whether the optimizer scales the loss.

    With `config.jit_compile`, each replica's step (not the input hand-off)
    is compiled with XLA.

    Returns:
        `train_step() -> (loss, hits, count)` scalar tensors.
    """

    def replica_step(batch):
        clips, labels = batch
        with tf.GradientTape() as tape:
            loss, predictions = replica_loss(
                config, model, clips, labels, global_batch_size
            )
            scaled_loss = optimizer.scale_loss(loss) if loss_scaling else loss
        gradients = tape.gradient(scaled_loss, model.trainable_variables)
        optimizer.apply(gradients, model.trainable_variables)
        hits = top1_hits(labels, predictions, multi_label=config.multi_label)
        count = tf.cast(tf.shape(hits)[0], tf.float32)
        return loss, tf.reduce_sum(hits), count

    if config.jit_compile:
        # XLA compiles the replica's computation; the input hand-off
        # (IteratorGetNext) has no XLA kernel and stays outside.
        replica_step = tf.function(replica_step, jit_compile=True)

    @tf.function
    def train_step():
        batch = data.distributed_next(strategy)
        results = strategy.run(replica_step, args=(batch,))
        return tuple(
            strategy.reduce(tf.distribute.ReduceOp.SUM, value, axis=None)
            for value in results
        )

    return train_step
