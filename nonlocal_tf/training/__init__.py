"""Training and evaluation of video classifiers with `tf.distribute`.

TensorFlow-only. Takes a model builder and a dataset factory; never imports
the model zoo (programs resolve zoo names and data paths).

The names below are imported on first use (`nonlocal_tf.lazy_imports`), like
the other packages that pull TensorFlow (`data`, `export`): importing one
light module of this package (`results`, `metrics`, `record_counts`) does not
load TensorFlow or Keras.

Where things are: `task.py` (model + datasets + train/evaluate of one job),
`trainer.py` (the training loop), `evaluation.py` (multi-view scoring),
`results.py` (metrics from per-view scores), `result_files.py`
(metrics.json, per_class.csv, predictions.csv).

Example:
    >>> from nonlocal_tf import training
    >>> strategy = training.create_strategy("mirrored")
    >>> config = training.TrainConfig(model_dir="/tmp/run",
    ...                               batch_size_per_replica=8,
    ...                               train_steps=400000,
    ...                               lr_boundaries=[150000, 300000])
    >>> training.train(config, model_fn, dataset_fn, strategy=strategy)
"""

from nonlocal_tf import lazy_imports

__getattr__, __dir__, __all__ = lazy_imports.attach(
    __name__,
    {
        "RunCheckpoint": ".checkpointing",
        "load_run_weights": ".checkpointing",
        "TrainConfig": ".config",
        "evaluate": ".evaluation",
        "score_video": ".evaluation",
        "unpack_test_batch": ".evaluation",
        "EvalResult": ".results",
        "compute_results": ".results",
        "write_metrics_json": ".result_files",
        "write_per_class_csv": ".result_files",
        "write_predictions_csv": ".result_files",
        "per_example_loss": ".losses",
        "average_precision": ".metrics",
        "mean_average_precision": ".metrics",
        "top_k_accuracy": ".metrics",
        "MomentumSGD": ".optimizer",
        "build_optimizer": ".optimizer",
        "weight_decay_exclusions": ".optimizer",
        "StepSchedule": ".schedules",
        "WarmupCosineSchedule": ".schedules",
        "build_schedule": ".schedules",
        "WorkerInfo": ".strategy",
        "create_strategy": ".strategy",
        "worker_info": ".strategy",
        "VideoClassificationTask": ".task",
        "TrainResult": ".trainer",
        "read_run_config": ".trainer",
        "train": ".trainer",
    },
)
