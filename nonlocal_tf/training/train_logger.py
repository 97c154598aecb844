"""Training progress: interval averages to TensorBoard, the log and a bar."""

import os
import time

import keras
import tensorflow as tf
from absl import logging

from nonlocal_tf.data import skipped
from nonlocal_tf.training import summaries


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
        logs.update(skipped.loss_logs())  # records lost to bad data
        self.history.append(logs)
        if self._writer is not None:
            with self._writer.as_default(step=step):
                for name, value in logs.items():
                    if name != "step":
                        summaries.write_scalar(name, value, step)
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
