"""The training loop: `strategy.run` steps, exact resume, summaries, weights.

`model.fit` is not used: Keras 3's `BackupAndRestore` resumes only at epoch
boundaries, knows nothing of workers, and neither it nor `fit` saves the
input position, so a killed run could not end with the same weights as an
uninterrupted one.

Progress goes to TensorBoard, the log and a progress bar (`IntervalLogger`,
interval averages). `tf.summary.scalar` is implemented in `tensorboard` (not
a TensorFlow 2.21 dependency); `write_scalar` writes the same event records
(scalar plugin metadata, float32 tensor) with TensorFlow's own
`tf.summary.write`, and `read_scalars` reads them back.
"""

import contextlib
import dataclasses
import os
import time

import keras
import tensorflow as tf
from absl import logging
from tensorflow.core.framework import summary_pb2

from nonlocal_tf import locks
from nonlocal_tf.data import integrity
from nonlocal_tf.models import fine_tuning
from nonlocal_tf.training import checkpointing
from nonlocal_tf.training import config as config_lib
from nonlocal_tf.training import inputs
from nonlocal_tf.training import optimizer as optimizer_lib
from nonlocal_tf.training import peers
from nonlocal_tf.training import step as step_lib
from nonlocal_tf.training import strategy as strategy_lib

# Keys whose change between a run and its restart does not change results.
_COSMETIC_KEYS = ("progress_bar", "log_every_steps", "extra")


@dataclasses.dataclass
class TrainResult:
    """What `train` returns.

    Attributes:
        model: The trained model (variables live in the strategy's scope).
        optimizer: Its optimizer (`iterations` counts applied updates).
        step: Optimizer steps done (== `config.train_steps`).
        resumed_from: Step of the checkpoint the run continued from, or None.
        history: One dict per log interval run in this process (`step`,
            `loss`, `accuracy`, `learning_rate`, `examples_per_second`).
        weights_path: `model_dir/final.weights.h5` (written by the chief).
    """

    model: keras.Model
    optimizer: keras.optimizers.Optimizer
    step: int
    resumed_from: int | None
    history: list
    weights_path: str


def _barrier_fn(strategy, info):
    if info.num_workers == 1:
        return None

    @tf.function
    def barrier():
        values = strategy.run(lambda: tf.constant(1.0))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, values, axis=None)

    return lambda: barrier().numpy()


def build_schedule(config):
    """The learning-rate schedule of `config` (a `TrainConfig`)."""
    return optimizer_lib.build_schedule(
        config.schedule,
        base_learning_rate=config.base_learning_rate,
        total_steps=config.train_steps,
        boundaries=config.lr_boundaries,
        factor=config.lr_factor,
        warmup_steps=config.warmup_steps,
        warmup_start_learning_rate=config.warmup_start_learning_rate,
        end_learning_rate=config.end_learning_rate,
    )


def _record_config(config, info, global_batch_size, resumed_from, model):
    previous = config_lib.read_config(config.model_dir)
    if previous is not None and resumed_from is not None:
        current = config.to_dict()
        changed = sorted(
            key
            for key in set(previous) | set(current)
            if key not in _COSMETIC_KEYS + config_lib.RECORD_KEYS
            and previous.get(key) != current.get(key)
        )
        if changed:
            logging.warning(
                "Resuming %s with a changed configuration (%s); the result "
                "will differ from an uninterrupted run.",
                config.model_dir,
                ", ".join(
                    f"{k}: {previous.get(k)!r} -> {current.get(k)!r}"
                    for k in changed
                ),
            )
    config_lib.write_config(
        config,
        {
            "num_workers": info.num_workers,
            "num_replicas": info.num_replicas,
            "global_batch_size": global_batch_size,
            "tensorflow_version": tf.__version__,
            "keras_version": keras.__version__,
        },
        clip_spec=getattr(model, "clip_spec", None),
    )


def train(
    config,
    model_fn,
    dataset_fn,
    *,
    strategy=None,
    initial_weights=None,
    callbacks=(),
):
    """Trains `model_fn()` on `dataset_fn` as `config` says; resumes if it can.

    Running the same call again after a crash or kill (any point) continues
    from the latest checkpoint in `config.model_dir`, with the same data
    order and random streams, and ends with the same weights as an
    uninterrupted run (bit-exact with `config.deterministic`, up to float
    reduction order otherwise). A finished run re-run is a no-op apart from
    re-writing the final weights. One run at a time per `config.model_dir`
    (`model_dir_lock`): a second is refused before anything is built.

    Args:
        config: A `TrainConfig`.
        model_fn: Returns a *built* Keras model (called in the strategy's
            scope, after the dtype policy is set). Dropout is the model's.
        dataset_fn: `fn(input_context) -> tf.data.Dataset` of
            `(clips (B, T, H, W, 3), labels)` with
            `B = input_context.get_per_replica_batch_size(global_batch)`,
            sharded with `input_context` when it has several pipelines.
            It is repeated by `train`. Random augmentation must be
            checkpointable (stateless ops, `tf.data.Dataset.random`) for an
            exact resume.
        strategy: A `tf.distribute.Strategy`; default
            `create_strategy(config.strategy)`. Create it at program start.
            With several workers, `config.model_dir` must be on a file system
            they all see (the chief writes the shared state there).
        initial_weights: Applied on a fresh start (not on resume): a callable
            `fn(model)`, e.g. `lambda m: zoo.load_weights(m, source)` (a zoo
            checkpoint, a `*.weights.h5` file, a previous run's directory) or
            2D->3D inflation.
        callbacks: Callables `fn(step, logs)` run on the host after every
            step (`logs` has `loss`, `accuracy` of that step).

    Returns:
        A `TrainResult`.

    Raises:
        nonlocal_tf.locks.LockedError: another process trains in
            `config.model_dir` (the message names it).
        nonlocal_tf.training.peers.PeerLostError: a worker of a multi-worker
            job was lost mid-run (the message names it, its address and the
            checkpoint a restarted job resumes from).

    Example:
        >>> strategy = create_strategy("mirrored")
        >>> config = TrainConfig(model_dir="/tmp/run",
        ...                      batch_size_per_replica=8, train_steps=1000)
        >>> result = train(config, lambda: build_model(), dataset_fn,
        ...                strategy=strategy)
    """
    if strategy is None:
        strategy = strategy_lib.create_strategy(config.strategy)
    with model_dir_lock(config.model_dir, strategy_lib.worker_info(strategy)):
        keras.utils.set_random_seed(config.seed)
        if config.deterministic:
            tf.config.experimental.enable_op_determinism()
        previous_policy = keras.config.dtype_policy()
        keras.config.set_dtype_policy(config.mixed_precision)
        try:
            return _train(
                config,
                model_fn,
                dataset_fn,
                strategy,
                initial_weights,
                callbacks,
            )
        finally:
            keras.config.set_dtype_policy(previous_policy)


@contextlib.contextmanager
def model_dir_lock(model_dir, info):
    """The chief's lock on a run's directory (`nonlocal_tf.locks`).

    One training run at a time per `model_dir`: a second one is refused with
    `locks.LockedError`, naming the holder. Only the chief takes it: the
    other workers of a multi-worker job share the directory with it.
    Re-entrant, so a program may hold it around `train`.

    Args:
        model_dir: the run's directory.
        info: this process's `WorkerInfo`.

    Example:
        >>> with model_dir_lock("/runs/c2d", worker_info(strategy)):
        ...     result = train(config, model_fn, dataset_fn)
    """
    if not info.is_chief:
        yield False
        return
    with locks.hold(model_dir, "training") as held:
        yield held


@dataclasses.dataclass
class TrainingStep:
    """The parts of a run that one optimizer step needs (`build_training_step`).

    Attributes:
        model: The built model (in the strategy's scope).
        optimizer: Its `MomentumSGD` (or `LossScaleOptimizer` around it).
        data: The `inputs.WorkerInput` feeding the replicas.
        step: `step() -> (loss, hits, count)`, the compiled step.
        schedule: The learning-rate schedule.
        info: This worker's `WorkerInfo`.
        global_batch_size: Examples per step over all replicas.
        loss_scaling: Whether the optimizer scales the loss.
    """

    model: keras.Model
    optimizer: keras.optimizers.Optimizer
    data: inputs.WorkerInput
    step: object
    schedule: object
    info: strategy_lib.WorkerInfo
    global_batch_size: int
    loss_scaling: bool


def build_training_step(config, model_fn, dataset_fn, strategy):
    """The model, optimizer, input and compiled step `train` runs.

    Call with the run's dtype policy set (`train` does). Benchmarks use it
    to time exactly the step of a run.

    Args:
        config: A `TrainConfig`.
        model_fn: Returns a built Keras model (called in the scope).
        dataset_fn: `fn(input_context) -> tf.data.Dataset` (see `train`).
        strategy: The `tf.distribute.Strategy`.

    Returns:
        A `TrainingStep`.
    """
    info = strategy_lib.worker_info(strategy)
    global_batch_size = config.batch_size_per_replica * info.num_replicas
    loss_scaling = config.mixed_precision == "mixed_float16"
    schedule = build_schedule(config)
    model, optimizer = _build_model_and_optimizer(
        config, model_fn, strategy, schedule, loss_scaling
    )
    data = inputs.WorkerInput(dataset_fn, global_batch_size, info)
    step = step_lib.make_train_step(
        config,
        model,
        optimizer,
        data,
        strategy,
        global_batch_size,
        loss_scaling,
    )
    return TrainingStep(
        model=model,
        optimizer=optimizer,
        data=data,
        step=step,
        schedule=schedule,
        info=info,
        global_batch_size=global_batch_size,
        loss_scaling=loss_scaling,
    )


def _train(config, model_fn, dataset_fn, strategy, initial_weights, callbacks):
    built = build_training_step(config, model_fn, dataset_fn, strategy)
    info, model = built.info, built.model
    logging.info(
        "Training on %d replica(s) (%d worker(s), this is worker %d%s); "
        "global batch %d.",
        info.num_replicas,
        info.num_workers,
        info.worker_index,
        ", chief" if info.is_chief else "",
        built.global_batch_size,
    )
    checkpoint = checkpointing.RunCheckpoint(
        config.model_dir,
        model,
        built.optimizer,
        built.data.checkpoint_iterator,
        info,
        max_to_keep=config.max_checkpoints,
        barrier=_barrier_fn(strategy, info),
    )
    resumed_from = _restore_or_initialise(
        checkpoint, model, strategy, initial_weights
    )
    if info.is_chief:
        _record_config(
            config, info, built.global_batch_size, resumed_from, model
        )
        checkpointing.save_model_config(model, config.model_dir)

    logger = IntervalLogger(
        config, info, built.global_batch_size, built.schedule
    )
    try:
        step = _run_steps(
            config,
            built.step,
            built.optimizer if built.loss_scaling else None,
            checkpoint,
            logger,
            callbacks,
            start=resumed_from or 0,
        )
    except peers.PEER_FAILURES as error:
        lost = peers.lost_peer_error(
            strategy,
            error,
            checkpoint.latest_state(),
            step=int(built.optimizer.iterations.numpy()),
        )
        if lost is None:
            raise
        raise lost from error
    finally:
        logger.close()
    weights_path = os.path.join(config.model_dir, checkpointing.FINAL_WEIGHTS)
    if info.is_chief:
        checkpointing.save_final_weights(model, config.model_dir)
        logging.info("Final weights: %s", weights_path)
    return TrainResult(
        model=model,
        optimizer=built.optimizer,
        step=step,
        resumed_from=resumed_from,
        history=logger.history,
        weights_path=weights_path,
    )


def _build_model_and_optimizer(
    config, model_fn, strategy, schedule, loss_scaling
):
    with strategy.scope():
        model = model_fn()
        if not isinstance(model, keras.Model) or not model.built:
            raise ValueError(
                "model_fn must return a built keras.Model (give it an input "
                f"shape); got {model!r}"
            )
        frozen = fine_tuning.freeze(model, config.freeze)
        if frozen:
            logging.info(
                "Frozen (%s): %d layers, %d trainable variables left.",
                config.freeze,
                len(frozen),
                len(model.trainable_variables),
            )
        optimizer = optimizer_lib.build_optimizer(
            model,
            schedule,
            head_variables=fine_tuning.head_variables(model),
            head_learning_rate_multiplier=config.head_learning_rate_multiplier,
            momentum=config.momentum,
            nesterov=config.nesterov,
            weight_decay=config.weight_decay,
            decay_norm=config.decay_norm,
            decay_bias=config.decay_bias,
            loss_scaling=loss_scaling,
        )
    excluded = optimizer_lib.weight_decay_exclusions(
        model,
        exclude_norm=not config.decay_norm,
        exclude_bias=not config.decay_bias,
    )
    logging.info(
        "Weight decay %g on %d of %d trainable variables (%d normalization "
        "parameters / biases excluded).",
        config.weight_decay,
        len(model.trainable_variables) - len(excluded),
        len(model.trainable_variables),
        len(excluded),
    )
    return model, optimizer


def _restore_or_initialise(checkpoint, model, strategy, initial_weights):
    """Restores the latest checkpoint (its step) or applies initial weights."""
    resumed_from = checkpoint.restore()
    if resumed_from is None:
        if initial_weights is not None:
            with strategy.scope():
                initial_weights(model)
    else:
        logging.info(
            "Resuming from step %d (%s).",
            resumed_from,
            checkpoint.latest_state(),
        )
    return resumed_from


def _run_steps(
    config, train_step, scaled_optimizer, checkpoint, logger, callbacks, start
):
    """Steps from `start` to `config.train_steps`, epoch by epoch; the last.

    Checkpoints every `checkpoint_every_steps` and at each epoch's end;
    `scaled_optimizer` (or None) reports its dynamic loss scale.
    """
    steps_per_epoch = config.steps_per_epoch
    step = start
    while step < config.train_steps:
        epoch, step_in_epoch = divmod(step, steps_per_epoch)
        steps_in_epoch = min(
            steps_per_epoch, config.train_steps - epoch * steps_per_epoch
        )
        logger.start_epoch(epoch, step_in_epoch, steps_in_epoch)
        while step_in_epoch < steps_in_epoch:
            try:
                loss, hits, count = train_step()
            except tf.errors.OutOfRangeError as error:
                raise ValueError(
                    "The training dataset produced no elements (step "
                    f"{step + 1})."
                ) from error
            step += 1
            step_in_epoch += 1
            loss, hits, count = float(loss), float(hits), float(count)
            loss_scale = (
                None
                if scaled_optimizer is None
                else float(scaled_optimizer.dynamic_scale.numpy())
            )
            logger.step(step, step_in_epoch, loss, hits, count, loss_scale)
            step_logs = {"loss": loss, "accuracy": hits / max(count, 1.0)}
            for callback in callbacks:
                callback(step, step_logs)
            if (
                step % config.checkpoint_every_steps == 0
                or step_in_epoch == steps_in_epoch
            ):
                checkpoint.save(step)
    return step


def read_run_config(model_dir):
    """The `TrainConfig` recorded in `model_dir/config.json` (or None)."""
    values = config_lib.read_config(model_dir)
    return None if values is None else config_lib.TrainConfig.from_dict(values)


# ---------------------------------------------------------------- progress
# Interval averages to TensorBoard, the log and a bar.


def _scalar_metadata():
    metadata = summary_pb2.SummaryMetadata()
    metadata.plugin_data.plugin_name = "scalars"
    metadata.data_class = summary_pb2.DATA_CLASS_SCALAR
    return metadata


def write_scalar(name, value, step):
    """Writes one scalar to the default summary writer at `step`.

    Example:
        >>> with tf.summary.create_file_writer(logdir).as_default():
        ...     write_scalar("loss", 0.5, step=10)
    """
    return tf.summary.write(
        tag=name,
        tensor=tf.constant(value, tf.float32),
        step=step,
        metadata=_scalar_metadata(),
    )


def read_scalars(logdir):
    """All scalars in the event files under `logdir`: {tag: [(step, v)]}.

    Example:
        >>> read_scalars("/tmp/run/train")["loss"][-1]
    """
    values = {}
    for path in sorted(tf.io.gfile.glob(f"{logdir}/events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.HasField("tensor"):
                    number = float(tf.make_ndarray(value.tensor))
                else:
                    number = float(value.simple_value)
                values.setdefault(value.tag, []).append((event.step, number))
    return values


class IntervalLogger:
    """Interval averages to TensorBoard, absl logging and a progress bar.

    Only the chief writes summaries and shows the bar; every worker keeps
    `history`.

    Args:
        config: The run's `TrainConfig` (`log_every_steps`, `train_steps`,
            `epochs`, `progress_bar`, `model_dir`).
        info: The `WorkerInfo` of this process.
        global_batch_size: Examples per step over all replicas.
        schedule: The learning-rate schedule (logged per interval).
    """

    def __init__(self, config, info, global_batch_size, schedule):
        self._config = config
        self._chief = info.is_chief
        self._global_batch_size = global_batch_size
        self._schedule = schedule
        self._writer = None
        if self._chief:
            self._writer = tf.summary.create_file_writer(
                os.path.join(config.model_dir, "train")
            )
        self._progbar = None
        self.history = []
        self._reset(time.perf_counter())

    def _reset(self, now):
        self._loss = self._hits = self._count = 0.0
        self._steps = 0
        self._start = now

    def start_epoch(self, epoch, step_in_epoch, steps_in_epoch):
        if not (self._chief and self._config.progress_bar):
            return
        print(f"Epoch {epoch + 1}/{self._config.epochs}", flush=True)
        self._progbar = keras.utils.Progbar(
            steps_in_epoch, stateful_metrics=["loss", "accuracy", "lr"]
        )
        if step_in_epoch:
            self._progbar.update(step_in_epoch)

    def step(self, step, step_in_epoch, loss, hits, count, loss_scale):
        self._loss += loss
        self._hits += hits
        self._count += count
        self._steps += 1
        learning_rate = float(self._schedule(step - 1))
        if self._progbar is not None:
            self._progbar.update(
                step_in_epoch,
                values=[
                    ("loss", self._loss / self._steps),
                    ("accuracy", self._hits / max(self._count, 1.0)),
                    ("lr", learning_rate),
                ],
            )
        config = self._config
        if step % config.log_every_steps and step != config.train_steps:
            return None
        now = time.perf_counter()
        logs = {
            "step": step,
            "loss": self._loss / self._steps,
            "accuracy": self._hits / max(self._count, 1.0),
            "learning_rate": learning_rate,
            "examples_per_second": self._global_batch_size
            * self._steps
            / max(now - self._start, 1e-9),
        }
        if loss_scale is not None:
            logs["loss_scale"] = loss_scale
        logs.update(integrity.loss_logs())  # records lost to bad data
        self.history.append(logs)
        if self._writer is not None:
            with self._writer.as_default(step=step):
                for name, value in logs.items():
                    if name != "step":
                        write_scalar(name, value, step)
            self._writer.flush()
        if self._progbar is None:
            logging.info(
                "step %d/%d: %s",
                step,
                config.train_steps,
                ", ".join(
                    f"{k}={v:.4g}" for k, v in logs.items() if k != "step"
                ),
            )
        self._reset(now)
        return logs

    def close(self):
        if self._writer is not None:
            self._writer.close()
