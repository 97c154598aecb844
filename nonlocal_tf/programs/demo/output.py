"""One demo run: its folder, its settings, its step lines and its Summary.

`open_output_dir` creates the folder or resumes the run found there (and
refuses one made with other settings); the `Demo` it returns knows every
path of the run and prints the `[k/7]` step lines, the indented notes and
the final Summary block that the README quotes.
"""

import json
import os
import shutil
import time

from absl import app

from nonlocal_tf import fileio

NUM_STEPS = 7
RULE = "=" * 72
SETTINGS_FILE = "demo_settings.json"
# What a run writes into its folder (removed by --overwrite).
OUTPUTS = (
    "videos",
    "records",
    "model",
    "model_baseline",
    "eval",
    "export",
    "finetune",
)
ANSWER_FILE = "request_answer.json"


class Demo:
    """Paths, settings and the step log of one demo run.

    Attributes:
        root: the output folder.
        settings: what decides the results (compared when resuming).
        quick: the --quick plumbing run (its accuracy means nothing).
        top_k: labels in the exported top-k outputs.
        started: `time.perf_counter()` when the program started.
        summary: `(name, value)` rows of the final Summary.
    """

    def __init__(self, output_dir, settings, *, quick, top_k, started):
        self.root = output_dir
        self.settings = settings
        self.quick = quick
        self.top_k = top_k
        self.started = started
        self.videos = os.path.join(output_dir, "videos")
        self.records = os.path.join(output_dir, "records")
        self.model_dir = os.path.join(output_dir, "model")
        self.baseline_dir = os.path.join(output_dir, "model_baseline")
        self.eval_dir = os.path.join(output_dir, "eval")
        self.export_base = os.path.join(output_dir, "export")
        self.request_video = os.path.join(self.videos, "request.mp4")
        self.answer_path = os.path.join(output_dir, ANSWER_FILE)
        self.finetune_dir = os.path.join(output_dir, "finetune")
        self.finetune_videos = os.path.join(self.finetune_dir, "videos")
        self.finetune_records = os.path.join(self.finetune_dir, "records")
        self.summary = []
        self._step = 0

    def step(self, title):
        """Prints the next `[k/7] title  (t=... s)` line."""
        self._step += 1
        elapsed = time.perf_counter() - self.started
        print(
            f"\n[{self._step}/{NUM_STEPS}] {title}  (t={elapsed:.0f} s)",
            flush=True,
        )

    def note(self, text):
        """Prints `text` indented under the current step."""
        for line in text.splitlines():
            print(f"      {line}", flush=True)

    def record(self, name, value):
        """Adds a row to the Summary."""
        self.summary.append((name, value))

    def pattern(self, split):
        """The TFRecord pattern of a split."""
        return os.path.join(self.records, f"{split}-*.tfrecord")

    def print_summary(self):
        """Prints the Summary block (with the wall time)."""
        self.record("wall time", f"{time.perf_counter() - self.started:.0f} s")
        width = max(len(name) for name, _ in self.summary)
        print(f"\n{RULE}\nSummary ({os.path.abspath(self.root)})\n{RULE}")
        for name, value in self.summary:
            print(f"{name:<{width}}  {value}")
        print(RULE, flush=True)


def _remove_outputs(output_dir):
    for name in OUTPUTS:
        shutil.rmtree(os.path.join(output_dir, name), ignore_errors=True)
    for name in (SETTINGS_FILE, ANSWER_FILE):
        if os.path.exists(os.path.join(output_dir, name)):
            os.remove(os.path.join(output_dir, name))


def open_output_dir(output_dir, settings, *, overwrite=False, **demo_kwargs):
    """Creates or resumes `output_dir`; refuses one made with other settings.

    Args:
        output_dir: the run's folder.
        settings: the settings that decide the results.
        overwrite: delete an earlier run's outputs first.
        **demo_kwargs: the other `Demo` arguments.

    Returns:
        (`Demo`, whether an earlier run with these settings was found).

    Raises:
        app.UsageError: the folder holds a run with other settings.
    """
    path = os.path.join(output_dir, SETTINGS_FILE)
    if overwrite and os.path.isdir(output_dir):
        _remove_outputs(output_dir)
    demo = Demo(output_dir, settings, **demo_kwargs)
    if not os.path.exists(path):
        os.makedirs(output_dir, exist_ok=True)
        fileio.atomic_write_json(path, settings, indent=1)
        return demo, False
    with open(path, encoding="utf-8") as f:
        previous = json.load(f)
    if previous != settings:
        changed = sorted(
            k for k in settings if previous.get(k) != settings.get(k)
        )
        raise app.UsageError(
            f"{output_dir} holds a demo run with other settings "
            f"({', '.join(changed)}); pass --overwrite to replace it or "
            "choose another --output_dir."
        )
    return demo, True


class StepPrinter:
    """`train` callback: one line per `every` steps (mean loss/accuracy)."""

    def __init__(self, demo, total, every):
        self._demo = demo
        self._total = total
        self._every = every
        self._loss = self._accuracy = 0.0
        self._count = 0
        self._last = time.perf_counter()

    def __call__(self, step, logs):
        self._loss += logs["loss"]
        self._accuracy += logs["accuracy"]
        self._count += 1
        if step % self._every and step != self._total:
            return
        now = time.perf_counter()
        self._demo.note(
            f"step {step:5d}/{self._total}: loss "
            f"{self._loss / self._count:.3f}, train accuracy "
            f"{self._accuracy / self._count:.3f} "
            f"({self._count / (now - self._last):.1f} steps/s)"
        )
        self._loss = self._accuracy = 0.0
        self._count = 0
        self._last = now
