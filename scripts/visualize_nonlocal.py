r"""Draws a non-local block's attention for one query (the paper's Fig. 3).

One clip of the video (the centre one of --num_test_clips evenly spaced
clips, or --clip_index; short side and centre crop --crop_size) goes through
the model up to the chosen block, which is called with
`return_attention=True`. The PNG shows every frame of the clip with the
query's attention weights over that frame's key positions (the block's
input grid after its (1, 2, 2) subsampling, upsampled), on one colour scale
for the whole clip from its smallest weight (dark) to its largest (bright;
the range is printed), and the query marked by a cyan square outline:

    python scripts/visualize_nonlocal.py --video=clip.mp4 \
        --model=C2D_NLN_8x8_R50 --weights=/runs/c2d_nl --block=0 \
        --query=4,14,14 --output=attention.png

    python scripts/visualize_nonlocal.py --video=clip.mp4 \
        --model=C2D_NLN_8x8_R50 --weights=/runs/c2d_nl \
        --query=3,100,150 --query_units=pixels --output=attention.png

--query is `t,y,x`: with --query_units=grid (default), a position of the
block's input grid (T, H, W; res3 of an 8x224x224 C2D clip with temporal
pool2 is 4 x 28 x 28); with --query_units=pixels, a frame of the clip and a
pixel row and column of the crop. The script prints both grids and the
block names. Default query: the centre of the block's input grid.
"""

import os

import script_utils
from absl import app
from absl import flags

FLAGS = flags.FLAGS
flags.DEFINE_string("video", None, "The video file.")
flags.DEFINE_string("output", None, "The PNG to write.")
script_utils.define_zoo_model_flags(
    "For --model: classes of the head (default 400)."
)
flags.DEFINE_string("keras_model", None, "A .keras model file instead.")
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
flags.DEFINE_integer("num_frames", None, "Frames per clip (T).")
flags.DEFINE_integer("sampling_rate", None, "Frame stride within a clip.")
flags.DEFINE_integer("crop_size", None, "Short side and centre crop.")
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
flags.mark_flags_as_required(["video", "output"])


def load_model(num_frames, size):
    """The Keras model (zoo name with --weights, or --keras_model)."""
    if bool(FLAGS.model) == bool(FLAGS.keras_model):
        raise app.UsageError("Give exactly one of --model and --keras_model.")
    from nonlocal_tf import zoo  # registers the custom layers

    if FLAGS.keras_model:
        import keras

        return keras.saving.load_model(FLAGS.keras_model, compile=False)
    model = zoo.get_model(
        FLAGS.model,
        weights=None,
        classes=FLAGS.num_classes,
        input_shape=(num_frames, size, size, 3),
        width_per_group=FLAGS.width_per_group,
    )
    script_utils.load_model_weights(model, FLAGS.model, FLAGS.weights)
    return model


def clip_settings():
    num_frames, rate, size = (
        FLAGS.num_frames,
        FLAGS.sampling_rate,
        FLAGS.crop_size,
    )
    if FLAGS.model:
        from nonlocal_tf import zoo

        entry = zoo.get_entry(FLAGS.model)
        num_frames = num_frames or entry.frames
        rate = rate or entry.sampling_rate
        size = size or entry.crop_size
    if not (num_frames and rate and size):
        raise app.UsageError(
            "Give --num_frames, --sampling_rate and --crop_size."
        )
    return num_frames, rate, size


def write_png(image, path):
    """Writes a uint8 (H, W, 3) image as PNG, atomically."""
    import tensorflow as tf

    data = tf.io.encode_png(image).numpy()
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    temp = os.path.join(
        directory, f".{os.path.basename(path)}.tmp-{os.getpid()}"
    )
    with open(temp, "wb") as f:
        f.write(data)
    os.replace(temp, path)


def main(argv):
    del argv
    import numpy as np

    from nonlocal_tf import data
    from nonlocal_tf.data import transforms
    from nonlocal_tf.models import attention

    num_frames, rate, size = clip_settings()
    views = data.read_video_views(
        FLAGS.video,
        num_frames=num_frames,
        sampling_rate=rate,
        test_crop_size=size,
        num_test_clips=FLAGS.num_test_clips,
        num_test_crops=1,
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
    model = load_model(num_frames, size)
    query, units = None, FLAGS.query_units
    if FLAGS.query is not None:
        if len(FLAGS.query) != 3:
            raise app.UsageError("--query must be t,y,x.")
        query = tuple(int(v) for v in FLAGS.query)
    try:
        result = attention.attention_maps(
            model, clip, query, block=FLAGS.block, units=units
        )
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    frames = np.clip(
        np.round(clip * transforms.STD_PIXEL + transforms.MEAN_PIXEL), 0, 255
    ).astype(np.uint8)
    query_pixel = None
    if query is not None and units == "pixels":
        query_pixel = query[1:]
    image = attention.render_attention_grid(
        frames,
        result,
        query_pixel=query_pixel,
        columns=FLAGS.columns,
        alpha=FLAGS.alpha,
    )
    write_png(image, FLAGS.output)
    print(
        f"non-local blocks: {', '.join(attention.nonlocal_block_names(model))}"
    )
    print(
        f"block {result.block}: input grid (T, H, W) = {result.input_grid}, "
        f"key grid = {result.key_grid}; query {result.query} (grid)"
    )
    print(
        f"weights from {result.maps.min():.6f} (dark) to "
        f"{result.maps.max():.6f} (bright); uniform would be "
        f"{1 / result.row.size:.6f}"
    )
    top = np.argsort(-result.maps.reshape(-1), kind="stable")[:5]
    for rank, flat in enumerate(top, start=1):
        position = np.unravel_index(flat, result.key_grid)
        print(
            f"  {rank}. key {tuple(int(p) for p in position)}  "
            f"{result.maps.reshape(-1)[flat]:.6f}"
        )
    print(f"wrote {FLAGS.output} ({image.shape[1]} x {image.shape[0]})")


if __name__ == "__main__":
    app.run(main)
