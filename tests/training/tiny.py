"""Tiny video models and synthetic data sets shared by the training tests.

Importable from test subprocesses (`python -m tests.training.run_tiny`).
"""

import keras
import numpy as np
import tensorflow as tf

NUM_CLASSES = 5
CLIP_SHAPE = (4, 8, 8, 3)
NUM_EXAMPLES = 48


def tiny_model(*, batch_norm=False, dropout=0.0, activation="softmax"):
    """Conv3D -> (BN) -> ReLU -> global pool -> (dropout) -> Dense."""
    inputs = keras.Input(CLIP_SHAPE)
    x = keras.layers.Conv3D(6, 3, padding="same", name="conv")(inputs)
    if batch_norm:
        x = keras.layers.BatchNormalization(epsilon=1e-5, name="bn")(x)
    x = keras.layers.ReLU()(x)
    x = keras.layers.GlobalAveragePooling3D()(x)
    if dropout:
        x = keras.layers.Dropout(dropout, seed=7)(x)
    outputs = keras.layers.Dense(
        NUM_CLASSES, activation=activation, dtype="float32", name="head"
    )(x)
    return keras.Model(inputs, outputs)


def synthetic_examples(num_examples=NUM_EXAMPLES, seed=0):
    """Clips whose class is readable from the mean colour, plus labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, NUM_CLASSES, num_examples).astype(np.int64)
    clips = rng.normal(size=(num_examples,) + CLIP_SHAPE).astype(np.float32)
    clips[..., 0] += labels[:, None, None, None] - NUM_CLASSES / 2
    return clips, labels


def make_dataset_fn(global_batch_size, *, shuffle=False, augment=False, seed=0):
    """`dataset_fn(input_context)` over the synthetic examples.

    Shards by input pipeline, batches to the per-replica batch size. With
    `shuffle`/`augment`, a seeded shuffle and random flips driven by
    `tf.data.Dataset.random` (both saved in iterator checkpoints).
    """
    clips, labels = synthetic_examples(seed=seed)

    def dataset_fn(context):
        batch = context.get_per_replica_batch_size(global_batch_size)
        dataset = tf.data.Dataset.from_tensor_slices((clips, labels))
        if shuffle:
            dataset = dataset.shuffle(
                NUM_EXAMPLES, seed=seed, reshuffle_each_iteration=True
            )
        if augment:
            flips = tf.data.Dataset.random(seed=seed + 1)
            dataset = tf.data.Dataset.zip(dataset, flips).map(_random_flip)
        dataset = dataset.shard(
            context.num_input_pipelines, context.input_pipeline_id
        )
        return dataset.batch(batch, drop_remainder=True)

    return dataset_fn


def _random_flip(example, random):
    clip, label = example
    flipped = tf.reverse(clip, axis=[2])
    return tf.where(random % 2 == 0, clip, flipped), label
