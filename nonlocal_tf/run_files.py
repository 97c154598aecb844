"""The files of a training run's directory (what `training.train` writes).

TF-free, so the zoo (which rebuilds a run's model and loads its weights)
and training agree on one layout:

    <model_dir>/config.json          TrainConfig, the run, the clip spec
    <model_dir>/model.json           the model's class and config (Keras)
    <model_dir>/final.weights.h5     the trained weights (Keras)
    <model_dir>/checkpoints/         tf.train checkpoints (resume)
    <model_dir>/train/               TensorBoard summaries
    <model_dir>/eval/                metrics.json, per_class.csv, ...

Example:
    >>> model_config_path("runs/c2d")
    'runs/c2d/model.json'
"""

import os

CONFIG = "config.json"
MODEL_CONFIG = "model.json"
FINAL_WEIGHTS = "final.weights.h5"
CHECKPOINT_SUBDIR = "checkpoints"


def config_path(model_dir):
    return os.path.join(model_dir, CONFIG)


def model_config_path(model_dir):
    return os.path.join(model_dir, MODEL_CONFIG)


def final_weights_path(model_dir):
    return os.path.join(model_dir, FINAL_WEIGHTS)
