"""Video data: records of JPEG frames, clip sampling, `tf.data` pipelines.

Grouped by concern:

- `prepare/`: `prepare_dataset`, video files + annotations -> sharded
  TFRecords of `SequenceExample`s (DMVR / Model Garden keys, `features.py`),
  on this machine or on Apache Beam.
- `pipeline.py`: `build_dataset`, training and test clips from the records
  (temporal `sampling.py`, spatial `transforms.py`), and `read_video_views`,
  the test clips of one video file.
- `video.py`: video files with PyAV (open, select frames, decode, JPEG).
- `integrity.py`: listing files, TFRecord framing, counting and checking
  shards, the records a pipeline skips or loses.
- `annotations.py`: annotation files and label maps (the one reader and
  writer of class names).
- `synthetic.py`: the generated colour-match videos of the demo.

The names below are imported on first use (`nonlocal_tf.lazy_imports`), like
the other packages that pull TensorFlow (`training`, `export`), so worker
processes that import only `nonlocal_tf.data.video` / `annotations` do not
load TensorFlow.

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
        "list_files": ".integrity",
        "prepare_dataset": ".prepare.dataset",
        "PrepareResult": ".prepare.dataset",
        "NoVideosFoundError": ".prepare.dataset",
        "NothingPreparedError": ".prepare.dataset",
        "read_video_views": ".pipeline",
        "SkippedRecords": ".integrity",
        "skipped_record_count": ".integrity",
        "count_records": ".integrity",
        "make_sequence_example": ".features",
        "parse_sequence_example": ".features",
        "VideoEntry": ".annotations",
        "AnnotationError": ".annotations",
        "Annotations": ".annotations",
        "BadRow": ".annotations",
        "read_annotations": ".annotations",
        "read_kinetics_csv": ".annotations",
        "read_video_list": ".annotations",
        "build_label_map": ".annotations",
        "read_label_map": ".annotations",
        "write_label_map": ".annotations",
        "load_label_names": ".annotations",
        "resolve_class_names": ".annotations",
        "VideoDecodeError": ".video",
        "decode_video": ".video",
        "count_frames": ".video",
        "probe_video": ".video",
    },
)
