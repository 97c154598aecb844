"""Steps 3 and 4 of the demo: train the non-local network, test it.

The model and the data come from one `VideoClassificationTask`: a narrow
zoo model (2 classes) and the records of step 2, both read through the
demo's `ClipSpec` (8 frames every 2nd, 64 x 64 crops). `--compare_baseline`
trains and tests the same network without its non-local blocks.
"""

import os
import time

from absl import app

from nonlocal_tf import training
from nonlocal_tf import zoo
from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.data import synthetic
from nonlocal_tf.models import attention
from nonlocal_tf.programs.demo import output

NUM_FRAMES = 8
SAMPLING_RATE = 2
SIZE = 64
GOOD_ACCURACY = 0.8


def clip_spec(settings):
    """The demo model's input contract: 8 frames every 2nd, 64x64 crops."""
    return ClipSpec(
        num_frames=NUM_FRAMES,
        sampling_rate=SAMPLING_RATE,
        crop_size=SIZE,
        jitter_scales=(SIZE, SIZE),
        test_crop_size=SIZE,
        num_test_clips=settings["num_test_clips"],
        num_test_crops=settings["num_test_crops"],
    )


def make_task(
    demo, with_nonlocal=True, *, class_names=None, train_records=None
):
    """The narrow zoo model and the records, as one task.

    Args:
        demo: the run's `output.Demo`.
        with_nonlocal: keep the model's non-local blocks.
        class_names: the classes of the head; default the colour-match
            task's two.
        train_records: the training records; default step 2's.

    Returns:
        A `training.VideoClassificationTask`.
    """
    settings = demo.settings
    spec = clip_spec(settings)
    kwargs = {} if with_nonlocal else {"nonlocal_locations": [[]] * 4}
    class_names = list(class_names or synthetic.CLASS_NAMES)

    def model_fn(input_shape):
        return zoo.get_model(
            settings["model"],
            width_per_group=settings["width_per_group"],
            input_shape=input_shape,
            num_classes=len(class_names),
            dropout_rate=settings["dropout"],
            clip_spec=spec,
            **kwargs,
        )

    return training.VideoClassificationTask(
        model_fn=model_fn,
        clip_spec=spec,
        train_records=train_records or demo.pattern("train"),
        num_classes=len(class_names),
        class_names=class_names,
        seed=settings["seed"],
    )


def _train_config(demo, model_dir, with_nonlocal, every):
    settings = demo.settings
    steps = settings["train_steps"]
    return training.TrainConfig(
        model_dir=model_dir,
        batch_size_per_replica=settings["batch_size"],
        train_steps=steps,
        steps_per_epoch=every,
        schedule="cosine",
        base_learning_rate=settings["base_lr"],
        warmup_steps=min(50, steps // 10),
        seed=settings["seed"],
        checkpoint_every_steps=every,
        log_every_steps=every,
        progress_bar=False,
        extra={"demo": settings, "nonlocal": with_nonlocal},
    )


def _describe_model(demo, model, model_dir, with_nonlocal, every):
    """Notes the network (and refuses a --model without non-local blocks)."""
    settings = demo.settings
    name = settings["model"]
    if not with_nonlocal:
        demo.note(
            f"baseline: {name} without its non-local blocks "
            f"({model.count_params():,} parameters), same data and recipe, "
            f"in {model_dir}/"
        )
        return
    blocks = attention.nonlocal_block_names(model)
    if not blocks:
        raise app.UsageError(
            f"--model={name} has no NonLocalBlock; the demo needs a zoo "
            "model with non-local blocks (e.g. C2D_NLN_8x8_R50)."
        )
    demo.note(
        f"{name} at width_per_group={settings['width_per_group']}: "
        f"{model.count_params():,} parameters, {len(blocks)} NonLocalBlocks\n"
        f"({', '.join(blocks)})\n"
        f"clips of {NUM_FRAMES} frames (every {SAMPLING_RATE}nd) at "
        f"{SIZE}x{SIZE}, batch {settings['batch_size']}, "
        f"{settings['train_steps']} steps, SGD + Nesterov momentum, cosine "
        f"lr {settings['base_lr']}\n"
        f"checkpoints every {every} steps in {model_dir}/: stop the demo "
        "at any point and run the\nsame command again to resume from "
        "the last one"
    )


def train_model(demo, with_nonlocal=True):
    """Step 3: `nonlocal_tf.training.train` on the training records.

    Returns:
        The `TrainResult` (its `model` holds the final weights).
    """
    steps = demo.settings["train_steps"]
    every = max(1, min(steps, 100))
    model_dir = demo.model_dir if with_nonlocal else demo.baseline_dir
    task = make_task(demo, with_nonlocal)
    model = task.build_model()
    _describe_model(demo, model, model_dir, with_nonlocal, every)
    del model
    started = time.perf_counter()
    result = task.train(
        _train_config(demo, model_dir, with_nonlocal, every),
        callbacks=[output.StepPrinter(demo, steps, every)],
    )
    seconds = time.perf_counter() - started
    if result.resumed_from is not None:
        demo.note(f"resumed from the checkpoint of step {result.resumed_from}")
    demo.note(
        f"{result.step} steps done in {seconds:.0f} s; final weights "
        f"{result.weights_path}"
    )
    if with_nonlocal:
        demo.record("train", f"{result.step} steps in {seconds:.0f} s")
    return result


def _evaluate_split(demo, model, split):
    return make_task(demo).evaluate(
        model, demo.pattern(split), batch_size=4, progress=False
    )


def _verdict(demo, top1):
    if top1 >= GOOD_ACCURACY:
        return "clearly above chance"
    if demo.quick:
        return "--quick trains 6 steps: accuracy means nothing here"
    return (
        f"NOT clearly above chance (< {GOOD_ACCURACY}); try more "
        "--train_steps or another --seed"
    )


def evaluate_model(demo, model):
    """Step 4: multi-view evaluation of val and test, against chance.

    Returns:
        `{split: metrics}` of val and test.
    """
    clips = demo.settings["num_test_clips"]
    crops = demo.settings["num_test_crops"]
    demo.step(
        "Evaluate, multi-view (nonlocal_tf.training.evaluate: "
        f"{clips} clip{'s' * (clips > 1)} x {crops} crop{'s' * (crops > 1)}"
        " per video)"
    )
    chance = 1.0 / len(synthetic.CLASS_NAMES)
    metrics = {}
    for split in ("val", "test"):
        result = _evaluate_split(demo, model, split)
        training.write_metrics_json(
            result,
            os.path.join(demo.eval_dir, f"{split}_metrics.json"),
            extra={"chance": chance, "split": split},
        )
        training.write_per_class_csv(
            result, os.path.join(demo.eval_dir, f"{split}_per_class.csv")
        )
        m = metrics[split] = result.metrics
        demo.note(
            f"{split:5s}: top-1 {m['top1']:.3f} over {m['num_videos']} "
            f"videos x {m['num_views']} views (single view "
            f"{m['single_view_top1']:.3f})"
        )
    top1 = metrics["test"]["top1"]
    demo.note(
        f"test top-1 {top1:.3f} vs chance {chance:.3f} "
        f"({top1 - chance:+.3f}): {_verdict(demo, top1)}\n"
        f"metrics and per-class CSVs in {demo.eval_dir}/"
    )
    demo.record(
        "test top-1",
        f"{top1:.3f} vs chance {chance:.3f} "
        f"({metrics['test']['num_videos']} videos, {clips}x{crops} views)",
    )
    demo.record("val top-1", f"{metrics['val']['top1']:.3f}")
    return metrics


def compare_baseline(demo):
    """Optional: the same network without non-local blocks, on test."""
    print(
        "\n[4+] --compare_baseline: the same network without non-local blocks",
        flush=True,
    )
    result = train_model(demo, with_nonlocal=False)
    test = _evaluate_split(demo, result.model, "test")
    training.write_metrics_json(
        test,
        os.path.join(demo.eval_dir, "test_metrics_baseline.json"),
        extra={"chance": 0.5, "split": "test", "nonlocal": False},
    )
    top1 = test.metrics["top1"]
    demo.note(f"baseline test top-1 {top1:.3f} (chance 0.500)")
    demo.record("baseline top-1", f"{top1:.3f} (no non-local blocks)")
