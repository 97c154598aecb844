"""The training run's configuration, saved as JSON in the model directory."""

import dataclasses
import json

import tensorflow as tf

from nonlocal_tf import fileio
from nonlocal_tf import run_files
from nonlocal_tf.models import fine_tuning
from nonlocal_tf.training import strategy as strategy_lib

PRECISION_POLICIES = ("float32", "mixed_float16", "mixed_bfloat16")
SCHEDULES = ("step", "cosine", "constant")
# Sections of config.json that record the run rather than configure it.
RECORD_KEYS = ("run", "clip_spec")


@dataclasses.dataclass
class TrainConfig:
    """Everything that determines a training run (all JSON-serialisable).

    Give either `train_steps`, or `epochs` with `steps_per_epoch`.

    Attributes:
        model_dir: Checkpoints, summaries, `config.json`, final weights.
        batch_size_per_replica: Clips per replica per step; the global batch
            is this times the number of replicas.
        train_steps: Total optimizer steps.
        epochs: Number of epochs (with `steps_per_epoch`).
        steps_per_epoch: Steps per epoch (progress bar, epoch boundaries,
            checkpoints at epoch ends). Defaults to `train_steps`.
        schedule: `"step"`, `"cosine"` or `"constant"`.
        base_learning_rate: Rate before decay (after warm-up).
        lr_boundaries: Step schedule: steps at which the rate is multiplied by
            `lr_factor`.
        lr_factor: Step schedule multiplier.
        warmup_steps: Linear warm-up length (both schedules).
        warmup_start_learning_rate: Rate at step 0 of the warm-up.
        end_learning_rate: Cosine schedule's final rate.
        momentum: SGD momentum.
        nesterov: Nesterov momentum.
        weight_decay: L2 coefficient added to the gradient (Caffe2 form).
        decay_norm: Also decay normalization parameters (default: not).
        decay_bias: Also decay biases (default: not).
        freeze: Fine-tuning: "backbone" (all but the classifier),
            "stages:stem,res2,..." (those parts) or "bn" (every batch norm,
            statistics and affine); "" trains everything.
        head_learning_rate_multiplier: The classifier's learning rate
            relative to the rest (fine-tuning a new head).
        label_smoothing: Label smoothing of the cross-entropy.
        multi_label: Labels are multi-hot (sigmoid cross-entropy).
        from_logits: The model outputs logits (else probabilities).
        mixed_precision: `"float32"`, `"mixed_float16"` (with dynamic loss
            scaling) or `"mixed_bfloat16"`.
        strategy: `"default"`, `"mirrored"` or `"multi_worker"`.
        seed: Seed for Python, NumPy and TensorFlow.
        deterministic: `tf.config.experimental.enable_op_determinism()`.
        jit_compile: Compile the training step with XLA (on a 2-core CPU
            it was slower than without; see docs/performance.md).
        checkpoint_every_steps: Checkpoint interval (also at epoch ends and
            at the end).
        max_checkpoints: Checkpoints kept.
        log_every_steps: Summary/log interval.
        progress_bar: Show a Keras progress bar on the chief.
        extra: Free-form entries recorded with the run (model name, data
            paths, initial weights, ...).

    Example:
        >>> config = TrainConfig(model_dir="/tmp/run",
        ...                      batch_size_per_replica=8, epochs=2,
        ...                      steps_per_epoch=100, lr_boundaries=[150])
    """

    model_dir: str
    batch_size_per_replica: int
    train_steps: int | None = None
    epochs: int | None = None
    steps_per_epoch: int | None = None
    schedule: str = "step"
    base_learning_rate: float = 0.01
    lr_boundaries: list = dataclasses.field(default_factory=list)
    lr_factor: float = 0.1
    warmup_steps: int = 0
    warmup_start_learning_rate: float = 0.0
    end_learning_rate: float = 0.0
    momentum: float = 0.9
    nesterov: bool = True
    weight_decay: float = 1e-4
    decay_norm: bool = False
    decay_bias: bool = False
    freeze: str = ""
    head_learning_rate_multiplier: float = 1.0
    label_smoothing: float = 0.0
    multi_label: bool = False
    from_logits: bool = False
    mixed_precision: str = "float32"
    strategy: str = "default"
    seed: int = 0
    deterministic: bool = False
    jit_compile: bool = False
    checkpoint_every_steps: int = 1000
    max_checkpoints: int = 3
    log_every_steps: int = 10
    progress_bar: bool = True
    extra: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        self.lr_boundaries = [int(b) for b in self.lr_boundaries]
        if self.batch_size_per_replica < 1:
            raise ValueError(
                "batch_size_per_replica must be >= 1, got "
                f"{self.batch_size_per_replica}"
            )
        for name in ("train_steps", "epochs", "steps_per_epoch"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be >= 1, got {value}")
        if self.train_steps is None:
            if not (self.epochs and self.steps_per_epoch):
                raise ValueError(
                    "Give train_steps, or epochs together with steps_per_epoch."
                )
            self.train_steps = self.epochs * self.steps_per_epoch
        elif self.epochs and self.steps_per_epoch:
            if self.train_steps != self.epochs * self.steps_per_epoch:
                raise ValueError(
                    f"train_steps={self.train_steps} disagrees with epochs="
                    f"{self.epochs} x steps_per_epoch={self.steps_per_epoch}"
                )
        if self.train_steps < 1:
            raise ValueError(
                f"train_steps must be >= 1, got {self.train_steps}"
            )
        if self.steps_per_epoch is None:
            self.steps_per_epoch = self.train_steps
        if self.steps_per_epoch < 1:
            raise ValueError(
                f"steps_per_epoch must be >= 1, got {self.steps_per_epoch}"
            )
        if self.epochs is None:
            self.epochs = -(-self.train_steps // self.steps_per_epoch)
        if self.schedule not in SCHEDULES:
            raise ValueError(
                f"schedule must be one of {SCHEDULES}, got {self.schedule!r}"
            )
        if self.mixed_precision not in PRECISION_POLICIES:
            raise ValueError(
                f"mixed_precision must be one of {PRECISION_POLICIES}, got "
                f"{self.mixed_precision!r}"
            )
        if self.strategy not in strategy_lib.STRATEGIES:
            raise ValueError(
                f"strategy must be one of {strategy_lib.STRATEGIES}, got "
                f"{self.strategy!r}"
            )
        fine_tuning.parse_freeze(self.freeze)
        if self.head_learning_rate_multiplier <= 0:
            raise ValueError(
                "head_learning_rate_multiplier must be > 0, got "
                f"{self.head_learning_rate_multiplier}"
            )
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ValueError(
                f"label_smoothing must be in [0, 1), got {self.label_smoothing}"
            )
        for name in ("checkpoint_every_steps", "max_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1")
        if self.log_every_steps < 1:
            raise ValueError("log_every_steps must be >= 1")

    def to_dict(self):
        return dataclasses.asdict(self)

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    @classmethod
    def from_dict(cls, values):
        values = {k: v for k, v in values.items() if k not in RECORD_KEYS}
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown TrainConfig keys: {unknown}")
        return cls(**values)

    @classmethod
    def from_json(cls, text):
        return cls.from_dict(json.loads(text))


def config_path(model_dir):
    return run_files.config_path(model_dir)


def read_config(model_dir):
    """Reads `config.json` of a run; None when there is none."""
    path = config_path(model_dir)
    if not tf.io.gfile.exists(path):
        return None
    with tf.io.gfile.GFile(path) as f:
        return json.load(f)


def write_config(config, extra_run_info=None, clip_spec=None):
    """Writes `model_dir/config.json`: `config`, the run, the clip spec.

    Args:
        config: The `TrainConfig`.
        extra_run_info: Recorded under "run" (replicas, versions).
        clip_spec: The model's effective `ClipSpec`, recorded under
            "clip_spec".
    """
    values = config.to_dict()
    if extra_run_info:
        values["run"] = extra_run_info
    if clip_spec is not None:
        values["clip_spec"] = clip_spec.to_dict()
    fileio.atomic_write_json(
        config_path(config.model_dir), values, sort_keys=True
    )
