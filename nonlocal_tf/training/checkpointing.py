"""Checkpoints that let a killed run continue exactly where it was.

A run's state is split in two `tf.train.Checkpoint`s written at the same step:

* `state` (model variables, optimizer variables, step): identical on every
  worker; the chief writes it to `model_dir/checkpoints/`. Under
  `MultiWorkerMirroredStrategy` the other workers also write it, to a
  temporary directory they delete again (the procedure of TensorFlow's
  multi-worker guide), so no worker skips a collective.
* `iterator` (this worker's `tf.data` iterator): different on every worker,
  written to `model_dir/checkpoints/data/worker_<i>/`.

Each worker writes its iterator checkpoint first; after a barrier the chief
writes the state checkpoint. So whenever the state of step `s` exists, the
iterators of step `s` exist too, and a run restarted after a kill at any
point restores a consistent pair. `tf.train.CheckpointManager` writes
atomically (a crash leaves the previous checkpoint as the latest), but a
kill during a save leaves its temporary shards behind (`it-N_temp/`,
`state-N_temp/`, `checkpoint.tmp*`); a rerun removes those it owns (its own
iterator directory; the chief the state directory) before it starts.

A save that fills the disk removes its own partial files (the `_temp`
shards and a zero-length `.index`) and raises `fileio.DiskFullError`, which
names the checkpoint it was writing and the one a rerun resumes from.

Variables are checkpointed by their position in `model.variables` /
`optimizer.variables` (Keras 3 models do not expose every variable to
`tf.train.Checkpoint`, e.g. dropout seed-generator states), so a resumed run
also continues the dropout random stream.
"""

import os

import keras
import tensorflow as tf
from absl import logging

from nonlocal_tf import fileio
from nonlocal_tf.run_files import CHECKPOINT_SUBDIR
from nonlocal_tf.run_files import FINAL_WEIGHTS
from nonlocal_tf.run_files import MODEL_CONFIG


def _variables_checkpoint(variables):
    # Keyed by position: Keras paths carry session-unique name suffixes
    # (`seed_generator_1`) that change when a process builds a second model.
    children = {
        f"v{index:04d}": getattr(variable, "value", variable)
        for index, variable in enumerate(variables)
    }
    return tf.train.Checkpoint(**children)


def _step_of(path):
    return int(path.rsplit("-", 1)[1])


def remove_stale_temporaries(directory, checkpoint_name):
    """Removes what a killed save of `checkpoint_name-N` left in `directory`.

    TensorFlow writes a checkpoint's shards to `<prefix>_temp/` and merges
    them into `<prefix>.index` / `.data-*`, and the manager's `checkpoint`
    file through `checkpoint.tmp<id>`; a kill in between leaves those.

    Returns:
        The paths removed.

    Example:
        >>> remove_stale_temporaries("run/checkpoints/data/worker_0", "it")
        ['run/checkpoints/data/worker_0/it-8_temp']
    """
    patterns = (f"{checkpoint_name}-*_temp", "checkpoint.tmp*")
    removed = []
    for pattern in patterns:
        for path in tf.io.gfile.glob(os.path.join(directory, pattern)):
            if tf.io.gfile.isdir(path):
                tf.io.gfile.rmtree(path)
            else:
                tf.io.gfile.remove(path)
            removed.append(path)
    if removed:
        logging.info(
            "Removed %d leftover(s) of an interrupted checkpoint save: %s",
            len(removed),
            ", ".join(removed),
        )
    return removed


def _remove_partial_save(prefix):
    """Removes what a failed save of `prefix` (`<dir>/<name>-<step>`) wrote.

    Its `_temp` shards, and the `.index` and `.data-*` files that a merge
    which ran out of space leaves (a zero-length `.index`): the save never
    reached the manager's `checkpoint` file, so none of them is a
    checkpoint. Errors while removing are logged, not raised: the disk-full
    error that brought us here is the one to report.
    """
    directory = os.path.dirname(prefix)
    paths = [f"{prefix}_temp", f"{prefix}.index"]
    for pattern in (
        f"{prefix}.data-*",
        os.path.join(directory, "checkpoint.tmp*"),
    ):
        try:
            paths += tf.io.gfile.glob(pattern)
        except tf.errors.OpError as error:
            logging.warning("Could not list %s: %s", pattern, error)
    for path in paths:
        try:
            if tf.io.gfile.isdir(path):
                tf.io.gfile.rmtree(path)
            elif tf.io.gfile.exists(path):
                tf.io.gfile.remove(path)
        except (OSError, tf.errors.OpError) as error:
            logging.warning("Could not remove %s: %s", path, error)


class RunCheckpoint:
    """Saves and restores a training run (state + per-worker data iterator).

    Args:
        model_dir: The run's directory.
        model: The Keras model.
        optimizer: The built optimizer.
        iterator: This worker's `tf.data` iterator, or None when its position
            cannot be saved (tf.data service input): then no data
            checkpoint is written or restored.
        info: This worker's `WorkerInfo`.
        max_to_keep: State checkpoints kept.
        barrier: Callable that blocks until all workers reach it (None with
            one worker).

    Example:
        >>> checkpoint = RunCheckpoint(model_dir, model, optimizer, it, info)
        >>> start_step = checkpoint.restore() or 0
        >>> checkpoint.save(step)
    """

    def __init__(
        self,
        model_dir,
        model,
        optimizer,
        iterator,
        info,
        *,
        max_to_keep=3,
        barrier=None,
    ):
        self._info = info
        self._barrier = barrier
        self.directory = os.path.join(model_dir, CHECKPOINT_SUBDIR)
        self._step = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._state = tf.train.Checkpoint(
            step=self._step,
            model=_variables_checkpoint(model.variables),
            optimizer=_variables_checkpoint(optimizer.variables),
        )
        self._data_dir = os.path.join(
            self.directory, "data", f"worker_{info.worker_index}"
        )
        self._data = self._data_manager = None
        if iterator is not None:
            self._data = tf.train.Checkpoint(iterator=iterator)
            self._data_manager = tf.train.CheckpointManager(
                self._data,
                self._data_dir,
                max_to_keep + 1,
                checkpoint_name="it",
            )
        # Each process cleans only what it alone writes.
        remove_stale_temporaries(self._data_dir, "it")
        if info.is_chief:
            remove_stale_temporaries(self.directory, "state")
        else:
            stale = os.path.join(
                self.directory, f".tmp_worker_{info.worker_index}"
            )
            if tf.io.gfile.exists(stale):
                tf.io.gfile.rmtree(stale)
        if info.is_chief:
            self._state_manager = tf.train.CheckpointManager(
                self._state,
                self.directory,
                max_to_keep,
                checkpoint_name="state",
            )
        else:
            self._state_manager = None

    def latest_state(self):
        """Path of the chief's latest state checkpoint, or None."""
        return tf.train.latest_checkpoint(self.directory)

    def restore(self):
        """Restores the latest checkpoint; returns its step or None."""
        latest = self.latest_state()
        if latest is None:
            return None
        step = _step_of(latest)
        data_path = os.path.join(self._data_dir, f"it-{step}")
        if self._data is None:
            logging.warning(
                "Resuming %s without a data position: the input (tf.data "
                "service) starts a new job from the top of an epoch.",
                latest,
            )
        elif not tf.io.gfile.exists(data_path + ".index"):
            raise RuntimeError(
                f"State checkpoint {latest} (step {step}) has no data-"
                f"iterator checkpoint {data_path} for worker "
                f"{self._info.worker_index}; was the run restarted with a "
                "different number of workers, or made with --data_service "
                "(which saves no data position)?"
            )
        try:
            self._state.restore(latest).assert_existing_objects_matched()
        except (AssertionError, ValueError) as error:
            raise ValueError(
                f"Checkpoint {latest} does not match the model/optimizer "
                f"built for this run: {error}"
            ) from error
        try:
            if self._data is not None:
                self._data.restore(data_path).assert_existing_objects_matched()
        except (AssertionError, ValueError, tf.errors.OpError) as error:
            raise ValueError(
                f"Data-iterator checkpoint {data_path} does not match this "
                f"run's input pipeline: {error}"
            ) from error
        if int(self._step.numpy()) != step:
            raise ValueError(
                f"Checkpoint {latest} holds step {int(self._step.numpy())}"
            )
        return step

    def save(self, step):
        """Saves the state and this worker's iterator at `step`.

        Raises:
            fileio.DiskFullError: the disk filled up. This save's partial
                files are removed; the latest checkpoint is still the
                previous one, and the message names it.
        """
        self._step.assign(step)
        if self._data_manager is not None:
            self._save(self._data_dir, "it", step, self._data_manager.save)
        if self._barrier is not None:
            self._barrier()
        if self._state_manager is not None:
            self._save(self.directory, "state", step, self._state_manager.save)
        else:
            temp = os.path.join(
                self.directory, f".tmp_worker_{self._info.worker_index}"
            )
            try:
                with fileio.disk_full_as(temp, self._resume_hint):
                    self._state.write(os.path.join(temp, "state"))
            finally:
                if tf.io.gfile.exists(temp):
                    tf.io.gfile.rmtree(temp)

    def _save(self, directory, name, step, save):
        prefix = os.path.join(directory, f"{name}-{step}")
        try:
            with fileio.disk_full_as(prefix, self._resume_hint):
                save(checkpoint_number=step)
        except fileio.DiskFullError:
            _remove_partial_save(prefix)
            raise

    def _resume_hint(self):
        latest = self.latest_state()
        if latest is None:
            return (
                "no checkpoint saved yet; free space and rerun: training "
                "starts again from step 0"
            )
        return (
            "free space and rerun: training resumes from step "
            f"{_step_of(latest)}, {latest}"
        )


def load_run_weights(model, run_dir):
    """Loads a training run's weights into a freshly built `model`.

    Args:
        model: The built model (the run's architecture).
        run_dir: The run's directory: its `final.weights.h5`, else the
            model part of its latest checkpoint (a run that was stopped).

    Returns:
        The path read.

    Raises:
        FileNotFoundError: the directory has neither.
        ValueError: the weights do not fit `model`.

    Example:
        >>> load_run_weights(model, "/runs/kinetics_c2d/")
    """
    final = os.path.join(run_dir, FINAL_WEIGHTS)
    if tf.io.gfile.exists(final):
        try:
            model.load_weights(final)
        except ValueError as error:
            raise ValueError(
                f"{final} does not fit model '{model.name}': {error}"
            ) from error
        return final
    latest = tf.train.latest_checkpoint(
        os.path.join(run_dir, CHECKPOINT_SUBDIR)
    )
    if latest is None:
        raise FileNotFoundError(
            f"{run_dir} has no {FINAL_WEIGHTS} and no checkpoint (not a "
            "training run directory, or a run that never saved)"
        )
    logging.info("Weights: model part of %s", latest)
    checkpoint = tf.train.Checkpoint(
        model=_variables_checkpoint(model.variables)
    )
    status = checkpoint.restore(latest).expect_partial()
    try:
        status.assert_existing_objects_matched()
    except AssertionError as error:
        raise ValueError(
            f"Checkpoint {latest} does not match the model: {error}"
        ) from error
    return latest


def save_model_config(model, model_dir):
    """Writes the model's class and config to `model_dir/model.json`.

    With it a later program rebuilds the trained architecture and its clip
    spec from the run directory alone (`nonlocal_tf.zoo.load_model`).
    """
    config = keras.saving.serialize_keras_object(model)
    fileio.atomic_write_json(os.path.join(model_dir, MODEL_CONFIG), config)


def save_final_weights(model, model_dir):
    """Writes `model_dir/final.weights.h5` atomically; returns its path."""
    path = os.path.join(model_dir, FINAL_WEIGHTS)
    fileio.atomic_save_weights(model, path)
    return path
