"""`build_dataset`: training and test clips from TFRecord files.

Stages (all `tf.data`, parallel with AUTOTUNE, deterministic order):

1. `_shard_files`: glob, sort, shard by `input_context` (one file set per
   input pipeline).
2. `_read_records`: per file (files shuffled in training, interleaved):
   read, parse the `SequenceExample` and check it (`parse_fn`); the end of
   each file is checked so that a damaged shard's loss is counted.
3. `_mix`: several clips per video, shuffle, repeat (training).
4. `_make_clips`: frame indices (`sampling.py`), the fused decode of only
   the crop window of only the clip's JPEGs, scale, crop, flip, normalise
   (training, `train_clip_fn`) or the test views, uint8 (`test_views_fn`;
   `transforms.py`).
5. `_batch`: batch, normalise the test views, prefetch.

Every option of a call lives in one `PipelineSettings` (the clip spec plus
the task) and one `_Run` (seed, pipeline, skipped-record counter).

Records that fail in 2 or 4 are skipped, logged and counted
(`integrity.count_gaps`, `integrity.SkippedRecords`).

`read_video_views` gives the test views of one video file straight from the
file (PyAV), without records.
"""

import dataclasses
import random

import numpy as np
import tensorflow as tf

from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.data import features
from nonlocal_tf.data import integrity
from nonlocal_tf.data import sampling
from nonlocal_tf.data import transforms
from nonlocal_tf.data import video
from nonlocal_tf.models import preprocessing

TRAIN = "train"
TEST = "test"
MODES = (TRAIN, TEST)


@dataclasses.dataclass(frozen=True)
class PipelineSettings:
    """What one `build_dataset` call produces: the clip spec plus the task.

    Attributes:
        spec: the model's `ClipSpec`.
        mode: "train" or "test".
        num_classes: checks labels; needed for multi-hot labels.
        multi_label: labels as multi-hot vectors.
        batch_size: elements per batch.
        random_flip: mirror training clips with probability 1/2.
        clips_per_video: training clips cut from each record read.
    """

    spec: ClipSpec
    mode: str
    num_classes: int | None
    multi_label: bool
    batch_size: int
    random_flip: bool
    clips_per_video: int

    def __post_init__(self):
        if self.mode not in MODES:
            raise ValueError(
                f"mode must be 'train' or 'test', got {self.mode!r}"
            )
        for key in ("clips_per_video", "batch_size"):
            if getattr(self, key) < 1:
                raise ValueError(
                    f"{key} must be >= 1, got {getattr(self, key)}"
                )
        if self.multi_label and not self.num_classes:
            raise ValueError("multi_label=True needs num_classes")

    @property
    def training(self):
        return self.mode == TRAIN


def build_dataset(
    file_pattern,
    clip_spec=None,
    *,
    mode="train",
    num_classes=None,
    multi_label=False,
    batch_size=8,
    random_flip=True,
    drop_remainder=None,
    input_context=None,
    seed=None,
    shuffle=None,
    shuffle_buffer_size=64,
    repeat=None,
    clips_per_video=1,
    cycle_length=None,
    num_parallel_calls=tf.data.AUTOTUNE,
    prefetch_buffer_size=tf.data.AUTOTUNE,
    skipped_records=None,
):
    """Training or test clips from TFRecords of `SequenceExample`s.

    The records are those `prepare_dataset` / `scripts/prepare_data.py`
    write (DMVR / Model Garden keys, see `features.py`): one JPEG per frame.

    The clips are the model's: `clip_spec` (a `nonlocal_tf.ClipSpec`, e.g.
    `model.clip_spec` or a zoo entry's) says how many frames at which rate,
    how they are sampled, cropped, decoded and normalised, and how many test
    views a video has.

    Training elements are `(clips, labels)`:
        - `clips`: float32 (B, T, crop_size, crop_size, 3), normalised RGB;
        - `labels`: int32 (B,) class index, or float32 (B, num_classes)
          multi-hot when `multi_label`.

    Test elements are one per video, batched over videos, as a dict:
        - `"views"`: float32 (B, V, T, S, S, 3), V = num_test_clips x
          num_test_crops, S = test_crop_size; view `k * num_test_crops + c`
          is temporal clip k (`sampling.test_frame_indices`), spatial crop c
          (left/top, centre, right/bottom; the centre alone when 1 crop);
        - `"labels"`: int32 (B,) (-1 for an unlabelled video) or float32
          (B, num_classes) multi-hot;
        - `"video_id"`: string (B,).
      Evaluate with `model(tf.reshape(views, [-1, T, S, S, 3]))`, reshape the
      softmax to (B, V, classes) and average over V. One video is V x T x S
      x S x 3 floats once batched (189 MB for 8 frames, 755 MB for 32 frames
      at 10 x 3 views of 256; a quarter of that, uint8, in the pipeline's
      buffers), so keep `batch_size` small in test mode.

    A record that fails to parse or decode (or has no frames, frames beyond
    `transforms.MAX_ASPECT_RATIO`, a label out of range, several labels
    without `multi_label`, no label in single-label training) is skipped:
    TensorFlow logs the error, absl logs how many were skipped and where,
    and `skipped_records` counts them. A corrupt (CRC) block or a cut-off
    end ends the reading of its file: absl logs the damaged shard (file,
    byte offset, records read, expected and lost; expected from the
    preparation report beside the records when it is there) and
    `skipped_records` counts it (`damaged_shards`, `lost`).

    Args:
        file_pattern: glob pattern or list of patterns (`tf.io.gfile.glob`).
        clip_spec: the `ClipSpec` (or its dict); default `ClipSpec()`.
        mode: "train" (random clips, shuffled, repeated) or "test" (all views
            of each video, in file order, once).
        num_classes: number of classes; needed for `multi_label`, and when
            given, single labels are checked against it.
        multi_label: labels as multi-hot vectors instead of class indices.
        random_flip: mirror training clips with probability 1/2.
        batch_size: elements per batch. Per replica when the dataset is built
            per replica with `input_context` (as in
            `strategy.distribute_datasets_from_function`); the global batch
            for `strategy.experimental_distribute_dataset`.
        drop_remainder: drop the last partial batch; default True in
            training, False in test.
        input_context: optional `tf.distribute.InputContext`: the files are
            sharded over `num_input_pipelines` (each pipeline reads distinct
            files, so there must be at least that many files).
        seed: int; with it the element order and all augmentation are
            deterministic. None draws a random seed.
        shuffle: shuffle files and records; default True in training.
        shuffle_buffer_size: records in the shuffle buffer. Records are whole
            videos (about 30 KB per 320p frame), so this sets memory.
        repeat: repeat forever; default True in training.
        clips_per_video: training only: random clips taken from each record
            it reads (each with its own window, crop and flip), shuffled
            apart by the shuffle buffer. Reading and parsing a record costs
            about as much as decoding 8 JPEGs, so 2 or more speeds up
            CPU-bound input; 1 (default) is the paper's sampling.
        cycle_length: files read at once; default min(#files, 8).
        num_parallel_calls: parallel clip decoding (AUTOTUNE).
        prefetch_buffer_size: batches to prefetch (AUTOTUNE).
        skipped_records: a `SkippedRecords` counting skipped records and
            damaged shards; default the process-wide counter
            (`skipped_record_count()`).

    Returns:
        A `tf.data.Dataset`.

    Raises:
        ValueError: an argument is invalid or no file matches.

    Example:
        >>> spec = ClipSpec(num_frames=8, sampling_rate=8)
        >>> train = build_dataset("records/train-*.tfrecord", spec,
        ...                       mode="train", batch_size=8,
        ...                       seed=0)  # doctest: +SKIP
        >>> clips, labels = next(iter(train))  # doctest: +SKIP
        >>> clips.shape  # doctest: +SKIP
        TensorShape([8, 8, 224, 224, 3])
        >>> test = build_dataset("records/val-*.tfrecord", model.clip_spec,
        ...                      mode="test", batch_size=1)  # doctest: +SKIP
        >>> next(iter(test))["views"].shape  # doctest: +SKIP
        TensorShape([1, 30, 8, 256, 256, 3])
    """

    settings = PipelineSettings(
        spec=ClipSpec() if clip_spec is None else ClipSpec.from_dict(clip_spec),
        mode=mode,
        num_classes=int(num_classes) if num_classes else None,
        multi_label=bool(multi_label),
        batch_size=int(batch_size),
        random_flip=bool(random_flip),
        clips_per_video=int(clips_per_video),
    )
    training = settings.training
    shuffle = training if shuffle is None else bool(shuffle)
    repeat = training if repeat is None else bool(repeat)
    files, pipeline_id = _shard_files(file_pattern, input_context)
    run = _Run(
        settings=settings,
        seed=random.SystemRandom().randrange(2**31) if seed is None else seed,
        pipeline_id=pipeline_id,
        counter=(
            integrity.SKIPPED_RECORDS
            if skipped_records is None
            else skipped_records
        ),
        name=f"build_dataset(mode={mode!r}, pipeline {pipeline_id})",
    )
    dataset = _read_records(
        run, files, shuffle=shuffle, cycle_length=cycle_length
    )
    dataset = _mix(
        dataset,
        run,
        shuffle=shuffle,
        repeat=repeat,
        shuffle_buffer_size=shuffle_buffer_size,
    )
    dataset = _make_clips(
        dataset, run, finite=not repeat, num_parallel_calls=num_parallel_calls
    )
    dataset = _batch(
        dataset,
        run,
        drop_remainder=training if drop_remainder is None else drop_remainder,
        prefetch_buffer_size=prefetch_buffer_size,
    )
    return _with_options(dataset, sharded=input_context is not None)


@dataclasses.dataclass(frozen=True)
class _Run:
    """What the stages of one `build_dataset` call share."""

    settings: PipelineSettings
    seed: int
    pipeline_id: int
    counter: integrity.SkippedRecords
    name: str

    @property
    def base_seed(self):
        return tf.constant([self.seed, self.pipeline_id], tf.int64)


def _shard_files(file_pattern, input_context):
    """Stage 1: the sorted files, this input pipeline's share of them."""
    files = integrity.list_files(file_pattern)
    if input_context is None:
        return files, 0
    pipelines = input_context.num_input_pipelines
    if len(files) < pipelines:
        raise ValueError(
            f"{len(files)} file(s) match {file_pattern!r} but the input is "
            f"split over {pipelines} pipelines by file; write at least "
            f"{pipelines} shards"
        )
    pipeline_id = input_context.input_pipeline_id
    return files[pipeline_id::pipelines], pipeline_id


def _read_records(run, files, *, shuffle, cycle_length):
    """Stage 2: the files' records, parsed and checked, files interleaved."""
    dataset = tf.data.Dataset.from_tensor_slices(files)
    if shuffle:
        dataset = dataset.shuffle(
            len(files),
            seed=run.seed + run.pipeline_id,
            reshuffle_each_iteration=True,
        )
    parse = integrity.with_sentinel(
        parse_fn(run.settings), parsed_spec(run.settings)
    )

    def read(filename):
        # A corrupt (CRC) block ends the file: TFRecord cannot resync. The
        # end of each file is checked, so that such a loss is counted.
        records = tf.data.TFRecordDataset(filename).ignore_errors(
            log_warning=True
        )
        records = records.enumerate().map(
            lambda index, serialized: {
                "filename": filename,
                "index": index,
                "serialized": serialized,
            }
        )
        records = integrity.add_positions(
            records,
            finite=True,
            sentinel_values={"filename": filename},
            shard_end=(run.counter, run.name),
        )
        records = records.map(parse).ignore_errors(log_warning=True)
        return integrity.count_gaps(
            records, run.counter, run.name, "to parse", lambda element: element
        )

    return dataset.interleave(
        read,
        cycle_length=cycle_length or min(len(files), 8),
        block_length=1,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )


def _mix(dataset, run, *, shuffle, repeat, shuffle_buffer_size):
    """Stage 3: several clips per video, shuffled and repeated (training)."""
    clips_per_video = run.settings.clips_per_video
    if run.settings.training and clips_per_video > 1:
        dataset = dataset.interleave(
            lambda e: tf.data.Dataset.from_tensors(e).repeat(clips_per_video),
            cycle_length=1,
        )
    if shuffle:
        dataset = dataset.shuffle(
            shuffle_buffer_size,
            seed=run.seed + 7919 * (run.pipeline_id + 1),
            reshuffle_each_iteration=True,
        )
    return dataset.repeat() if repeat else dataset


def _make_clips(dataset, run, *, finite, num_parallel_calls):
    """Stage 4: each record's training clip or test views."""
    settings = run.settings
    training = settings.training
    dataset = integrity.add_positions(dataset, finite=finite)
    if training:
        fn = train_clip_fn(settings, run.base_seed)
    else:
        fn = test_views_fn(settings)
    spec = output_spec(settings)
    dataset = dataset.map(
        integrity.with_sentinel(fn, spec),
        num_parallel_calls=num_parallel_calls,
        deterministic=True,
    )
    dataset = dataset.ignore_errors(log_warning=True)
    key = "clips" if training else "views"

    def finalize(element):
        element = {
            k: tf.ensure_shape(element[k], spec[k].shape)
            for k in (key, "labels", "video_id")
        }
        if training:
            return element["clips"], element["labels"]
        return element

    return integrity.count_gaps(
        dataset, run.counter, run.name, "to decode", finalize
    )


def _batch(dataset, run, *, drop_remainder, prefetch_buffer_size):
    """Stage 5: batches (test views normalised here: uint8 until then)."""
    settings = run.settings
    dataset = dataset.batch(
        settings.batch_size, drop_remainder=bool(drop_remainder)
    )
    if not settings.training:
        spec = settings.spec
        dataset = dataset.map(
            lambda batch: {
                **batch,
                "views": preprocessing.normalize(
                    batch["views"], spec.mean, spec.std
                ),
            },
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    return dataset.prefetch(prefetch_buffer_size)


def _with_options(dataset, *, sharded):
    options = tf.data.Options()
    options.deterministic = True
    # The only external state is the skipped-record counter's py_function,
    # which draws nothing: iterator checkpoints may leave it out.
    options.experimental_external_state_policy = (
        tf.data.experimental.ExternalStatePolicy.IGNORE
    )
    if sharded:
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.OFF
        )
    return dataset.with_options(options)


# Stage 2: a record -> its frames, checked frame count and labels. Runs next
# to the read of each file: the record, megabytes of JPEG frames, is still in
# cache, so parsing there costs half the CPU of parsing in a later stage. A
# record that fails a check raises inside the map; the pipeline skips, logs
# and counts it.


def where_of(parsed, filename, index):
    where = tf.strings.join(
        [
            "record ",
            tf.strings.as_string(index),
            " of ",
            filename,
            " (video '",
            parsed["video_id"],
            "')",
        ]
    )
    # A video id (or file name) that is not UTF-8 would make TensorFlow's
    # Python side fail to decode the error message (a UnicodeDecodeError in
    # place of the error; found by fuzzing): invalid bytes become U+FFFD.
    return tf.strings.unicode_transcode(
        where, "UTF-8", "UTF-8", errors="replace"
    )


def _checked_frames(parsed, where):
    """The frame count, asserted > 0 and equal to `video/num_frames`."""
    frames = parsed["frames"]
    count = tf.size(frames)
    declared = parsed["num_frames"]
    checks = [
        tf.debugging.Assert(count > 0, [where, "has no frames"]),
        tf.debugging.Assert(
            tf.logical_or(declared < 0, declared == tf.cast(count, tf.int64)),
            [where, "says video/num_frames =", declared, "but has", count],
        ),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(count)


def checked_jpegs(jpegs, where):
    check = tf.debugging.Assert(
        tf.reduce_all(tf.io.is_jpeg(jpegs)),
        [where, "has a frame that is not a JPEG"],
    )
    with tf.control_dependencies([check]):
        return tf.identity(jpegs)


def _labels(label_index, where, *, num_classes, multi_label, require):
    """Class index (int32, -1 when unlabelled) or multi-hot (float32)."""
    count = tf.size(label_index)
    if multi_label:
        in_range = tf.reduce_all(
            tf.logical_and(label_index >= 0, label_index < num_classes)
        )
        check = tf.debugging.Assert(
            in_range,
            [
                where,
                "has label indices",
                label_index,
                "outside [0,",
                num_classes,
                ")",
            ],
            summarize=64,
        )
        with tf.control_dependencies([check]):
            hot = tf.reduce_sum(tf.one_hot(label_index, num_classes), axis=0)
        return tf.minimum(hot, 1.0)
    checks = [
        tf.debugging.Assert(
            count <= 1,
            [
                where,
                "has",
                count,
                "labels; pass multi_label=True for multi-label data",
            ],
        )
    ]
    if require:
        checks.append(tf.debugging.Assert(count >= 1, [where, "has no label"]))
    label = tf.concat([label_index, [-1]], axis=0)[0]
    checks.append(
        tf.debugging.Assert(
            tf.logical_or(count == 0, label >= 0),
            [where, "has a negative label", label],
        )
    )
    if num_classes:
        checks.append(
            tf.debugging.Assert(
                label < num_classes,
                [where, "has label", label, ">= num_classes =", num_classes],
            )
        )
    with tf.control_dependencies(checks):
        return tf.cast(label, tf.int32)


def label_spec(settings):
    if settings.multi_label:
        return tf.TensorSpec([settings.num_classes], tf.float32)
    return tf.TensorSpec([], tf.int32)


def parsed_spec(settings):
    return {
        "frames": tf.TensorSpec([None], tf.string),
        "count": tf.TensorSpec([], tf.int32),
        "labels": label_spec(settings),
        "video_id": tf.TensorSpec([], tf.string),
        "filename": tf.TensorSpec([], tf.string),
        "index": tf.TensorSpec([], tf.int64),
    }


def parse_fn(settings):
    """Record -> frames, checked count and labels (may raise: skipped)."""

    def element(record):
        parsed = features.parse_sequence_example(record["serialized"])
        where = where_of(parsed, record["filename"], record["index"])
        return {
            "frames": parsed["frames"],
            "count": _checked_frames(parsed, where),
            "labels": _labels(
                parsed["label_index"],
                where,
                num_classes=settings.num_classes,
                multi_label=settings.multi_label,
                require=settings.training,
            ),
            "video_id": parsed["video_id"],
            "filename": record["filename"],
            "index": record["index"],
        }

    return element


# Stage 4: a parsed record -> a training clip or all its test views.
#
# Training (`train_clip_fn`): the clip's frame indices (`sampling`), then the
# fused decode: only the JPEGs the clip uses are decoded, and of each only the
# source window that maps onto the random crop (`tf.io.decode_and_crop_jpeg`,
# `transforms.decode_crop_resize`), which is then resized to the crop. That
# equals scaling the whole frame and cropping, up to the window's rounding to
# whole source pixels, and decodes a third of the pixels of a 320p frame for a
# 224 crop of a short side in [256, 320]; it is the pipeline's largest saving.
# Augmentation draws from stateless seeds folded from the element's position,
# so a resumed iterator draws the same crops.
#
# Test (`test_views_fn`): the distinct frames of the K clips are decoded once,
# scaled to the test short side, rounded to uint8 and cut into K x 1 or 3
# views (`transforms.test_views`: the clip spec's test transform of
# `nonlocal_tf.models.preprocessing`); they are normalised after batching.


def context(element):
    return {k: element[k] for k in ("labels", "video_id", "filename", "index")}


def train_clip_fn(settings, base_seed):
    spec = settings.spec
    num_frames = spec.num_frames

    def element(record):
        where = where_of(record, record["filename"], record["index"])
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
        jpegs = checked_jpegs(jpegs, where)
        shape = tf.io.extract_jpeg_shape(jpegs[0])
        # The frames the test views accept: the crop window alone bounds the
        # memory, but a 1 x 4000 frame is a damaged record, not a video.
        with tf.control_dependencies(
            [transforms.check_frame_size(shape, where)]
        ):
            shape = tf.identity(shape)
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
        where = where_of(record, record["filename"], record["index"])
        indices = sampling.test_frame_indices(
            record["count"],
            spec.num_frames,
            spec.sampling_rate,
            spec.num_test_clips,
            policy=spec.temporal_sampling,
        )
        distinct, positions = tf.unique(tf.reshape(indices, [-1]))
        jpegs = checked_jpegs(tf.gather(record["frames"], distinct), where)
        # The frames of a record share one size (decode_jpegs stacks them).
        shape = tf.io.extract_jpeg_shape(jpegs[0])
        with tf.control_dependencies(
            [transforms.check_frame_size(shape, where)]
        ):
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
        "labels": label_spec(settings),
        "video_id": tf.TensorSpec([], tf.string),
        "filename": tf.TensorSpec([], tf.string),
        "index": tf.TensorSpec([], tf.int64),
    }


# Test views straight from a video file (PyAV), without records: for
# inference on a few videos (`scripts/predict.py`), the same frames, temporal
# sampling and spatial transforms as `build_dataset(mode="test")` on records
# prepared with the same `short_side` / `fps` / time range, except for the
# JPEG round trip of the records.


def read_video_views(
    path,
    clip_spec=None,
    *,
    short_side=320,
    fps=None,
    start_time=None,
    end_time=None,
):
    """All test views of one video file, as `build_dataset` gives them.

    The video is decoded twice: once to count its frames, once to convert
    only the frames the clips use.

    Args:
        path: a local video file.
        clip_spec: the model's `ClipSpec` (frames, rate, sampling, test crop
            S, K clips x 1 or 3 crops, normalisation); default `ClipSpec()`.
        short_side: the preparation short side the records would have had
            (frames are first resized to it, as `prepare_dataset` does);
            None keeps the video's size.
        fps: target frame rate, as in preparation; None keeps the source's.
        start_time: optional time range start, seconds.
        end_time: optional time range end (exclusive), seconds.

    Returns:
        float32 tensor (K * num_test_crops, T, S, S, 3), normalised; view
        `k * num_test_crops + c` is clip k, crop c.

    Raises:
        video.VideoDecodeError: the file cannot be decoded; its `reason`
            and message say why.

    Example:
        >>> views = read_video_views("clip.mp4",
        ...                          model.clip_spec)  # doctest: +SKIP
        >>> views.shape  # doctest: +SKIP
        TensorShape([30, 8, 256, 256, 3])
    """
    spec = ClipSpec() if clip_spec is None else ClipSpec.from_dict(clip_spec)
    selection = {"start_time": start_time, "end_time": end_time, "fps": fps}
    count = video.count_frames(path, **selection)
    indices = sampling.test_frame_indices(
        count,
        spec.num_frames,
        spec.sampling_rate,
        spec.num_test_clips,
        policy=spec.temporal_sampling,
    ).numpy()
    distinct, positions = np.unique(indices.reshape(-1), return_inverse=True)
    decoded = video.decode_video(
        path, short_side=short_side, indices=distinct, **selection
    )
    if decoded.num_frames != count or not np.array_equal(
        decoded.indices, distinct
    ):
        raise video.VideoDecodeError(
            path,
            video.DECODE_ERROR,
            f"decoding gave {decoded.num_frames} frames, counting gave {count}",
        )
    views = transforms.test_views(
        tf.constant(decoded.frames),
        tf.constant(positions.reshape(-1), tf.int32),
        num_clips=spec.num_test_clips,
        num_frames=spec.num_frames,
        crop_size=spec.test_crop_size,
        num_crops=spec.num_test_crops,
    )
    return preprocessing.normalize(views, spec.mean, spec.std)
