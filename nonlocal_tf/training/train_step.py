"""The distributed training step: forward, loss, gradients, update."""

import tensorflow as tf

from nonlocal_tf.training import losses


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
    per_example = losses.per_example_loss(
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
        hits = losses.top1_hits(
            labels, predictions, multi_label=config.multi_label
        )
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
