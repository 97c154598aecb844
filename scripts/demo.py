r"""Demo: generated videos -> records -> a non-local model -> a served answer.

    python scripts/demo.py                      # 2-3 minutes on 2 CPU cores
    python scripts/demo.py --compare_baseline   # + the same net without NL
    python scripts/demo.py --quick              # plumbing only, ~30 s

Six steps, each a call into the library:

1. `nonlocal_tf.data.synthetic.make_dataset`: videos of the "colour match"
   task. A coloured square shows in one corner during the first frames,
   another in the opposite corner during the last frames; the class is
   whether they share a colour. Neither square alone says anything, so the
   model must relate positions far apart in space and time: what non-local
   blocks are for.
2. `nonlocal_tf.data.prepare_dataset`: videos -> TFRecords of JPEG frames.
3. `nonlocal_tf.training.train`: a narrow zoo C2D ResNet-50 with 5 non-local
   blocks (`C2D_NLN_8x8_R50` at `width_per_group=8`) from scratch on 8-frame
   64x64 clips.
4. `nonlocal_tf.training.evaluate`: multi-view test (clips x crops, softmax
   averaged per video) on held-out videos, against chance.
5. `nonlocal_tf.export.export_saved_model`: a TF Serving SavedModel with
   the class names inside.
6. `tf.saved_model.load` + the `classify_frames` signature on the JPEG frames
   of a new video (nothing of this project is needed to load it).

Everything lands in `--output_dir`. Running the same command again resumes:
the seeded videos are regenerated identically, finished record shards are
kept, and training continues from its last checkpoint (a finished run is not
retrained). Other settings into the same folder need `--overwrite`.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import time  # noqa: E402

_STARTED = time.perf_counter()

import contextlib  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import warnings  # noqa: E402

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

from nonlocal_tf import cli  # noqa: E402

FLAGS = flags.FLAGS

flags.DEFINE_string("output_dir", "demo_output", "Where everything is written.")
flags.DEFINE_integer("seed", 0, "Seed of the data, the model and training.")
flags.DEFINE_boolean(
    "quick", False, "Tiny run (a few videos and steps) to check the plumbing."
)
flags.DEFINE_boolean(
    "overwrite",
    False,
    "Delete an earlier demo in --output_dir first (else it is resumed).",
)
flags.DEFINE_boolean(
    "compare_baseline",
    False,
    "Also train and test the same network without its non-local blocks "
    "(about 2 more minutes).",
)
flags.DEFINE_integer("num_train", 640, "Training videos.")
flags.DEFINE_integer("num_val", 100, "Validation videos.")
flags.DEFINE_integer("num_test", 200, "Test videos.")
flags.DEFINE_string("model", "C2D_NLN_8x8_R50", "Zoo model (with NL blocks).")
flags.DEFINE_integer("width_per_group", 8, "Width of res2 (64 = full size).")
flags.DEFINE_integer("train_steps", 1000, "Training steps.")
flags.DEFINE_integer("batch_size", 16, "Clips per step.")
flags.DEFINE_float("base_lr", 0.05, "Peak learning rate (cosine schedule).")
flags.DEFINE_float("dropout", 0.2, "Dropout before the classifier.")
flags.DEFINE_integer("num_test_clips", 4, "Test clips per video (K).")
flags.DEFINE_integer(
    "num_test_crops",
    1,
    "Test crops per clip (1 or 3); the frames are square, so 3 crops would "
    "be one view three times.",
)
flags.DEFINE_integer("top_k", 2, "Labels in the exported top-k outputs.")

EXPORT_NAME = "colour_match"
NUM_FRAMES = 8
SAMPLING_RATE = 2
SIZE = 64
GOOD_ACCURACY = 0.8
RULE = "=" * 72


@contextlib.contextmanager
def _quiet_stderr(enabled=True):
    """Drops what native code writes to stderr (TF's start-up notices).

    TensorFlow 2.21 logs its oneDNN/CUDA notices through absl C++ logging
    whatever `TF_CPP_MIN_LOG_LEVEL` says (tensorflow/tensorflow#100442).
    """
    if not enabled:
        yield
        return
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


class Demo:
    """Paths, settings and the step log of one demo run."""

    def __init__(self, output_dir, settings):
        self.root = output_dir
        self.settings = settings
        self.videos = os.path.join(output_dir, "videos")
        self.records = os.path.join(output_dir, "records")
        self.model_dir = os.path.join(output_dir, "model")
        self.baseline_dir = os.path.join(output_dir, "model_baseline")
        self.eval_dir = os.path.join(output_dir, "eval")
        self.export_base = os.path.join(output_dir, "export")
        self.request_video = os.path.join(self.videos, "request.mp4")
        self.answer_path = os.path.join(output_dir, "request_answer.json")
        self.summary = []
        self._step = 0

    def step(self, title):
        self._step += 1
        elapsed = time.perf_counter() - _STARTED
        print(f"\n[{self._step}/6] {title}  (t={elapsed:.0f} s)", flush=True)

    def note(self, text):
        for line in text.splitlines():
            print(f"      {line}", flush=True)

    def record(self, name, value):
        self.summary.append((name, value))

    def pattern(self, split):
        return os.path.join(self.records, f"{split}-*.tfrecord")


class _StepPrinter:
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


def settings_from_flags():
    """The settings that decide the demo's results (compared on resume)."""
    if FLAGS.quick:
        sizes = {"train": 16, "val": 4, "test": 8}
        steps, batch, clips = 6, 4, 2
    else:
        sizes = {
            "train": FLAGS.num_train,
            "val": FLAGS.num_val,
            "test": FLAGS.num_test,
        }
        steps, batch = FLAGS.train_steps, FLAGS.batch_size
        clips = FLAGS.num_test_clips
    return {
        "seed": FLAGS.seed,
        "split_sizes": sizes,
        "model": FLAGS.model,
        "width_per_group": FLAGS.width_per_group,
        "train_steps": steps,
        "batch_size": batch,
        "base_lr": FLAGS.base_lr,
        "dropout": FLAGS.dropout,
        "num_test_clips": clips,
        "num_test_crops": FLAGS.num_test_crops,
    }


_OUTPUTS = ("videos", "records", "model", "model_baseline", "eval", "export")
_SETTINGS_FILE = "demo_settings.json"


def open_output_dir(output_dir, settings):
    """Creates or resumes `output_dir`; refuses one made with other settings.

    Returns:
        (`Demo`, whether an earlier run with these settings was found).
    """
    path = os.path.join(output_dir, _SETTINGS_FILE)
    if FLAGS.overwrite and os.path.isdir(output_dir):
        for name in _OUTPUTS:
            shutil.rmtree(os.path.join(output_dir, name), ignore_errors=True)
        for name in (_SETTINGS_FILE, "request_answer.json"):
            if os.path.exists(os.path.join(output_dir, name)):
                os.remove(os.path.join(output_dir, name))
    if os.path.exists(path):
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
        return Demo(output_dir, settings), True
    os.makedirs(output_dir, exist_ok=True)
    with open(f"{path}.tmp", "w", encoding="utf-8") as f:
        json.dump(settings, f, indent=1)
    os.replace(f"{path}.tmp", path)
    return Demo(output_dir, settings), False


# ----------------------------------------------------------------- steps


def make_videos(demo):
    """Step 1: the seeded colour-match videos and one held-out request."""
    import numpy as np

    from nonlocal_tf.data import synthetic

    settings = demo.settings
    demo.step("Generate videos (nonlocal_tf.data.synthetic, PyAV)")
    config = synthetic.SyntheticConfig()
    demo.note(
        "Colour match: a square in one corner in frames 0-"
        f"{config.first_frames - 1}, one in the opposite corner in frames "
        f"{config.num_frames - config.last_frames}-{config.num_frames - 1}; "
        "class = same colour or not.\n"
        f"{config.num_frames} frames of {config.height}x{config.width}, "
        f"colours {'/'.join(config.palette)}, {config.num_distractors} "
        "drifting grey distractors, pixel noise.\n"
        "Either square alone says nothing: the network has to relate "
        f"opposite corners of frames >= {config.gap_frames + 1} apart. "
        "Chance is 50%."
    )
    started = time.perf_counter()
    data = synthetic.make_dataset(
        demo.videos,
        settings["split_sizes"],
        seed=settings["seed"],
        config=config,
    )
    rng = np.random.default_rng(
        synthetic.video_seed(settings["seed"], "request", 0)
    )
    request = synthetic.generate_video(
        int(rng.integers(len(synthetic.CLASS_NAMES))), rng=rng, config=config
    )
    synthetic.write_video(demo.request_video, request.frames, fps=config.fps)
    counts = data.counts()
    for split, per_class in counts.items():
        demo.note(
            f"{split:5s}: {sum(per_class.values()):4d} videos ("
            + ", ".join(f"{n} {name}" for name, n in per_class.items())
            + f") -> {data.lists[split]}"
        )
    demo.note(
        f"label map {data.label_map} -> {data.label_map_path}\n"
        f"held-out request video: {demo.request_video}\n"
        f"done in {time.perf_counter() - started:.1f} s"
    )
    demo.record(
        "videos",
        ", ".join(f"{split} {sum(c.values())}" for split, c in counts.items())
        + " (+1 request)",
    )
    return data, request


def prepare_records(demo, data):
    """Step 2: videos -> sharded TFRecords through `prepare_dataset`."""
    from nonlocal_tf import data as data_lib

    demo.step("Prepare TFRecords (nonlocal_tf.data.prepare_dataset)")
    started = time.perf_counter()
    results = {}
    for split, entries in data.entries.items():
        result = data_lib.prepare_dataset(
            entries,
            demo.records,
            label_map=data.label_map,
            split=split,
            num_shards=min(2, len(entries)),
            num_workers=0,
            short_side=None,
            seed=demo.settings["seed"],
        )
        results[split] = result
        demo.note(f"{split:5s}: {result.summary()}")
    demo.note(
        f"shards, label_map.json and <split>_report.json in {demo.records}/ "
        f"({time.perf_counter() - started:.1f} s)"
    )
    skipped = sum(r.num_skipped for r in results.values())
    demo.record(
        "records",
        f"{sum(r.written for r in results.values())} written, "
        f"{skipped} skipped",
    )
    return results


def clip_spec(settings):
    """The demo model's input contract: 8 frames every 2nd, 64x64 crops."""
    from nonlocal_tf import ClipSpec

    return ClipSpec(
        num_frames=NUM_FRAMES,
        sampling_rate=SAMPLING_RATE,
        crop_size=SIZE,
        jitter_scales=(SIZE, SIZE),
        test_crop_size=SIZE,
        num_test_clips=settings["num_test_clips"],
        num_test_crops=settings["num_test_crops"],
    )


def make_task(demo, with_nonlocal=True):
    """The narrow 2-class zoo model and the records, as one task."""
    from nonlocal_tf import training
    from nonlocal_tf import zoo
    from nonlocal_tf.data import synthetic

    settings = demo.settings
    kwargs = {} if with_nonlocal else {"nonlocal_locations": [[]] * 4}

    def model_fn(input_shape):
        return zoo.get_model(
            settings["model"],
            width_per_group=settings["width_per_group"],
            input_shape=input_shape,
            num_classes=len(synthetic.CLASS_NAMES),
            dropout_rate=settings["dropout"],
            clip_spec=clip_spec(settings),
            **kwargs,
        )

    return training.VideoClassificationTask(
        model_fn=model_fn,
        clip_spec=clip_spec(settings),
        train_records=demo.pattern("train"),
        num_classes=len(synthetic.CLASS_NAMES),
        class_names=list(synthetic.CLASS_NAMES),
        seed=settings["seed"],
    )


def _nonlocal_blocks(model):
    from nonlocal_tf.layers import NonLocalBlock

    return [
        layer.name for layer in model.layers if isinstance(layer, NonLocalBlock)
    ]


def train_model(demo, with_nonlocal=True):
    """Step 3: `nonlocal_tf.training.train` on the training records."""
    from nonlocal_tf import training

    settings = demo.settings
    steps = settings["train_steps"]
    batch = settings["batch_size"]
    every = max(1, min(steps, 100))
    model_dir = demo.model_dir if with_nonlocal else demo.baseline_dir
    config = training.TrainConfig(
        model_dir=model_dir,
        batch_size_per_replica=batch,
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

    task = make_task(demo, with_nonlocal)
    model = task.build_model()
    blocks = _nonlocal_blocks(model)
    if with_nonlocal:
        if not blocks:
            raise app.UsageError(
                f"--model={settings['model']} has no NonLocalBlock; the demo "
                "needs a zoo model with non-local blocks (e.g. "
                "C2D_NLN_8x8_R50)."
            )
        demo.note(
            f"{settings['model']} at width_per_group="
            f"{settings['width_per_group']}: {model.count_params():,} "
            f"parameters, {len(blocks)} NonLocalBlocks\n"
            f"({', '.join(blocks)})\n"
            f"clips of {NUM_FRAMES} frames (every {SAMPLING_RATE}nd) at "
            f"{SIZE}x{SIZE}, batch {batch}, {steps} steps, SGD + Nesterov "
            f"momentum, cosine lr {settings['base_lr']}\n"
            f"checkpoints every {every} steps in {model_dir}/: stop the demo "
            "at any point and run the\nsame command again to resume from "
            "the last one"
        )
    else:
        demo.note(
            f"baseline: {settings['model']} without its non-local blocks "
            f"({model.count_params():,} parameters), same data and recipe, "
            f"in {model_dir}/"
        )
    del model
    started = time.perf_counter()
    result = task.train(config, callbacks=[_StepPrinter(demo, steps, every)])
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


def evaluate_model(demo, model):
    """Step 4: multi-view evaluation of val and test, against chance."""
    from nonlocal_tf import training
    from nonlocal_tf.data import synthetic

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
    verdict = (
        "clearly above chance"
        if top1 >= GOOD_ACCURACY
        else "--quick trains 6 steps: accuracy means nothing here"
        if FLAGS.quick
        else f"NOT clearly above chance (< {GOOD_ACCURACY}); try more "
        "--train_steps or another --seed"
    )
    demo.note(
        f"test top-1 {top1:.3f} vs chance {chance:.3f} "
        f"({top1 - chance:+.3f}): {verdict}\n"
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
    from nonlocal_tf import training

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


def export_model(demo, model):
    """Step 5: the TF Serving SavedModel, class names embedded."""
    from nonlocal_tf.data import synthetic
    from nonlocal_tf.export import export_saved_model

    demo.step("Export a SavedModel (nonlocal_tf.export.export_saved_model)")
    started = time.perf_counter()
    path = export_saved_model(
        model,
        demo.export_base,
        EXPORT_NAME,
        version=1,
        overwrite=True,
        label_names=list(synthetic.CLASS_NAMES),
        num_frames=NUM_FRAMES,
        top_k=FLAGS.top_k,
    )
    demo.note(
        f"{path}/ ({time.perf_counter() - started:.0f} s)\n"
        "signatures: serving_default (float32 video [B, 8, 64, 64, 3] in "
        "0..255), classify_frames\n(JPEG bytes [B, 8]); outputs "
        "probabilities and top-k scores/indices/labels; TF Serving\n"
        "warm-up requests in assets.extra/. Serve it with:\n"
        f"  tensorflow_model_server --model_name={EXPORT_NAME} "
        f"--model_base_path={os.path.abspath(os.path.dirname(path))} "
        "--rest_api_port=8501"
    )
    demo.record("SavedModel", path)
    return path


def answer_request(demo, export_path, request):
    """Step 6: `classify_frames` of the reloaded SavedModel on a new video."""
    import numpy as np
    import tensorflow as tf

    from nonlocal_tf.data import decode_video

    demo.step("Answer a request through the exported signature")
    frames = decode_video(demo.request_video).frames
    start = (len(frames) - NUM_FRAMES * SAMPLING_RATE) // 2
    indices = start + SAMPLING_RATE * np.arange(NUM_FRAMES)
    jpegs = [tf.io.encode_jpeg(frames[i], quality=95).numpy() for i in indices]
    loaded = tf.saved_model.load(export_path)
    outputs = loaded.signatures["classify_frames"](frames=tf.constant([jpegs]))
    labels = [x.decode() for x in outputs["top_k_labels"].numpy()[0]]
    scores = [float(s) for s in outputs["top_k_scores"].numpy()[0]]
    video = loaded.signatures["serving_default"](
        video=tf.constant(frames[indices][None], tf.float32)
    )
    video_top = video["top_k_labels"].numpy()[0][0].decode()
    video_score = float(video["top_k_scores"].numpy()[0][0])
    first, second = request.first, request.second
    demo.note(
        f"model = tf.saved_model.load({export_path!r})\n"
        "model.signatures['classify_frames'](frames=<1 x "
        f"{NUM_FRAMES} JPEGs: frames {indices[0]}, {indices[1]}, ..., "
        f"{indices[-1]} of {demo.request_video}>)\n"
        "  top_k_labels / top_k_scores: "
        + ", ".join(f"{n} {s:.3f}" for n, s in zip(labels, scores, strict=True))
        + f"\n  true label: {request.class_name} ({first.colour} square "
        f"{first.corner.replace('_', ' ')} in frames {first.frames[0]}-"
        f"{first.frames[1] - 1}, {second.colour} square "
        f"{second.corner.replace('_', ' ')} in frames {second.frames[0]}-"
        f"{second.frames[1] - 1})\n"
        "model.signatures['serving_default'](video=<the same frames, "
        f"float32>): {video_top} {video_score:.3f}"
    )
    with open(f"{demo.answer_path}.tmp", "w", encoding="utf-8") as f:
        json.dump(
            {
                "video": demo.request_video,
                "frame_indices": [int(i) for i in indices],
                "signature": "classify_frames",
                "top_k_labels": labels,
                "top_k_scores": scores,
                "serving_default_top_label": video_top,
                "true_label": request.class_name,
            },
            f,
            indent=1,
        )
    os.replace(f"{demo.answer_path}.tmp", demo.answer_path)
    verdict = "right" if labels[0] == request.class_name else "wrong"
    demo.record(
        "request",
        f"{labels[0]} ({scores[0]:.3f}); true {request.class_name}: {verdict}",
    )


def print_summary(demo):
    demo.record("wall time", f"{time.perf_counter() - _STARTED:.0f} s")
    width = max(len(name) for name, _ in demo.summary)
    print(f"\n{RULE}\nSummary ({os.path.abspath(demo.root)})\n{RULE}")
    for name, value in demo.summary:
        print(f"{name:<{width}}  {value}")
    print(RULE, flush=True)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    verbose = FLAGS["verbosity"].present
    if not verbose:
        logging.set_verbosity(logging.WARNING)
    warnings.filterwarnings("ignore", category=UserWarning, module="keras")
    demo, resumed = open_output_dir(FLAGS.output_dir, settings_from_flags())
    with _quiet_stderr(not verbose):
        import tensorflow  # noqa: F401
    print(
        "nonlocal-tf demo: a non-local network learns a long-range "
        "space-time relation\n"
        f"output: {os.path.abspath(demo.root)}"
        + (" (resuming the run found there)" if resumed else "")
        + ("\n--quick: a few videos and steps, plumbing only" * FLAGS.quick),
        flush=True,
    )
    data, request = make_videos(demo)
    prepare_records(demo, data)
    demo.step("Train a non-local network (nonlocal_tf.training.train)")
    result = train_model(demo)
    evaluate_model(demo, result.model)
    if FLAGS.compare_baseline:
        compare_baseline(demo)
    path = export_model(demo, result.model)
    answer_request(demo, path, request)
    print_summary(demo)


if __name__ == "__main__":
    cli.run(main)
