r"""Export parity at full width: each runtime's probabilities against Keras's.

For each model of --models (full width, random weights with random batch
norm statistics and a sharper classifier, so that the probabilities are far
from uniform) and each head (`global_average` at the training crop 224;
`fully_convolutional` at the test crop 256, where the classifier runs at
every position of res5), exports ONNX, OpenVINO and LiteRT from one traced
graph and prints the largest absolute difference of each runtime's
probabilities from the Keras model's on the same random clips. With
`frames` in --input_kinds, also the exports taking uint8 frames
(`input_kind="frames"`, 240 x 320 random frames here) against the clip
spec's Keras video converter followed by the model. Writes JSON.

  python -m benchmarks.export_parity \
      --output=benchmarks/results/export_parity.json
  python -m benchmarks.export_parity --quick   # width 4, 32 px: a smoke run

A format that fails is reported with its error, not left out.
"""

import os
import tempfile

import keras
import numpy as np
from absl import flags

from benchmarks import random_weights
from nonlocal_tf import cli
from nonlocal_tf import zoo
from nonlocal_tf.export import formats
from nonlocal_tf.export import runtimes

FLAGS = flags.FLAGS
FORMATS = ("onnx", "openvino", "litert")
HEADS = ("global_average", "fully_convolutional")

flags.DEFINE_list(
    "models", ["C2D_NLN_8x8_R50", "I3D_NLN_8x8_R50"], "Zoo model names."
)
flags.DEFINE_list("formats", list(FORMATS), f"Among {list(FORMATS)}.")
flags.DEFINE_list(
    "input_kinds", ["video", "frames"], "Export inputs: video and/or frames."
)
flags.DEFINE_integer("batch_size", 2, "Clips compared per model and head.")
flags.DEFINE_integer("num_classes", 400, "Classes of the random head.")
flags.DEFINE_bool("quick", False, "Width 4, 4 frames of 32/40 px: a smoke run.")
flags.DEFINE_string(
    "output", "benchmarks/results/export_parity.json", "JSON results."
)


def build(name, head, quick):
    """The model with `head`, its spec's crops at full or quick size."""
    spec = zoo.get_entry(name).clip_spec
    crop, test_crop = (32, 40) if quick else (spec.crop_size, 256)
    spec, _ = spec.override(
        num_frames=4 if quick else spec.num_frames,
        crop_size=crop,
        jitter_scales=(crop, test_crop),
        test_crop_size=crop if head == "global_average" else test_crop,
        test_head=head,
    )
    model = zoo.get_model(
        name,
        width_per_group=4 if quick else 64,
        num_classes=FLAGS.num_classes,
        clip_spec=spec,
    )
    random_weights.randomize(model, seed=7)
    return model, spec


def keras_probabilities(model, clips, spec):
    mean = np.asarray(spec.mean, np.float32)
    std = np.asarray(spec.std, np.float32)
    return keras.ops.convert_to_numpy(
        model((clips - mean) / std, training=False)
    )


def inputs_and_expected(model, spec, input_kind):
    """Random inputs of `input_kind` and the Keras model's probabilities."""
    from nonlocal_tf.models import preprocessing

    rng = np.random.default_rng(0)
    if input_kind == "frames":
        height, width = (30, 40) if FLAGS.quick else (240, 320)
        frames = rng.integers(
            0, 256, (FLAGS.batch_size, spec.num_frames, height, width, 3)
        ).astype(np.uint8)
        converter = preprocessing.VideoResNetVideoConverter.from_clip_spec(spec)
        expected = model(converter(frames), training=False)
        return frames, keras.ops.convert_to_numpy(expected)
    size = spec.test_crop_size
    clips = rng.uniform(
        0.0, 255.0, (FLAGS.batch_size, spec.num_frames, size, size, 3)
    ).astype(np.float32)
    return clips, keras_probabilities(model, clips, spec)


def measure(name, head, input_kind, root):
    model, spec = build(name, head, FLAGS.quick)
    inputs, expected = inputs_and_expected(model, spec, input_kind)
    graph = formats.build_export_graph(model, input_kind=input_kind)
    row = {
        "model": name,
        "head": head,
        "input_kind": input_kind,
        "input": list(inputs.shape[1:]),
    }
    row["max_probability"] = float(expected.max())
    for format in FLAGS.formats:
        try:
            path = formats.write_export(
                graph,
                os.path.join(root, f"{name}_{head}_{input_kind}_{format}"),
                format,
            )
            got = runtimes.load_exported(path).predict(inputs)
            row[format] = float(np.abs(got - expected).max())
        except Exception as error:  # noqa: BLE001 (reported, not hidden)
            row[format] = f"error: {type(error).__name__}: {error}"[:500]
    print(format_row(row), flush=True)
    return row


def format_row(row):
    cells = [f"{row['model']:<16} {row['head']:<20} {row['input_kind']:<7}"]
    for format in FLAGS.formats:
        value = row[format]
        cells.append(
            f"{value:>10.1e}" if isinstance(value, float) else value[:60]
        )
    return " ".join(cells)


def main(argv):
    del argv
    from nonlocal_tf import fileio

    print(
        f"{'model':<16} {'head':<20} {'input':<7} "
        + " ".join(f"{f:>10}" for f in FLAGS.formats)
        + "   (max |p - p_keras|)"
    )
    with tempfile.TemporaryDirectory() as root:
        rows = [
            measure(name, head, input_kind, root)
            for name in FLAGS.models
            for head in HEADS
            for input_kind in FLAGS.input_kinds
        ]
    fileio.atomic_write_json(FLAGS.output, {"rows": rows})
    print(f"wrote {FLAGS.output}")


if __name__ == "__main__":
    cli.run(main, tensorflow=True)
