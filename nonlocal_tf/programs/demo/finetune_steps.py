"""Step 7 of the demo: fine-tune the trained network to a new labelling.

The same generator draws a few fresh, seeded videos, labelled by *which*
colours they show: `both_red`, `both_green` or `two_colours` (one class per
palette colour, plus one). The network of step 3 (2 classes) is the starting
point: `zoo.load_weights(model, <the demo's model_dir>,
skip_mismatched_head=True)` fills every weight but the classifier (`pred`),
which starts fresh with 3 outputs. The same network, data, steps and
settings from a random initialisation are the control; both are tested
(multi-view) on held-out videos of the new labelling.

Why this labelling: it is learnable by the demo's C2D network (the amount of
each colour tells the three classes apart, so no order in time is needed:
a C2D network cannot tell which square came first, as a video played
backwards is an equally likely video), and it refines the demo's classes
(`two_colours` is `different_colours`, `same_colour` splits by colour), so
what step 3 learned is of use without giving the answer away.

Settings (`--finetune_per_class`, `--finetune_steps`, `--finetune_lr`): 8
training videos per class, 40 steps of 12 clips, cosine lr 0.05 (the rate
step 3 trains with from scratch, so the control is not handicapped) and
nothing frozen (frozen batch norms would leave the random network
untrainable, a frozen backbone would make it a linear probe of random
features). Measured on 2 CPU cores, seed 0 (the step alone at seed 1 gave
the same): test top-1 1.000 fine-tuned vs 0.392 from scratch, which fits
its 24 training videos (train accuracy 0.98) but calls most test videos
`two_colours`; the step takes about 50 s.

Everything lands in `<output_dir>/finetune/`: the videos and their lists,
the records, one training run per initialisation (`from_demo/`,
`from_scratch/`, each with `initial.weights.h5`, the weights training
started from), their metrics and `comparison.json`. A finished stage is not
redone: running the demo again prints the stored comparison.
"""

import contextlib
import csv
import io
import json
import os
import time

from absl import logging

from nonlocal_tf import data as data_lib
from nonlocal_tf import fileio
from nonlocal_tf import training
from nonlocal_tf import zoo
from nonlocal_tf.data import annotations
from nonlocal_tf.data import synthetic
from nonlocal_tf.programs.demo import model_steps
from nonlocal_tf.programs.demo import output

FROM_DEMO = "from_demo"
FROM_SCRATCH = "from_scratch"
RUNS = (FROM_DEMO, FROM_SCRATCH)
TITLES = {FROM_DEMO: "fine-tuned from the demo", FROM_SCRATCH: "from scratch"}
COMPARISON_FILE = "comparison.json"
INITIAL_WEIGHTS = "initial.weights.h5"
MIXED = "two_colours"
SPLITS = ("train", "test")
# Tries per video to draw a square of the wanted colour (half succeed).
MAX_DRAWS = 64


def class_names(config):
    """`both_<colour>` for each palette colour, then `two_colours`.

    Example:
        >>> class_names(synthetic.SyntheticConfig())
        ['both_red', 'both_green', 'two_colours']
    """
    return [f"both_{colour}" for colour in config.palette] + [MIXED]


def colour_label(video):
    """The new label of a `SyntheticVideo`: which colours it shows.

    Example:
        >>> colour_label(synthetic.generate_video(1, seed=0))
        'both_green'
    """
    if video.first.colour == video.second.colour:
        return f"both_{video.first.colour}"
    return MIXED


def _draw(name, seed, split, index, config):
    """A seeded video of class `name` (redrawn until its colours fit)."""
    same = name != MIXED
    label = synthetic.SAME if same else synthetic.DIFFERENT
    for attempt in range(MAX_DRAWS):
        video = synthetic.generate_video(
            label,
            seed=synthetic.video_seed(seed, split, index) + [attempt],
            config=config,
        )
        if colour_label(video) == name:
            return video
    raise RuntimeError(f"no {name} video in {MAX_DRAWS} draws")


def _write_split(demo, split, per_class, names, config):
    """Writes one split's videos and its `path,label` list.

    Returns:
        The split's `VideoEntry`s.
    """
    folder = os.path.join(demo.finetune_videos, split)
    os.makedirs(folder, exist_ok=True)
    entries, rows = [], []
    for index in range(per_class * len(names)):
        name = names[index % len(names)]
        video = _draw(
            name, demo.settings["seed"], f"finetune_{split}", index, config
        )
        relative = os.path.join(split, f"{split}_{index:05d}.mp4")
        path = os.path.join(demo.finetune_videos, relative)
        synthetic.write_video(path, video.frames, fps=config.fps)
        entries.append(
            annotations.VideoEntry(
                path=path,
                video_id=os.path.splitext(relative)[0],
                labels=(name,),
            )
        )
        rows.append((relative, name))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(synthetic.LIST_HEADER)
    writer.writerows(rows)
    fileio.atomic_write_text(
        os.path.join(demo.finetune_videos, f"{split}.csv"), buffer.getvalue()
    )
    return entries


def make_records(demo, names):
    """Fresh seeded videos of the new labelling -> `prepare_dataset`.

    Returns:
        `{split: PrepareResult}`.
    """
    settings = demo.settings["finetune"]
    config = synthetic.SyntheticConfig()
    label_map = {name: index for index, name in enumerate(names)}
    results = {}
    for split in SPLITS:
        entries = _write_split(
            demo, split, settings["videos_per_class"][split], names, config
        )
        results[split] = data_lib.prepare_dataset(
            entries,
            demo.finetune_records,
            label_map=label_map,
            split=split,
            num_shards=1,
            num_workers=0,
            short_side=None,
            seed=demo.settings["seed"],
            progress=False,
        )
    return results


def _task(demo, names):
    return model_steps.make_task(
        demo,
        class_names=names,
        train_records=os.path.join(demo.finetune_records, "train-*.tfrecord"),
    )


def _every(steps):
    """Steps between the printed lines (and checkpoints) of a run."""
    return max(1, steps // 4)


def _train_config(demo, run):
    settings = demo.settings["finetune"]
    steps = settings["train_steps"]
    every = _every(steps)
    return training.TrainConfig(
        model_dir=os.path.join(demo.finetune_dir, run),
        batch_size_per_replica=settings["batch_size"],
        train_steps=steps,
        schedule="cosine",
        base_learning_rate=settings["base_lr"],
        warmup_steps=0,
        freeze=settings["freeze"],
        head_learning_rate_multiplier=settings["head_learning_rate_multiplier"],
        seed=demo.settings["seed"],
        checkpoint_every_steps=2 * every,
        log_every_steps=every,
        progress_bar=False,
        extra={
            "demo": demo.settings,
            "initial_weights": demo.model_dir if run == FROM_DEMO else None,
        },
    )


@contextlib.contextmanager
def _quiet_warnings():
    """Drops absl warnings (unless --verbosity asks for the logs).

    Loading the demo's weights warns about the head the step's note
    explains; testing two small models warns about retracing.
    """
    verbosity = logging.get_verbosity()
    if verbosity < logging.INFO:
        logging.set_verbosity(logging.ERROR)
    try:
        yield
    finally:
        logging.set_verbosity(verbosity)


def _initial_weights(demo, run, loads):
    """`fn(model)` for `train`: the demo's weights (or none), then saved.

    `zoo.load_weights` of the demo's run fills every weight but the head;
    the weights training starts from go to `<run>/initial.weights.h5`.
    """

    def initialise(model):
        if run == FROM_DEMO:
            with _quiet_warnings():
                report = zoo.load_weights(
                    model, demo.model_dir, skip_mismatched_head=True
                )
            loads.append(report)
            left_out = [name for name, _ in report.skipped]
            demo.note(
                f"  starts from {len(report.loaded)} tensors of "
                f"{report.source}"
                + (
                    f"\n  (all but {', '.join(left_out)}: a new "
                    f"{model.num_classes}-class head)"
                    if left_out
                    else ""
                )
            )
        else:
            demo.note(
                f"  starts from random weights (seed {demo.settings['seed']})"
            )
        path = os.path.join(demo.finetune_dir, run, INITIAL_WEIGHTS)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        fileio.atomic_save_weights(model, path)

    return initialise


def _source(demo, run, loads):
    """What a run started from, for comparison.json."""
    if run == FROM_SCRATCH:
        return {"random": True, "seed": demo.settings["seed"]}
    source = {"random": False, "run": demo.model_dir}
    # No report after a resume: the earlier run loaded the weights.
    for report in loads:
        source.update(
            file=str(report.source),
            format=report.format,
            tensors_loaded=len(report.loaded),
            not_loaded=[name for name, _ in report.skipped],
        )
    return source


def _train_and_test(demo, task, run):
    """One training run of the stage and its multi-view test.

    Returns:
        A dict of the run: its test metrics, steps, seconds and source.
    """
    settings = demo.settings["finetune"]
    steps = settings["train_steps"]
    demo.note(f"{TITLES[run]} ({os.path.join(demo.finetune_dir, run)}/):")
    loads = []
    started = time.perf_counter()
    result = task.train(
        _train_config(demo, run),
        initial_weights=_initial_weights(demo, run, loads),
        callbacks=[output.StepPrinter(demo, steps, _every(steps))],
    )
    trained = time.perf_counter() - started
    if result.resumed_from is not None:
        demo.note(
            f"  resumed from the checkpoint of step {result.resumed_from}"
        )
    with _quiet_warnings():
        evaluated = task.evaluate(
            result.model,
            os.path.join(demo.finetune_records, "test-*.tfrecord"),
            # Every split has as many videos of each class: one batch shape.
            batch_size=len(task.class_names),
            progress=False,
        )
    chance = 1.0 / len(task.class_names)
    training.write_metrics_json(
        evaluated,
        os.path.join(demo.finetune_dir, "eval", f"{run}_metrics.json"),
        extra={"chance": chance, "split": "test", "run": run},
    )
    training.write_per_class_csv(
        evaluated,
        os.path.join(demo.finetune_dir, "eval", f"{run}_per_class.csv"),
    )
    return {
        "test_top1": float(evaluated.metrics["top1"]),
        "test_single_view_top1": float(evaluated.metrics["single_view_top1"]),
        "num_test_videos": int(evaluated.metrics["num_videos"]),
        "steps": int(result.step),
        "train_seconds": round(trained, 1),
        "initial_weights": _source(demo, run, loads),
    }


def _describe(demo, comparison):
    """Prints both accuracies side by side; adds the Summary row."""
    runs = comparison["runs"]
    chance = comparison["chance"]
    videos = runs[FROM_DEMO]["num_test_videos"]
    width = max(len(title) for title in TITLES.values())
    demo.note(
        f"test top-1 on {videos} held-out videos of "
        f"{len(comparison['class_names'])} classes (chance {chance:.3f}):"
    )
    for run in RUNS:
        demo.note(
            f"  {TITLES[run]:<{width}}  {runs[run]['test_top1']:.3f}  "
            f"(single view {runs[run]['test_single_view_top1']:.3f})"
        )
    gain = runs[FROM_DEMO]["test_top1"] - runs[FROM_SCRATCH]["test_top1"]
    demo.note(
        f"fine-tuned minus from scratch: {gain:+.3f}"
        + (" (--quick: accuracy means nothing here)" * demo.quick)
        + f"\n{os.path.join(demo.finetune_dir, COMPARISON_FILE)}"
    )
    demo.record(
        "fine-tune",
        f"{runs[FROM_DEMO]['test_top1']:.3f} from the demo vs "
        f"{runs[FROM_SCRATCH]['test_top1']:.3f} from scratch "
        f"({len(comparison['class_names'])} classes, "
        f"{comparison['train_videos']} training videos, "
        f"{comparison['settings']['train_steps']} steps, "
        f"{comparison['seconds']:.0f} s)",
    )


def _read_finished(demo):
    """The comparison of an earlier run of this stage, or None."""
    path = os.path.join(demo.finetune_dir, COMPARISON_FILE)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        comparison = json.load(f)
    if comparison.get("settings") != demo.settings["finetune"]:
        return None
    return comparison


def finetune(demo):
    """Step 7: the demo's network and a random one, trained alike.

    Both start from the same seed and train on the same few videos of the
    new labelling for the same steps; only the backbone's initial weights
    differ (the demo's final weights, or random).

    Returns:
        The comparison dict written to `finetune/comparison.json`.
    """
    settings = demo.settings["finetune"]
    names = class_names(synthetic.SyntheticConfig())
    per_class = settings["videos_per_class"]
    demo.step(
        "Fine-tune to a new labelling (nonlocal_tf.zoo.load_weights + "
        f"train; {len(names)} classes)"
    )
    frozen = (
        f"frozen: {settings['freeze']}"
        if settings["freeze"]
        else "nothing frozen"
    )
    demo.note(
        f"new labelling: {' / '.join(names)} (which colours the squares "
        f"have)\n{per_class['train']} new training videos per class, "
        f"{per_class['test']} test videos per class; the same "
        f"{settings['train_steps']} steps (batch {settings['batch_size']}, "
        f"cosine lr {settings['base_lr']},\nhead lr "
        f"x{settings['head_learning_rate_multiplier']:g}, "
        f"{frozen}) "
        "from the demo's weights and from scratch"
    )
    finished = _read_finished(demo)
    if finished is not None:
        demo.note("finished earlier: the stored comparison")
        _describe(demo, finished)
        return finished
    started = time.perf_counter()
    prepared = make_records(demo, names)
    demo.note(
        "records: "
        + ", ".join(f"{split} {r.written}" for split, r in prepared.items())
        + f" videos in {demo.finetune_records}/ "
        f"({time.perf_counter() - started:.1f} s)"
    )
    task = _task(demo, names)
    runs = {run: _train_and_test(demo, task, run) for run in RUNS}
    comparison = {
        "labelling": settings["labelling"],
        "class_names": names,
        "chance": 1.0 / len(names),
        "train_videos": prepared["train"].written,
        "test_videos": prepared["test"].written,
        "source_run": demo.model_dir,
        "settings": settings,
        "runs": runs,
        "seconds": round(time.perf_counter() - started, 1),
    }
    fileio.atomic_write_json(
        os.path.join(demo.finetune_dir, COMPARISON_FILE), comparison, indent=1
    )
    _describe(demo, comparison)
    return comparison
