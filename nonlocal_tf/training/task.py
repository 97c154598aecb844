"""One video classification job: its model, its data and its training run.

The task is what `scripts/train.py`, `scripts/evaluate.py` and the demo have
in common (TF Model Garden's `VideoClassificationTask` plays the same part):
the model's `ClipSpec` decides the clips of both the training input and the
multi-view test input, so a program states the model once and the data
follows.

Example:
    >>> task = VideoClassificationTask(
    ...     model_fn=lambda shape: zoo.get_model("C2D_NLN_8x8_R50",
    ...                                          input_shape=shape,
    ...                                          num_classes=10),
    ...     clip_spec=zoo.get_entry("C2D_NLN_8x8_R50").clip_spec,
    ...     train_records="records/train-*", val_records="records/val-*",
    ...     num_classes=10)
    >>> result = task.train(TrainConfig(model_dir="runs/c2d",
    ...                                 batch_size_per_replica=8,
    ...                                 train_steps=1000))
    >>> evaluated = task.evaluate(result.model)
    >>> task.write_results(evaluated, "runs/c2d/eval")
"""

import dataclasses
import os
from collections.abc import Callable

from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.data import pipeline
from nonlocal_tf.training import data_service as data_service_lib
from nonlocal_tf.training import evaluation
from nonlocal_tf.training import results
from nonlocal_tf.training import strategy as strategy_lib
from nonlocal_tf.training import trainer


@dataclasses.dataclass
class VideoClassificationTask:
    """Model, datasets and the train / evaluate calls of one job.

    Attributes:
        model_fn: `fn(input_shape) -> keras.Model`, a built model taking
            clips of `input_shape` `(T, H, W, 3)` (None entries allowed).
        clip_spec: the model's `ClipSpec`: frames, sampling, crops, views,
            normalisation of both datasets.
        train_records: training TFRecord pattern.
        val_records: test/validation TFRecord pattern.
        num_classes: classes of the labels (checked against the records).
        multi_label: multi-hot labels (sigmoid head, mAP).
        class_names: names for the per-class tables.
        seed: seed of the training input order and augmentation.
    """

    model_fn: Callable
    clip_spec: ClipSpec
    train_records: str | None = None
    val_records: str | None = None
    num_classes: int | None = None
    multi_label: bool = False
    class_names: list | None = None
    seed: int = 0

    def __post_init__(self):
        self.clip_spec = ClipSpec.from_dict(self.clip_spec)

    def build_model(self, mode="train"):
        """The model for training clips (static shape) or test views."""
        spec = self.clip_spec
        if mode == "train":
            return self.model_fn(spec.train_input_shape)
        return self.model_fn((spec.num_frames, None, None, 3))

    def build_inputs(self, input_context, global_batch_size):
        """The training `tf.data.Dataset` of one input pipeline.

        Args:
            input_context: the `tf.distribute.InputContext` of the pipeline.
            global_batch_size: clips per step over all replicas.
        """
        if not self.train_records:
            raise ValueError("The task has no train_records to train on")
        return pipeline.build_dataset(
            self.train_records,
            self.clip_spec,
            mode="train",
            num_classes=self.num_classes,
            multi_label=self.multi_label,
            batch_size=input_context.get_per_replica_batch_size(
                global_batch_size
            ),
            input_context=input_context,
            seed=self.seed,
            shuffle=True,
            repeat=True,
        )

    def build_test_inputs(self, records=None, batch_size=1):
        """All test views of each video of `records` (default val), once."""
        records = records or self.val_records
        if not records:
            raise ValueError("The task has no records to evaluate on")
        return pipeline.build_dataset(
            records,
            self.clip_spec,
            mode="test",
            num_classes=self.num_classes,
            multi_label=self.multi_label,
            batch_size=batch_size,
            shuffle=False,
            repeat=False,
        )

    def train(
        self,
        config,
        *,
        strategy=None,
        initial_weights=None,
        data_service=None,
        **kwargs,
    ):
        """`nonlocal_tf.training.train` on this task's model and inputs.

        `data_service` (`grpc://host:port`) runs the input pipeline on a
        tf.data service (`training.data_service`).

        Returns:
            A `TrainResult`.
        """
        if strategy is None:
            strategy = strategy_lib.create_strategy(config.strategy)
        global_batch_size = (
            config.batch_size_per_replica * strategy.num_replicas_in_sync
        )

        def dataset_fn(context):
            return self.build_inputs(context, global_batch_size)

        if data_service:
            dataset_fn = data_service_lib.service_dataset_fn(
                dataset_fn, data_service
            )
        return trainer.train(
            config,
            lambda: self.build_model("train"),
            dataset_fn,
            strategy=strategy,
            initial_weights=initial_weights,
            **kwargs,
        )

    def evaluate(self, model, records=None, *, batch_size=1, **kwargs):
        """Multi-view evaluation (`evaluation.evaluate`) of `model`.

        Returns:
            An `EvalResult`.
        """
        spec = self.clip_spec
        return evaluation.evaluate(
            model,
            self.build_test_inputs(records, batch_size),
            multi_label=self.multi_label,
            num_clips=spec.num_test_clips,
            num_crops=spec.num_test_crops,
            class_names=self.class_names,
            **kwargs,
        )

    def write_results(self, result, output_dir, setup=None, extra=None):
        """metrics.json (with the clip spec), per_class.csv, predictions.csv.

        Returns:
            The path of metrics.json.
        """
        values = {"clip_spec": self.clip_spec.to_dict()}
        if setup:
            values["setup"] = setup
        values.update(extra or {})
        path = os.path.join(output_dir, "metrics.json")
        results.write_metrics_json(result, path, values)
        results.write_per_class_csv(
            result, os.path.join(output_dir, "per_class.csv")
        )
        results.write_predictions_csv(
            result, os.path.join(output_dir, "predictions.csv")
        )
        return path
