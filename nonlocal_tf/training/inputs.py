"""This worker's input pipeline, split over its local replicas.

`strategy.distribute_datasets_from_function` returns a `DistributedIterator`
that `tf.train.Checkpoint` cannot save (TF 2.21: "Checkpoint was expecting
... to be a trackable object"), so a resumed run would see different data.
Instead each worker calls `dataset_fn` once with the `InputContext` the
strategy would give it (same pipeline count, pipeline id and replica count),
owns a plain, checkpointable iterator, and hands one per-replica batch to each
of its local replicas with `experimental_distribute_values_from_function`.

A `dataset_fn` whose pipeline runs on the tf.data service
(`data_service.ServiceDatasetFn`) gives an iterator that TensorFlow cannot
save ("SaveInternal is not yet supported"); `checkpoint_iterator` is then
None and the run checkpoints no data position (see `data_service.py` for
what a resumed run sees).
"""

import tensorflow as tf
from absl import logging


def _check_element_spec(spec, per_replica_batch):
    if not (isinstance(spec, tuple) and len(spec) == 2):
        raise ValueError(
            "dataset_fn must return a tf.data.Dataset of (clips, labels) "
            f"pairs; its element_spec is {spec}"
        )
    clips, labels = spec
    if clips.shape.rank != 5:
        raise ValueError(
            "Training clips must have shape (batch, T, H, W, C); the "
            f"dataset's clips are {clips.shape}"
        )
    if labels.shape.rank not in (1, 2):
        raise ValueError(
            "Training labels must be (batch,) class indices or (batch, C) "
            f"multi-hot; the dataset's labels are {labels.shape}"
        )
    batch = clips.shape[0]
    if batch is not None and batch != per_replica_batch:
        raise ValueError(
            f"dataset_fn returned batches of {batch} clips, but the "
            f"per-replica batch is {per_replica_batch}; batch with "
            "input_context.get_per_replica_batch_size(global_batch_size)."
        )
    return batch is None


def _checkpointable(dataset):
    """`dataset`, made savable when stateful ops in it would block that.

    A dataset whose options already say `IGNORE` has been declared safe to
    checkpoint without its external state by whoever built it (as
    `build_dataset` does), so it is not warned about.
    """
    policy = tf.data.experimental.ExternalStatePolicy
    if dataset.options().experimental_external_state_policy == policy.IGNORE:
        return dataset, True
    try:
        # Serialising the graph is the check iterator saving does first.
        dataset._as_serialized_graph(external_state_policy=policy.FAIL)
        return dataset, True
    except AttributeError:  # the private hook moved: let saving decide
        return dataset, True
    except tf.errors.FailedPreconditionError as error:
        reason = str(error).split("graph:", 1)[-1].split("[Op:")[0].strip()
    logging.warning(
        "The training input pipeline has stateful ops (%s); their state is "
        "not saved with the iterator (data order and position are). If they "
        "draw random numbers, a resumed run draws different augmentations "
        "than an uninterrupted run; for an exact resume use stateless random "
        "ops (tf.random.stateless_*, seeded from tf.data.Dataset.random), as "
        "nonlocal_tf.data.build_dataset does (its py_function only counts "
        "skipped records).",
        reason,
    )
    options = tf.data.Options()
    options.experimental_external_state_policy = policy.IGNORE
    return dataset.with_options(options), False


class WorkerInput:
    """The per-worker, checkpointable training input.

    Args:
        dataset_fn: `fn(input_context) -> tf.data.Dataset` of
            `(clips, labels)` batched to the per-replica batch size.
        global_batch_size: Clips per step over all replicas.
        info: This worker's `WorkerInfo`.

    Example:
        >>> data = WorkerInput(dataset_fn, 64, worker_info(strategy))
        >>> batch = data.distributed_next(strategy)  # inside a tf.function
    """

    def __init__(self, dataset_fn, global_batch_size, info):
        self.context = tf.distribute.InputContext(
            num_input_pipelines=info.num_workers,
            input_pipeline_id=info.worker_index,
            num_replicas_in_sync=info.num_replicas,
        )
        self.per_replica_batch_size = self.context.get_per_replica_batch_size(
            global_batch_size
        )
        dataset = dataset_fn(self.context)
        if not isinstance(dataset, tf.data.Dataset):
            raise TypeError(
                "dataset_fn must return a tf.data.Dataset, got "
                f"{type(dataset).__name__}"
            )
        if _check_element_spec(
            dataset.element_spec, self.per_replica_batch_size
        ):
            logging.info(
                "Rebatching the training data to %d clips per replica "
                "(drop_remainder) since its batch size is not static.",
                self.per_replica_batch_size,
            )
            dataset = dataset.rebatch(
                self.per_replica_batch_size, drop_remainder=True
            )
        self.data_service = bool(getattr(dataset_fn, "data_service", False))
        if self.data_service:
            dataset, self.exact_resume = dataset.repeat(), False
        else:
            dataset, self.exact_resume = _checkpointable(dataset.repeat())
        self.num_local_replicas = info.num_local_replicas
        if self.num_local_replicas > 1:
            dataset = dataset.batch(
                self.num_local_replicas, drop_remainder=True
            )
        self.dataset = dataset
        self.iterator = iter(dataset)

    @property
    def checkpoint_iterator(self):
        """The iterator to checkpoint, or None (tf.data service input)."""
        return None if self.data_service else self.iterator

    def distributed_next(self, strategy):
        """Next step's input as per-replica values (call in a tf.function)."""
        element = next(self.iterator)
        local = self.num_local_replicas
        if local == 1:
            return strategy.experimental_distribute_values_from_function(
                lambda _: element
            )
        # Split on the host, so each device receives only its own batch.
        with tf.device(_host_device(strategy)):
            parts = [
                tf.nest.map_structure(lambda t, i=i: t[i], element)
                for i in range(local)
            ]
        return strategy.experimental_distribute_values_from_function(
            lambda context: parts[context.replica_id_in_sync_group % local]
        )


def _host_device(strategy):
    """The CPU of the worker that drives `strategy`'s local devices."""
    device = tf.DeviceSpec.from_string(strategy.extended.worker_devices[0])
    return device.replace(device_type="CPU", device_index=0).to_string()
