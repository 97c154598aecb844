r"""Classifies one video file: multi-view test, top-5 labels.

The video is cut into the model's test views as the test pipeline cuts a
record (`nonlocal_tf.data.read_video_views`: frames resized to --short_side
as preparation does, then the clip spec's K clips x 1 or 3 crops of its
test crop size); the softmax of every view is averaged. Clip flags override
the spec (logged).

--model is a training run's model_dir, a zoo name with --weights (a
*.weights.h5 file, a zoo checkpoint or weight tag) or a .keras file;
--exported is any export of export.py (a SavedModel version directory, or
an ONNX, OpenVINO or LiteRT one), run by its runtime with the clip spec and
class names it carries; --saved_model is a SavedModel, as before:

  python scripts/predict.py --video=clip.mp4 --model=/runs/c2d_nl \
      --labels=records/label_map.json

  python scripts/predict.py --video=clip.mp4 --saved_model=/models/c2d_nl/1

  python scripts/predict.py --video=clip.mp4 --exported=/models/c2d_onnx/1
"""

import os

import numpy as np
from absl import app
from absl import flags
from absl import logging

from nonlocal_tf import cli
from nonlocal_tf import data
from nonlocal_tf import export
from nonlocal_tf import fileio
from nonlocal_tf import training
from nonlocal_tf.data import annotations
from nonlocal_tf.export import runtimes
from nonlocal_tf.programs import common

# Modules that import TensorFlow are imported in the functions that use
# them, after `cli.run` has loaded it quietly (programs/__init__.py).

FLAGS = flags.FLAGS
flags.DEFINE_string("video", None, "The video file.")
common.define_model_flags(
    "For --model: classes of the head; default the label map's size, else "
    "the model's."
)
flags.DEFINE_string("saved_model", None, "An exported SavedModel directory.")
flags.DEFINE_string(
    "exported",
    None,
    "Any export of export.py: a SavedModel version directory, or an ONNX, "
    "OpenVINO or LiteRT export directory (its clip spec and class names are "
    "read from it).",
)
flags.DEFINE_string(
    "labels",
    None,
    "Class names: label_map.json ({name: index}), a JSON list or one name "
    "per line. Default: class_<i> (an export's own labels when given).",
)
common.define_clip_flags()
flags.DEFINE_integer(
    "short_side",
    320,
    "Frames are first resized to this short side, as prepare_data.py does "
    "(0 keeps the video's size).",
    lower_bound=0,
)
flags.DEFINE_float("fps", None, "Resample to this frame rate first.")
common.require("fps", lambda v: v > 0, "must be > 0")
flags.DEFINE_integer(
    "view_batch_size", None, "Views per model call.", lower_bound=1
)
flags.DEFINE_integer("top_k", 5, "Classes printed.", lower_bound=1)
flags.DEFINE_string(
    "output_json", None, "Also write the probabilities and top-k here."
)
flags.adopt_module_key_flags(common)
flags.mark_flag_as_required("video")


def load_labels():
    if not FLAGS.labels:
        return None
    return annotations.load_label_names(FLAGS.labels)


def load_model(names):
    """`(model or callable, clip spec)` from --model / --saved_model /
    --exported."""
    given = [FLAGS.model, FLAGS.saved_model, FLAGS.exported]
    if sum(bool(source) for source in given) != 1:
        raise app.UsageError(
            "Give exactly one of --model, --saved_model and --exported."
        )
    if FLAGS.exported:
        return load_exported(FLAGS.exported)
    if FLAGS.saved_model:
        model = export.SavedModelClassifier(FLAGS.saved_model)
        if model.clip_spec is None:
            raise app.UsageError(
                f"{FLAGS.saved_model} has no clip spec (exported before clip "
                "specs): give the clip flags"
            )
        return model, common.apply_overrides(model.clip_spec, FLAGS)[0]
    resolved = common.resolve_model(
        FLAGS, num_classes=FLAGS.num_classes or (len(names) if names else None)
    )
    return resolved.model, resolved.clip_spec


class ExportedClassifier:
    """An export as a callable on *normalised* clips, as `score_video` calls
    models (the export takes [0, 255] and normalises with its own spec)."""

    def __init__(self, exported):
        self.exported = exported
        spec = exported.clip_spec
        self._mean = np.asarray(spec.mean, np.float32)
        self._std = np.asarray(spec.std, np.float32)
        names = exported.class_names or []
        self.label_names = dict(enumerate(names))

    def __call__(self, clips):
        pixels = np.asarray(clips, np.float32) * self._std + self._mean
        if self.exported.input_kind == runtimes.FRAMES_INPUT:
            # The views are the spec's test crops already, uint8 values
            # before normalising: the export's resize to S is the identity.
            pixels = np.clip(np.round(pixels), 0, 255).astype(np.uint8)
        return self.exported.predict(pixels)


def load_exported(path):
    """`(callable, clip spec)` of any export; clip flags may not change T or
    the test crop size, which the export fixes."""
    try:
        exported = runtimes.load_exported(path)
    except runtimes.MissingExtraError as error:
        raise app.UsageError(str(error)) from None
    if exported.clip_spec is None:
        raise app.UsageError(
            f"{path} has no clip spec (exported before clip specs): use "
            "--saved_model with the clip flags"
        )
    spec, _ = common.apply_overrides(exported.clip_spec, FLAGS)
    _, frames, height, width, _ = exported.input_shape
    fixed = {
        "num_frames": (frames, spec.num_frames),
        "test_crop_size": (height or width, spec.test_crop_size),
    }
    for flag, (export_value, value) in fixed.items():
        if export_value is not None and export_value != value:
            raise app.UsageError(
                f"{path} ({exported.format}) takes clips of {export_value} "
                f"({flag}); received --{flag}={value}."
            )
    logging.info("Exported %s model %s", exported.format, path)
    return ExportedClassifier(exported), spec


def main(argv):
    del argv
    if not os.path.isfile(FLAGS.video):
        raise FileNotFoundError(f"--video {FLAGS.video}: no such file")
    names = load_labels()
    model, spec = load_model(names)
    views = data.read_video_views(
        FLAGS.video, spec, short_side=FLAGS.short_side or None, fps=FLAGS.fps
    )
    probabilities, _ = training.score_video(
        model, views, view_batch_size=FLAGS.view_batch_size
    )
    if names is not None and len(names) != len(probabilities):
        raise app.UsageError(
            f"--labels has {len(names)} names, the model {len(probabilities)} "
            "classes."
        )
    if names is None:
        known = getattr(model, "label_names", {})
        names = [known.get(i, f"class_{i}") for i in range(len(probabilities))]
    order = np.argsort(-probabilities, kind="stable")[: FLAGS.top_k]
    top = [(names[i], int(i), float(probabilities[i])) for i in order]
    print(
        f"{FLAGS.video}: {views.shape[0]} views ({spec.num_test_clips} "
        f"clips x {spec.num_test_crops} crops of {spec.test_crop_size}, "
        f"{spec.num_frames} frames every {spec.sampling_rate}), softmax "
        "averaged"
    )
    for rank, (name, _, score) in enumerate(top, start=1):
        print(f"  {rank}. {name}  {score:.6f}")
    if FLAGS.output_json:
        fileio.atomic_write_json(
            FLAGS.output_json,
            {
                "video": FLAGS.video,
                "model": FLAGS.model or FLAGS.saved_model or FLAGS.exported,
                "num_views": int(views.shape[0]),
                "clip_spec": spec.to_dict(),
                "probabilities": probabilities.tolist(),
                "top_k": [
                    {"label": n, "index": i, "score": p} for n, i, p in top
                ],
            },
        )


def run():
    """The console command `nonlocal-predict`."""
    cli.run(main, tensorflow=True)
