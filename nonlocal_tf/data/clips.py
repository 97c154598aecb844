"""Pipeline stage 4: a parsed record -> a training clip or all its test views.

Training (`train_clip_fn`): the clip's frame indices (`sampling`), then the
fused decode: only the JPEGs the clip uses are decoded, and of each only the
source window that maps onto the random crop (`tf.io.decode_and_crop_jpeg`,
`transforms.decode_crop_resize`), which is then resized to the crop. That
equals scaling the whole frame and cropping, up to the window's rounding to
whole source pixels, and decodes a third of the pixels of a 320p frame for a
224 crop of a short side in [256, 320]; it is the pipeline's largest saving.
Augmentation draws from stateless seeds folded from the element's position,
so a resumed iterator draws the same crops.

Test (`test_views_fn`): the distinct frames of the K clips are decoded once,
scaled to the test short side, rounded to uint8 and cut into K x 1 or 3
views (`transforms.test_views`: the clip spec's test transform of
`nonlocal_tf.models.preprocessing`); they are normalised after batching.
"""

import tensorflow as tf

from nonlocal_tf.data import parsing
from nonlocal_tf.data import sampling
from nonlocal_tf.data import transforms
from nonlocal_tf.models import preprocessing


def context(element):
    return {k: element[k] for k in ("labels", "video_id", "filename", "index")}


def train_clip_fn(settings, base_seed):
    spec = settings.spec
    num_frames = spec.num_frames

    def element(record):
        where = parsing.where_of(record, record["filename"], record["index"])
        seed = tf.random.experimental.stateless_fold_in(
            base_seed, record["position"]
        )
        time_seed, crop_seed, flip_seed = tf.unstack(
            tf.random.experimental.stateless_split(seed, 3)
        )
        indices = sampling.train_frame_indices(
            record["count"],
            num_frames,
            spec.sampling_rate,
            time_seed,
            policy=spec.temporal_sampling,
        )
        jpegs = tf.ensure_shape(
            tf.gather(record["frames"], indices), [num_frames]
        )
        jpegs = parsing.checked_jpegs(jpegs, where)
        shape = tf.io.extract_jpeg_shape(jpegs[0])
        window = transforms.train_crop_window(
            shape[0],
            shape[1],
            crop_size=spec.crop_size,
            jitter_scales=spec.jitter_scales,
            seed=crop_seed,
        )
        flip = False
        if settings.random_flip:
            flip = tf.random.stateless_uniform([], flip_seed) < 0.5
        clip = transforms.decode_crop_resize(
            jpegs, window, spec.crop_size, flip, spec.jpeg_dct_method
        )
        clip = preprocessing.normalize(clip, spec.mean, spec.std)
        return {"clips": clip, **context(record)}

    return element


def test_views_fn(settings):
    spec = settings.spec

    def element(record):
        where = parsing.where_of(record, record["filename"], record["index"])
        indices = sampling.test_frame_indices(
            record["count"],
            spec.num_frames,
            spec.sampling_rate,
            spec.num_test_clips,
            policy=spec.temporal_sampling,
        )
        distinct, positions = tf.unique(tf.reshape(indices, [-1]))
        jpegs = parsing.checked_jpegs(
            tf.gather(record["frames"], distinct), where
        )
        frames = transforms.decode_jpegs(jpegs, spec.jpeg_dct_method)
        views = transforms.test_views(
            frames,
            positions,
            num_clips=spec.num_test_clips,
            num_frames=spec.num_frames,
            crop_size=spec.test_crop_size,
            num_crops=spec.num_test_crops,
        )
        return {"views": views, **context(record)}

    return element


def output_spec(settings):
    spec = settings.spec
    if settings.training:
        key = "clips"
        shape = list(spec.train_input_shape)
        dtype = tf.float32
    else:
        key = "views"
        shape = [spec.num_test_views, *spec.test_input_shape]
        dtype = tf.uint8  # normalised after batching: 4x less buffer memory
    return {
        key: tf.TensorSpec(shape, dtype),
        "labels": parsing.label_spec(settings),
        "video_id": tf.TensorSpec([], tf.string),
        "filename": tf.TensorSpec([], tf.string),
        "index": tf.TensorSpec([], tf.int64),
    }
