"""Videos + annotations -> sharded TFRecord files of `SequenceExample`s.

`prepare_dataset` (`dataset.py`) runs the stages of preparation, one module
each, on one of two engines that write the same shards, records, label map
and report: "local", worker processes on this machine (`local.py`), or
"beam", an Apache Beam pipeline on any runner (`beam_engine.py`,
`pip install 'nonlocal-tf[beam]'`). The stages:

1. read the annotations (`nonlocal_tf.data.annotations`);
2. plan (`plan.py`): settings, label map, the seeded assignment of videos to
   shards, the checks decided before decoding (duplicate ids, unknown
   labels), the fingerprint that refuses a different rerun into the same
   folder and the shards a killed run already finished;
3. decode + encode one video (`workers.encode_video`, TensorFlow-free, so it
   runs in light worker processes) and turn it into a record or a counted
   skip (`records.video_outcome`);
4. write one shard atomically with its state file (`records.write_shard`);
5. report (`report.py`): the totals of the split from the shard states, the
   `<split>_report.json` file and a `PrepareResult`.

This package imports no TensorFlow itself, and neither does `workers` (the
spawned workers import it through the package); the names below are imported
on first use (`nonlocal_tf.lazy_imports`). The other modules import
TensorFlow.

Example:
    >>> from nonlocal_tf.data import annotations, prepare
    >>> entries = annotations.read_annotations(
    ...     "train.csv", "videos/")  # doctest: +SKIP
    >>> result = prepare.prepare_dataset(
    ...     entries, "records/",
    ...     label_map=annotations.build_label_map(entries))  # doctest: +SKIP
"""

from nonlocal_tf import lazy_imports

__getattr__, __dir__, __all__ = lazy_imports.attach(
    __name__,
    {
        name: ".dataset"
        for name in (
            "prepare_dataset",
            "PrepareResult",
            "NoVideosFoundError",
            "NothingPreparedError",
            "ENGINES",
            "LABEL_MAP_FILE",
            "UNKNOWN_LABEL",
            "DUPLICATE_ID",
            "shard_path",
        )
    },
)
