"""The stages of preparation (videos -> sharded TFRecords), one module each.

The local engine (`nonlocal_tf.data.prepare.prepare_dataset`) and the Apache
Beam engine (`beam_engine.py`) run the same stages, so they write the same
shards, records, label map and report:

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

This package imports no TensorFlow itself; `records`, `plan`, `report` and
`beam_engine` do.
"""
