"""Training and evaluation of video classifiers with `tf.distribute`.

TensorFlow-only. Takes a model builder and a dataset factory; never imports
the model zoo (scripts resolve zoo names and data paths).

Example:
    >>> from nonlocal_tf import training
    >>> strategy = training.create_strategy("mirrored")
    >>> config = training.TrainConfig(model_dir="/tmp/run",
    ...                               batch_size_per_replica=8,
    ...                               train_steps=400000,
    ...                               lr_boundaries=[150000, 300000])
    >>> training.train(config, model_fn, dataset_fn, strategy=strategy)
"""

from nonlocal_tf.training.checkpointing import RunCheckpoint
from nonlocal_tf.training.checkpointing import load_run_weights
from nonlocal_tf.training.config import TrainConfig
from nonlocal_tf.training.evaluation import EvalResult
from nonlocal_tf.training.evaluation import SavedModelClassifier
from nonlocal_tf.training.evaluation import compute_results
from nonlocal_tf.training.evaluation import evaluate
from nonlocal_tf.training.evaluation import score_video
from nonlocal_tf.training.evaluation import unpack_test_batch
from nonlocal_tf.training.evaluation import write_metrics_json
from nonlocal_tf.training.evaluation import write_per_class_csv
from nonlocal_tf.training.evaluation import write_predictions_csv
from nonlocal_tf.training.io_utils import count_records
from nonlocal_tf.training.io_utils import label_map_beside
from nonlocal_tf.training.io_utils import resolve_class_names
from nonlocal_tf.training.losses import per_example_loss
from nonlocal_tf.training.metrics import average_precision
from nonlocal_tf.training.metrics import mean_average_precision
from nonlocal_tf.training.metrics import top_k_accuracy
from nonlocal_tf.training.optimizer import MomentumSGD
from nonlocal_tf.training.optimizer import build_optimizer
from nonlocal_tf.training.optimizer import weight_decay_exclusions
from nonlocal_tf.training.schedules import StepSchedule
from nonlocal_tf.training.schedules import WarmupCosineSchedule
from nonlocal_tf.training.schedules import build_schedule
from nonlocal_tf.training.strategy import WorkerInfo
from nonlocal_tf.training.strategy import create_strategy
from nonlocal_tf.training.strategy import worker_info
from nonlocal_tf.training.task import VideoClassificationTask
from nonlocal_tf.training.trainer import TrainResult
from nonlocal_tf.training.trainer import read_run_config
from nonlocal_tf.training.trainer import train

__all__ = [
    "EvalResult",
    "MomentumSGD",
    "RunCheckpoint",
    "SavedModelClassifier",
    "StepSchedule",
    "TrainConfig",
    "TrainResult",
    "VideoClassificationTask",
    "WarmupCosineSchedule",
    "WorkerInfo",
    "average_precision",
    "build_optimizer",
    "build_schedule",
    "compute_results",
    "count_records",
    "create_strategy",
    "evaluate",
    "label_map_beside",
    "load_run_weights",
    "mean_average_precision",
    "per_example_loss",
    "read_run_config",
    "resolve_class_names",
    "score_video",
    "top_k_accuracy",
    "train",
    "unpack_test_batch",
    "weight_decay_exclusions",
    "worker_info",
    "write_metrics_json",
    "write_per_class_csv",
    "write_predictions_csv",
]
