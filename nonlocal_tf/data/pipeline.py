"""`build_dataset`: training and test clips from TFRecord files.

Stages (all `tf.data`, parallel with AUTOTUNE, deterministic order):

1. `_shard_files`: glob, sort, shard by `input_context` (one file set per
   input pipeline).
2. `_read_records`: per file (files shuffled in training, interleaved):
   read, parse the `SequenceExample` and check it (`parsing.py`); the end
   of each file is checked so that a damaged shard's loss is counted.
3. `_mix`: several clips per video, shuffle, repeat (training).
4. `_make_clips`: frame indices (`sampling.py`), the fused decode of only
   the crop window of only the clip's JPEGs, scale, crop, flip, normalise
   (training) or the test views, uint8 (`clips.py`, `transforms.py`).
5. `_batch`: batch, normalise the test views, prefetch.

Every option of a call lives in one `PipelineSettings` (the clip spec plus
the task) and one `_Run` (seed, pipeline, skipped-record counter).

Records that fail in 2 or 4 are skipped, logged (`skip_gaps.py`) and counted
(`skipped.py`).
"""

import dataclasses
import random

import tensorflow as tf

from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.data import clips
from nonlocal_tf.data import parsing
from nonlocal_tf.data import record_positions
from nonlocal_tf.data import skip_gaps
from nonlocal_tf.data import skipped
from nonlocal_tf.models import preprocessing

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
        raise ValueError(
            f"no files match, {file_pattern!r} (check the path; quote a "
            "glob so that the shell passes it on unexpanded)"
        )
    return sorted(files)


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
            skipped.SKIPPED_RECORDS
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
    counter: skipped.SkippedRecords
    name: str

    @property
    def base_seed(self):
        return tf.constant([self.seed, self.pipeline_id], tf.int64)


def _shard_files(file_pattern, input_context):
    """Stage 1: the sorted files, this input pipeline's share of them."""
    files = list_files(file_pattern)
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
    parse = record_positions.with_sentinel(
        parsing.parse_fn(run.settings), parsing.parsed_spec(run.settings)
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
        records = record_positions.add_positions(
            records,
            finite=True,
            sentinel_values={"filename": filename},
            shard_end=(run.counter, run.name),
        )
        records = records.map(parse).ignore_errors(log_warning=True)
        return skip_gaps.count_gaps(
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
    """Stage 4: each record's training clip or test views (`clips.py`)."""
    settings = run.settings
    training = settings.training
    dataset = record_positions.add_positions(dataset, finite=finite)
    if training:
        fn = clips.train_clip_fn(settings, run.base_seed)
    else:
        fn = clips.test_views_fn(settings)
    spec = clips.output_spec(settings)
    dataset = dataset.map(
        record_positions.with_sentinel(fn, spec),
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

    return skip_gaps.count_gaps(
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
