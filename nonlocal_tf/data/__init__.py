"""Video data: records of JPEG frames, clip sampling, `tf.data` pipelines.

- `prepare_dataset` (`prepare.py`): video files + annotations -> sharded
  TFRecords of `SequenceExample`s (DMVR / Model Garden keys, `features.py`),
  on this machine or on Apache Beam; its stages are in `preparation/`.
- `build_dataset` (`pipeline.py`): training and test clips from the records.
- `read_video_views` (`video_reader.py`): test clips from one video file.

Attributes are imported on first use, so worker processes that import only
`nonlocal_tf.data.video_io` / `annotations` do not load TensorFlow.

Example:
    >>> from nonlocal_tf import data
    >>> train = data.build_dataset("records/train-*.tfrecord", mode="train",
    ...                            batch_size=8)  # doctest: +SKIP
"""

import importlib

_EXPORTS = {
    "build_dataset": "pipeline",
    "list_files": "pipeline",
    "prepare_dataset": "prepare",
    "PrepareResult": "prepare",
    "NoVideosFoundError": "prepare",
    "NothingPreparedError": "prepare",
    "read_video_views": "video_reader",
    "SkippedRecords": "skipped",
    "skipped_record_count": "skipped",
    "make_sequence_example": "features",
    "parse_sequence_example": "features",
    "VideoEntry": "annotations",
    "AnnotationError": "annotation_rows",
    "Annotations": "annotation_rows",
    "BadRow": "annotation_rows",
    "read_annotations": "annotations",
    "read_kinetics_csv": "annotations",
    "read_video_list": "annotations",
    "build_label_map": "annotations",
    "read_label_map": "annotations",
    "write_label_map": "annotations",
    "VideoDecodeError": "video_io",
    "decode_video": "video_io",
    "count_frames": "video_io",
    "probe_video": "video_io",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        module = importlib.import_module(f"{__name__}.{_EXPORTS[name]}")
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
