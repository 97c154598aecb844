"""Video data: records of JPEG frames, clip sampling, `tf.data` pipelines.

- `prepare_dataset` (`prepare.py`): video files + annotations -> sharded
  TFRecords of `SequenceExample`s (DMVR / Model Garden keys, `features.py`),
  on this machine or on Apache Beam; its stages are in `preparation/`.
- `build_dataset` (`pipeline.py`): training and test clips from the records.
- `read_video_views` (`video_reader.py`): test clips from one video file.
- `label_maps.py`: the one reader and writer of label files (class names).

The names below are imported on first use (`nonlocal_tf.lazy_imports`), like
the other packages that pull TensorFlow (`training`, `export`), so worker
processes that import only `nonlocal_tf.data.video_jpeg` / `annotations` /
`label_maps` do not load TensorFlow.

Example:
    >>> from nonlocal_tf import data
    >>> train = data.build_dataset("records/train-*.tfrecord", clip_spec,
    ...                            mode="train", batch_size=8)  # doctest: +SKIP
"""

from nonlocal_tf import lazy_imports

__getattr__, __dir__, __all__ = lazy_imports.attach(
    __name__,
    {
        "build_dataset": ".pipeline",
        "list_files": ".pipeline",
        "prepare_dataset": ".prepare",
        "PrepareResult": ".prepare",
        "NoVideosFoundError": ".prepare",
        "NothingPreparedError": ".prepare",
        "read_video_views": ".video_reader",
        "SkippedRecords": ".skipped",
        "skipped_record_count": ".skipped",
        "count_records": ".records_check",
        "make_sequence_example": ".features",
        "parse_sequence_example": ".features",
        "VideoEntry": ".annotations",
        "AnnotationError": ".annotation_rows",
        "Annotations": ".annotation_rows",
        "BadRow": ".annotation_rows",
        "read_annotations": ".annotations",
        "read_kinetics_csv": ".annotations",
        "read_video_list": ".annotations",
        "build_label_map": ".label_maps",
        "read_label_map": ".label_maps",
        "write_label_map": ".label_maps",
        "load_label_names": ".label_maps",
        "resolve_class_names": ".label_maps",
        "VideoDecodeError": ".video_errors",
        "decode_video": ".video_io",
        "count_frames": ".frame_selection",
        "probe_video": ".video_container",
    },
)
