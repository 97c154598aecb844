r"""Converts a Caffe2 / PySlowFast checkpoint into a preset or `.weights.h5`.

The checkpoint is loaded strictly into the zoo model --model (at
--width_per_group, with the checkpoint's head) and saved atomically, as a
KerasHub preset directory (what `VideoClassifier.from_preset` and
`keras_hub.upload_preset` take) or a Keras weights file:

  python scripts/convert_weights.py --model=i3d_nl5_r50_8x8 \
      --checkpoint=i3d_nonlocal_8x8_IN_pretrain_400k.pkl \
      --to_preset=presets/i3d_nl5_r50_8x8_kinetics400

  python scripts/convert_weights.py --model=i3d_nl5_r50_8x8 \
      --checkpoint=i3d_nonlocal_8x8_IN_pretrain_400k.pkl \
      --output=i3d_nl5_r50_8x8.weights.h5

Mistakes (a missing, empty, truncated or refused checkpoint, a checkpoint
that does not fit --model) end with one `error: ...` line and exit status 1;
--verbosity=1 adds the traceback and the tensor-by-tensor report.
"""

from absl import app
from absl import flags

from nonlocal_tf import cli

# Modules that import TensorFlow are imported in the functions that use
# them, after `cli.run` has loaded it quietly (programs/__init__.py).

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Zoo model name or alias.", required=True)
flags.DEFINE_string(
    "checkpoint",
    None,
    "Caffe2 .pkl, PySlowFast .pkl/.pyth or .npz state_dict.",
    required=True,
)
flags.DEFINE_string("output", None, "Destination, ending in .weights.h5.")
flags.DEFINE_string(
    "to_preset", None, "Destination preset directory (new), instead."
)
flags.DEFINE_integer(
    "width_per_group", 64, "Width of the checkpoint's network."
)
flags.DEFINE_integer(
    "num_classes", None, "Head classes (default: from the checkpoint)."
)
# The name this setting had before the programs shared one (`num_classes`).
flags.DEFINE_alias("classes", "num_classes")


def main(argv):
    del argv
    from nonlocal_tf.zoo import convert

    if (FLAGS.output is None) == (FLAGS.to_preset is None):
        raise app.UsageError("Give --output or --to_preset (one of them).")
    report = convert.convert_checkpoint(
        FLAGS.model,
        FLAGS.checkpoint,
        FLAGS.output,
        to_preset=FLAGS.to_preset,
        width_per_group=FLAGS.width_per_group,
        num_classes=FLAGS.num_classes,
    )
    print(report.summary())
    print(f"wrote {FLAGS.output or FLAGS.to_preset}")
    return 0


def run():
    """The console command `nonlocal-convert-weights`."""
    cli.run(main, tensorflow=True)
