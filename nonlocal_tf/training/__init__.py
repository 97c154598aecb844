"""Training and evaluation of video classifiers with `tf.distribute`.

TensorFlow-only. Takes a model builder and a dataset factory; never imports
the model zoo (programs resolve zoo names and data paths).

The names below are imported on first use (`nonlocal_tf.lazy_imports`), like
the other packages that pull TensorFlow (`data`, `export`): importing the
light module of this package (`results`) does not load TensorFlow or Keras.

Where things are: `task.py` (model + datasets + train/evaluate of one job),
`trainer.py` (the training loop, its progress log and summaries), `step.py`
(one distributed step and its loss), `optimizer.py` (momentum SGD and the
learning-rate schedules), `strategy.py` (the `tf.distribute` strategy and
this worker's place), `inputs.py` (the per-worker training input),
`data_service.py` (input on the tf.data service), `peers.py` (a lost worker
of a multi-worker job: a bounded wait, an error naming it), `checkpointing.py`
(exact resume), `config.py` (`TrainConfig`), `evaluation.py` (multi-view
scoring), `results.py` (metrics from per-view scores, and metrics.json,
per_class.csv, predictions.csv).

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
        "write_metrics_json": ".results",
        "write_per_class_csv": ".results",
        "write_predictions_csv": ".results",
        "per_example_loss": ".step",
        "average_precision": ".results",
        "mean_average_precision": ".results",
        "top_k_accuracy": ".results",
        "MomentumSGD": ".optimizer",
        "build_optimizer": ".optimizer",
        "weight_decay_exclusions": ".optimizer",
        "StepSchedule": ".optimizer",
        "WarmupCosineSchedule": ".optimizer",
        "build_schedule": ".optimizer",
        "PeerLostError": ".peers",
        "WorkerInfo": ".strategy",
        "create_strategy": ".strategy",
        "worker_info": ".strategy",
        "VideoClassificationTask": ".task",
        "TrainResult": ".trainer",
        "read_run_config": ".trainer",
        "model_dir_lock": ".trainer",
        "train": ".trainer",
    },
)
