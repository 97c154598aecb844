"""Converts a Caffe2 / PySlowFast checkpoint into a Keras `.weights.h5`.

Mistakes (a missing, empty, truncated or refused checkpoint, a checkpoint
that does not fit --model) end with one `error: ...` line and exit status 1;
--verbosity=1 adds the traceback and the tensor-by-tensor report.

Example:
    python scripts/convert_weights.py --model=i3d_nl5_r50_8x8 \
        --checkpoint=i3d_nonlocal_8x8_IN_pretrain_400k.pkl \
        --output=i3d_nl5_r50_8x8.weights.h5
"""

from absl import flags

from nonlocal_tf import cli
from nonlocal_tf.zoo import convert

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "Zoo model name or alias.", required=True)
flags.DEFINE_string(
    "checkpoint",
    None,
    "Caffe2 .pkl, PySlowFast .pkl/.pyth or .npz state_dict.",
    required=True,
)
flags.DEFINE_string(
    "output", None, "Destination, ending in .weights.h5.", required=True
)
flags.DEFINE_integer(
    "width_per_group", 64, "Width of the checkpoint's network."
)
flags.DEFINE_integer(
    "classes", None, "Head classes (default: from the checkpoint)."
)


def main(argv):
    del argv
    report = convert.convert_checkpoint(
        FLAGS.model,
        FLAGS.checkpoint,
        FLAGS.output,
        width_per_group=FLAGS.width_per_group,
        num_classes=FLAGS.classes,
    )
    print(report.summary())
    print(f"wrote {FLAGS.output}")
    return 0


if __name__ == "__main__":
    cli.run(main)
