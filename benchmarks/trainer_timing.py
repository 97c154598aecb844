"""The trainer's step on a zoo model and in-memory clips, for benchmarks.

Shared by `benchmark_model` and `benchmark_step_breakdown`: the step they
time is the one `scripts/train.py` runs (`trainer.build_training_step`),
under the trainer's default optimizer settings.
"""

import tempfile


def zoo_model_fn(name, shape, width_per_group):
    """`model_fn()` building zoo model `name` for clips of `shape`."""
    from nonlocal_tf import zoo

    return lambda: zoo.get_model(
        name, input_shape=shape, width_per_group=width_per_group
    )


def train_config(
    batch_size, *, strategy="default", jit_compile=False, mixed_precision=None
):
    """The `TrainConfig` the benchmarks time (the paper's optimizer).

    `mixed_precision` None: the Keras dtype policy in force (build the step
    under the policy the config names).
    """
    import keras

    from nonlocal_tf.training import config as config_lib

    return config_lib.TrainConfig(
        model_dir=tempfile.gettempdir(),
        batch_size_per_replica=batch_size,
        train_steps=1,
        strategy=strategy,
        jit_compile=jit_compile,
        mixed_precision=mixed_precision or keras.config.dtype_policy().name,
    )


def build_trainer_step(config, model_fn, clips, labels, strategy):
    """`trainer.build_training_step` over `(clips, labels)`, repeated."""
    import tensorflow as tf

    from nonlocal_tf.training import trainer

    def dataset_fn(context):
        del context
        return tf.data.Dataset.from_tensors((clips, labels)).repeat()

    return trainer.build_training_step(config, model_fn, dataset_fn, strategy)


def keras_optimizer(model):
    """The trainer's optimizer for `model` (for `train_on_batch`)."""
    from nonlocal_tf.training import optimizer as optimizer_lib
    from nonlocal_tf.training import trainer

    return optimizer_lib.build_optimizer(
        model, trainer.build_schedule(train_config(1))
    )


def run_steps_host_work(step):
    """One step as `trainer._run_steps` takes it: results made floats."""
    loss, hits, count = step()
    return float(loss), float(hits), float(count)
