r"""Draws a non-local block's attention for one query (the paper's Fig. 3).

One clip of the video (the centre one of --num_test_clips evenly spaced
clips, or --clip_index; the model's clip spec gives frames x rate and the
test crop: short side and centre crop) goes through the model up to the
chosen block, which is called with `return_attention=True`. The PNG shows
every frame of the clip with the query's attention weights over that
frame's key positions (the block's input grid after its (1, 2, 2)
subsampling, upsampled), on one colour scale for the whole clip from its
smallest weight (dark) to its largest (bright), the query marked by a
cyan square outline, and a colour bar under the frames with the range's
ends and the weight of uniform attention marked (near-uniform attention
looks decisive on a stretched scale; the printed ratios say how far from
uniform it is):

  python scripts/visualize_nonlocal.py --video=clip.mp4 \
      --model=/runs/c2d_nl --block=0 --query=4,14,14 --output=attention.png

  python scripts/visualize_nonlocal.py --video=clip.mp4 \
      --model=/runs/c2d_nl --query=3,100,150 --query_units=pixels \
      --output=attention.png

--query is `t,y,x`: with --query_units=grid (default), a position of the
block's input grid (T, H, W; res3 of an 8x224x224 C2D clip with temporal
pool2 is 4 x 28 x 28); with --query_units=pixels, a frame of the clip and a
pixel row and column of the crop. The program prints both grids and the
block names. Default query: the centre of the block's input grid.
"""

import dataclasses
import os

import numpy as np
from absl import app
from absl import flags

from nonlocal_tf import cli
from nonlocal_tf import data
from nonlocal_tf import fileio
from nonlocal_tf import visualization
from nonlocal_tf.programs import common

# Modules that import TensorFlow are imported in the functions that use
# them, after `cli.run` has loaded it quietly (programs/__init__.py).

FLAGS = flags.FLAGS
CLIP_FLAGS = (
    "num_frames",
    "sampling_rate",
    "temporal_sampling",
    "test_crop_size",
)
flags.DEFINE_string("video", None, "The video file.")
flags.DEFINE_string("output", None, "The PNG to write.")
common.define_model_flags("For --model: classes of the head.")
flags.DEFINE_string("keras_model", None, "A .keras file (same as --model).")
flags.DEFINE_string(
    "block", "0", "Non-local block: its layer name or index (0: the first)."
)
flags.DEFINE_list("query", None, "t,y,x of the query (see --query_units).")
flags.DEFINE_enum(
    "query_units",
    "grid",
    ["grid", "pixels"],
    "grid: the block's input grid; pixels: frame, row, column of the clip.",
)
common.define_clip_flags(CLIP_FLAGS)
flags.DEFINE_integer("num_test_clips", 1, "Evenly spaced clips to pick from.")
flags.DEFINE_integer("clip_index", None, "Which clip; default the centre.")
flags.DEFINE_integer(
    "short_side",
    320,
    "Frames are first resized to this short side, as prepare_data.py does "
    "(0 keeps the video's size).",
)
flags.DEFINE_integer("columns", None, "Frames per row (default up to 8).")
flags.DEFINE_float("alpha", 0.6, "Opacity of the heat map.")
flags.adopt_module_key_flags(common)
flags.mark_flags_as_required(["video", "output"])


def _query():
    if FLAGS.query is None:
        return None
    if len(FLAGS.query) != 3:
        raise app.UsageError("--query must be t,y,x.")
    return tuple(int(v) for v in FLAGS.query)


def main(argv):
    del argv
    if not os.path.isfile(FLAGS.video):
        raise FileNotFoundError(f"--video {FLAGS.video}: no such file")
    if FLAGS.model and FLAGS.keras_model:
        raise app.UsageError("Give --model or --keras_model, not both.")
    from nonlocal_tf.data import transforms
    from nonlocal_tf.models import attention

    query, units = _query(), FLAGS.query_units
    resolved = common.resolve_model(
        FLAGS, source=FLAGS.model or FLAGS.keras_model
    )
    model, spec = resolved.model, resolved.clip_spec
    views = data.read_video_views(
        FLAGS.video,
        dataclasses.replace(
            spec, num_test_clips=FLAGS.num_test_clips, num_test_crops=1
        ),
        short_side=FLAGS.short_side or None,
    ).numpy()
    index = FLAGS.clip_index
    if index is None:
        index = FLAGS.num_test_clips // 2
    if not 0 <= index < len(views):
        raise app.UsageError(
            f"--clip_index={index}: there are {len(views)} clips."
        )
    clip = views[index]
    try:
        result = attention.attention_maps(
            model, clip, query, block=FLAGS.block, units=units
        )
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    frames = np.clip(
        np.round(transforms.denormalize(clip, spec.mean, spec.std).numpy()),
        0,
        255,
    ).astype(np.uint8)
    image = visualization.render_attention_grid(
        frames,
        result,
        query_pixel=query[1:]
        if query is not None and units == "pixels"
        else None,
        columns=FLAGS.columns,
        alpha=FLAGS.alpha,
    )
    import tensorflow as tf

    fileio.atomic_write_bytes(FLAGS.output, tf.io.encode_png(image).numpy())
    _print_result(model, result, image)


def _print_result(model, result, image):
    from nonlocal_tf.models import attention

    print(
        f"non-local blocks: {', '.join(attention.nonlocal_block_names(model))}"
    )
    print(
        f"block {result.block}: input grid (T, H, W) = {result.input_grid}, "
        f"key grid = {result.key_grid}; query {result.query} (grid)"
    )
    uniform = 1 / result.row.size
    low, high = result.maps.min(), result.maps.max()
    print(
        f"weights from {low:.6f} (dark) to {high:.6f} (bright); uniform "
        f"attention would be {uniform:.6f} (white mark on the colour bar): "
        f"{low / uniform:.3f}x to {high / uniform:.3f}x uniform"
    )
    top = np.argsort(-result.maps.reshape(-1), kind="stable")[:5]
    for rank, flat in enumerate(top, start=1):
        position = np.unravel_index(flat, result.key_grid)
        print(
            f"  {rank}. key {tuple(int(p) for p in position)}  "
            f"{result.maps.reshape(-1)[flat]:.6f}"
        )
    print(f"wrote {FLAGS.output} ({image.shape[1]} x {image.shape[0]})")


def run():
    """The console command `nonlocal-visualize`."""
    cli.run(main, tensorflow=True)
