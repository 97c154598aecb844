"""`build_dataset`: training and test clips from TFRecord files.

Stages (all `tf.data`, parallel with AUTOTUNE, deterministic order):

1. Files: glob, sort, shard by `input_context` (one file set per input
   pipeline), shuffle (train).
2. Records, per file (files interleaved): read, parse the `SequenceExample`,
   check it (frames, labels). Parsing next to the read, in the same thread,
   costs half the CPU of parsing in a later stage (the record, megabytes,
   is still in cache).
3. Shuffle (train), repeat (train).
4. Clips: pick frame indices (`sampling.py`), decode only those JPEGs
   (training: only the crop window of each), scale, crop, flip, normalise
   (`transforms.py`); test views stay uint8 until batched.
5. Batch, (test: normalise), prefetch.

Records that fail in 2 or 4 are skipped, logged and counted (`skipped.py`).
"""

import dataclasses
import random

import tensorflow as tf

from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.data import features
from nonlocal_tf.data import sampling
from nonlocal_tf.data import skipped
from nonlocal_tf.data import transforms

TRAIN = "train"
TEST = "test"
MODES = (TRAIN, TEST)


def list_files(file_pattern):
    """Sorted files matching a pattern or list of patterns (`tf.io.gfile`).

    Raises:
        ValueError: nothing matches (the patterns are named).

    Example:
        >>> list_files("records/train-*.tfrecord")  # doctest: +SKIP
        ['records/train-00000-of-00002.tfrecord', ...]
    """
    patterns = (
        [file_pattern] if isinstance(file_pattern, str) else list(file_pattern)
    )
    if not patterns:
        raise ValueError("file_pattern is empty")
    files = set()
    for pattern in patterns:
        files.update(tf.io.gfile.glob(pattern))
    if not files:
        raise ValueError(f"no files match file_pattern={file_pattern!r}")
    return sorted(files)


@dataclasses.dataclass(frozen=True)
class _Settings:
    """What one `build_dataset` call produces (the spec plus the task)."""

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


def _where(parsed, filename, index):
    return tf.strings.join(
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


def _checked_jpegs(jpegs, where):
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


def _label_spec(settings):
    if settings.multi_label:
        return tf.TensorSpec([settings.num_classes], tf.float32)
    return tf.TensorSpec([], tf.int32)


def _parsed_spec(settings):
    return {
        "frames": tf.TensorSpec([None], tf.string),
        "count": tf.TensorSpec([], tf.int32),
        "labels": _label_spec(settings),
        "video_id": tf.TensorSpec([], tf.string),
        "filename": tf.TensorSpec([], tf.string),
        "index": tf.TensorSpec([], tf.int64),
    }


def _parse_fn(settings):
    """Record -> frames, checked count and labels (may raise: skipped)."""

    def element(record):
        parsed = features.parse_sequence_example(record["serialized"])
        where = _where(parsed, record["filename"], record["index"])
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


def _context(element):
    return {k: element[k] for k in ("labels", "video_id", "filename", "index")}


def _train_fn(settings, base_seed):
    spec = settings.spec
    num_frames = spec.num_frames

    def element(record):
        where = tf.strings.join(
            [
                "record ",
                tf.strings.as_string(record["index"]),
                " of ",
                record["filename"],
                " (video '",
                record["video_id"],
                "')",
            ]
        )
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
        jpegs = _checked_jpegs(jpegs, where)
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
        clip = transforms.normalize(clip, spec.mean, spec.std)
        return {"clips": clip, **_context(record)}

    return element


def _test_fn(settings):
    spec = settings.spec

    def element(record):
        where = tf.strings.join(
            [
                "record of ",
                record["filename"],
                " (video '",
                record["video_id"],
                "')",
            ]
        )
        indices = sampling.test_frame_indices(
            record["count"],
            spec.num_frames,
            spec.sampling_rate,
            spec.num_test_clips,
            policy=spec.temporal_sampling,
        )
        distinct, positions = tf.unique(tf.reshape(indices, [-1]))
        jpegs = _checked_jpegs(tf.gather(record["frames"], distinct), where)
        frames = transforms.decode_jpegs(jpegs, spec.jpeg_dct_method)
        views = transforms.test_views(
            frames,
            positions,
            num_clips=spec.num_test_clips,
            num_frames=spec.num_frames,
            crop_size=spec.test_crop_size,
            num_crops=spec.num_test_crops,
        )
        return {"views": views, **_context(record)}

    return element


def _output_spec(settings):
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
        "labels": _label_spec(settings),
        "video_id": tf.TensorSpec([], tf.string),
        "filename": tf.TensorSpec([], tf.string),
        "index": tf.TensorSpec([], tf.int64),
    }


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

    A record that fails to parse or decode (or has no frames, a label out of
    range, several labels without `multi_label`, no label in single-label
    training) is skipped: TensorFlow logs the
    error, absl logs how many were skipped and where, and `skipped_records`
    counts them. A corrupt (CRC) block or a cut-off end ends the reading of
    its file: absl logs the damaged shard (file, byte offset, records read,
    expected and lost; expected from the preparation report beside the
    records when it is there) and `skipped_records` counts it
    (`damaged_shards`, `lost`).

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

    settings = _Settings(
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
    drop_remainder = (
        training if drop_remainder is None else bool(drop_remainder)
    )
    counter = (
        skipped.SKIPPED_RECORDS if skipped_records is None else skipped_records
    )
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)
    pipeline_id = 0

    files = list_files(file_pattern)
    if input_context is not None:
        pipelines = input_context.num_input_pipelines
        pipeline_id = input_context.input_pipeline_id
        if len(files) < pipelines:
            raise ValueError(
                f"{len(files)} file(s) match {file_pattern!r} but the input is "
                f"split over {pipelines} pipelines by file; write at least "
                f"{pipelines} shards"
            )
        files = files[pipeline_id::pipelines]
    base_seed = tf.constant([seed, pipeline_id], tf.int64)
    name = f"build_dataset(mode={mode!r}, pipeline {pipeline_id})"

    dataset = tf.data.Dataset.from_tensor_slices(files)
    if shuffle:
        dataset = dataset.shuffle(
            len(files), seed=seed + pipeline_id, reshuffle_each_iteration=True
        )
    parse = skipped.with_sentinel(_parse_fn(settings), _parsed_spec(settings))

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
        records = skipped.add_positions(
            records,
            finite=True,
            sentinel_values={"filename": filename},
            shard_end=(counter, name),
        )
        records = records.map(parse).ignore_errors(log_warning=True)
        return skipped.count_gaps(
            records, counter, name, "to parse", lambda element: element
        )

    dataset = dataset.interleave(
        read,
        cycle_length=cycle_length or min(len(files), 8),
        block_length=1,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if training and clips_per_video > 1:
        dataset = dataset.interleave(
            lambda e: tf.data.Dataset.from_tensors(e).repeat(clips_per_video),
            cycle_length=1,
        )
    if shuffle:
        dataset = dataset.shuffle(
            shuffle_buffer_size,
            seed=seed + 7919 * (pipeline_id + 1),
            reshuffle_each_iteration=True,
        )
    if repeat:
        dataset = dataset.repeat()

    dataset = skipped.add_positions(dataset, finite=not repeat)
    fn = _train_fn(settings, base_seed) if training else _test_fn(settings)
    spec = _output_spec(settings)
    dataset = dataset.map(
        skipped.with_sentinel(fn, spec),
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

    dataset = skipped.count_gaps(dataset, counter, name, "to decode", finalize)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if not training:
        dataset = dataset.map(
            lambda batch: {
                **batch,
                "views": transforms.normalize(
                    batch["views"], settings.spec.mean, settings.spec.std
                ),
            },
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    dataset = dataset.prefetch(prefetch_buffer_size)

    data_options = tf.data.Options()
    data_options.deterministic = True
    # The only external state is the skipped-record counter's py_function,
    # which draws nothing: iterator checkpoints may leave it out.
    data_options.experimental_external_state_policy = (
        tf.data.experimental.ExternalStatePolicy.IGNORE
    )
    if input_context is not None:
        data_options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.OFF
        )
    return dataset.with_options(data_options)
