r"""Classifies one video file: multi-view test, top-5 labels.

The video is cut into --num_test_clips clips x --num_test_crops crops as in
the test pipeline (`nonlocal_tf.data.read_video_views`: frames resized to
--short_side as preparation does, then short side --test_crop_size and 1 or
3 crops); the softmax of every view is averaged.

The model is a zoo name with --weights (a training run's model_dir, a
*.weights.h5 file, a zoo checkpoint or weight tag), or an exported
SavedModel (--saved_model, called through `serving_default`, which takes RGB
in [0, 255]):

    python scripts/predict.py --video=clip.mp4 --model=C2D_NLN_8x8_R50 \
        --weights=/runs/c2d_nl --labels=records/label_map.json

    python scripts/predict.py --video=clip.mp4 \
        --saved_model=/models/c2d_nl/1 --num_test_clips=10

Frames, sampling rate and crop default to the zoo entry's (e.g. 8 x 8, 256)
or to the SavedModel's clip shape.
"""

import json

import script_utils
from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("video", None, "The video file.")
script_utils.define_zoo_model_flags(
    "For --model: classes of the head; default the label map's size, else "
    "the zoo entry's."
)
flags.DEFINE_string("saved_model", None, "An exported SavedModel directory.")
flags.DEFINE_string(
    "labels",
    None,
    "Class names: label_map.json ({name: index}), a JSON list or one name "
    "per line. Default: class_<i> (a SavedModel's own labels when given).",
)
flags.DEFINE_integer("num_frames", None, "Frames per clip (T).")
flags.DEFINE_integer("sampling_rate", None, "Frame stride within a clip.")
flags.DEFINE_integer("test_crop_size", None, "Short side and crop size.")
flags.DEFINE_integer("num_test_clips", 10, "Clips (K), evenly spaced.")
flags.DEFINE_integer("num_test_crops", 3, "Crops per clip (1 or 3).")
flags.DEFINE_integer(
    "short_side",
    320,
    "Frames are first resized to this short side, as prepare_data.py does "
    "(0 keeps the video's size).",
)
flags.DEFINE_float("fps", None, "Resample to this frame rate first.")
flags.DEFINE_integer("view_batch_size", None, "Views per model call.")
flags.DEFINE_integer("top_k", 5, "Classes printed.")
flags.DEFINE_string(
    "output_json", None, "Also write the probabilities and top-k here."
)
flags.mark_flag_as_required("video")


def clip_settings(entry=None, video_shape=None):
    """(num_frames, sampling_rate, test_crop_size) from flags and defaults."""
    num_frames = FLAGS.num_frames
    rate = FLAGS.sampling_rate
    size = FLAGS.test_crop_size
    if entry is not None:
        num_frames = num_frames or entry.frames
        rate = rate or entry.sampling_rate
        size = size or entry.test_crop_size
    if video_shape is not None:
        static_t, static_h = video_shape[1], video_shape[2]
        num_frames = num_frames or static_t
        size = size or static_h
    missing = [
        name
        for name, value in (
            ("--num_frames", num_frames),
            ("--sampling_rate", rate),
            ("--test_crop_size", size),
        )
        if not value
    ]
    if missing:
        raise app.UsageError(f"Give {', '.join(missing)}.")
    return num_frames, rate, size


def load_labels():
    if not FLAGS.labels:
        return None
    from nonlocal_tf.export import labels

    return labels.load_label_names(FLAGS.labels)


def zoo_model(names):
    """The zoo model (softmax head) with --weights; returns (model, entry)."""
    from nonlocal_tf import zoo

    entry = zoo.get_entry(FLAGS.model)
    num_classes = FLAGS.num_classes or (len(names) if names else None)
    num_frames, _, size = clip_settings(entry)
    model = zoo.get_model(
        FLAGS.model,
        weights=None,
        classes=num_classes,
        input_shape=(num_frames, size, size, 3),
        width_per_group=FLAGS.width_per_group,
    )
    script_utils.load_model_weights(model, FLAGS.model, FLAGS.weights)
    return model, entry


def main(argv):
    del argv
    if bool(FLAGS.model) == bool(FLAGS.saved_model):
        raise app.UsageError("Give exactly one of --model and --saved_model.")
    import numpy as np

    from nonlocal_tf import data
    from nonlocal_tf import training

    names = load_labels()
    if FLAGS.saved_model:
        model = training.SavedModelClassifier(FLAGS.saved_model)
        num_frames, rate, size = clip_settings(video_shape=model.video_shape)
    else:
        model, entry = zoo_model(names)
        num_frames, rate, size = clip_settings(entry)
    views = data.read_video_views(
        FLAGS.video,
        num_frames=num_frames,
        sampling_rate=rate,
        test_crop_size=size,
        num_test_clips=FLAGS.num_test_clips,
        num_test_crops=FLAGS.num_test_crops,
        short_side=FLAGS.short_side or None,
        fps=FLAGS.fps,
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
        f"{FLAGS.video}: {views.shape[0]} views ({FLAGS.num_test_clips} "
        f"clips x {FLAGS.num_test_crops} crops of {size}, {num_frames} "
        f"frames every {rate}), softmax averaged"
    )
    for rank, (name, _, score) in enumerate(top, start=1):
        print(f"  {rank}. {name}  {score:.6f}")
    if FLAGS.output_json:
        from nonlocal_tf.training import io_utils

        io_utils.atomic_write_text(
            FLAGS.output_json,
            json.dumps(
                {
                    "video": FLAGS.video,
                    "model": FLAGS.model or FLAGS.saved_model,
                    "num_views": int(views.shape[0]),
                    "probabilities": probabilities.tolist(),
                    "top_k": [
                        {"label": n, "index": i, "score": p} for n, i, p in top
                    ],
                },
                indent=2,
            ),
        )


if __name__ == "__main__":
    app.run(main)
