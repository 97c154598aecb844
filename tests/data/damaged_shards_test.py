"""Damaged record shards (a flipped byte, a cut-off file) are counted and
named: by the records checker, by the pipeline (absl log, counter), by
evaluation (metrics.json) and by scripts/check_records.py."""

import json
import logging
from dataclasses import replace

import numpy as np
import pytest
import tensorflow as tf

from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.data import integrity
from nonlocal_tf.data import pipeline
from tests import cli_helpers
from tests.data import helpers

RECORDS_PER_SHARD = 4
SMALL = ClipSpec(
    num_frames=2,
    sampling_rate=1,
    test_crop_size=16,
    num_test_clips=1,
    num_test_crops=1,
)


def _offsets(path):
    """Byte offset of each record, from TensorFlow's reading of the file."""
    offsets = [0]
    for record in tf.data.TFRecordDataset(str(path)):
        offsets.append(offsets[-1] + len(record.numpy()) + 16)
    return offsets


def _shard(folder, index, count=3):
    path = folder / f"val-{index:05d}-of-{count:05d}.tfrecord"
    videos = [
        (f"s{index}r{r}", helpers.index_video(3, 24, 24), [r % 3])
        for r in range(RECORDS_PER_SHARD)
    ]
    return helpers.write_records(path, videos)


@pytest.fixture
def damaged(tmp_path):
    """Shard 0 intact; shard 1: byte flipped in record 1's data; shard 2:
    cut inside record 2. Returns the paths and the damage offsets."""
    paths = [_shard(tmp_path, i) for i in range(3)]
    offsets = [_offsets(p) for p in paths]
    data = bytearray(paths[1].read_bytes())
    data[offsets[1][1] + 40] ^= 0x5A
    paths[1].write_bytes(bytes(data))
    cut = offsets[2][2] + 30
    paths[2].write_bytes(paths[2].read_bytes()[:cut])
    return paths, {paths[1]: offsets[1][1], paths[2]: offsets[2][2]}


def test_crc32c_matches_tensorflow_headers(tmp_path):
    path = _shard(tmp_path, 0, 1)
    data = path.read_bytes()
    assert integrity.header_length(data[:12]) == _offsets(path)[1] - 16
    walk = integrity.walk_headers(path)
    assert (walk.records, walk.damage) == (RECORDS_PER_SHARD, None)


def test_checker_names_each_damaged_shard(damaged):
    paths, offsets = damaged
    checks = integrity.check_records([str(p) for p in paths])
    by_path = {c.path: c for c in checks}
    intact = by_path[str(paths[0])]
    assert intact.ok and intact.records_ok == RECORDS_PER_SHARD
    flipped = by_path[str(paths[1])]
    assert (flipped.records_ok, flipped.lost) == (1, 3)
    assert flipped.damage.offset == offsets[paths[1]]
    assert flipped.damage.kind == integrity.BAD_DATA_CRC
    assert flipped.damage.expected_source == integrity.HEADERS
    cut = by_path[str(paths[2])]
    assert (cut.records_ok, cut.damage.offset) == (2, offsets[paths[2]])
    assert cut.damage.kind == integrity.TRUNCATED_RECORD
    # The cut file holds 3 headers; only a report knows the 4th existed.
    assert (cut.expected, cut.lost) == (3, 1)
    with pytest.raises(integrity.DamagedRecordsError, match="2 of 3"):
        integrity.require_intact(checks)


def test_the_report_gives_the_expected_counts(damaged, tmp_path):
    paths, _ = damaged
    (tmp_path / "val_report.json").write_text(
        json.dumps(
            {"shard_records": {p.name: RECORDS_PER_SHARD for p in paths}}
        )
    )
    cut = integrity.check_shard(paths[2])
    assert (cut.expected, cut.lost) == (RECORDS_PER_SHARD, 2)
    assert cut.damage.expected_source == integrity.REPORT
    # Cut exactly between records: invisible without the report.
    boundary = _offsets(paths[0])[3]
    paths[0].write_bytes(paths[0].read_bytes()[:boundary])
    check = integrity.check_shard(paths[0])
    assert check.damage.kind == integrity.MISSING_RECORDS
    assert (check.records_ok, check.lost, check.damage.offset) == (
        3,
        1,
        boundary,
    )


def test_a_flipped_length_is_resynced_past(tmp_path):
    path = _shard(tmp_path, 0, 1)
    offsets = _offsets(path)
    data = bytearray(path.read_bytes())
    data[offsets[1] + 1] ^= 0x01  # record 1's length field
    path.write_bytes(bytes(data))
    check = integrity.check_shard(path)
    assert check.damage.kind == integrity.BAD_LENGTH_CRC
    assert (check.records_ok, check.expected, check.lost) == (1, 4, 3)


def test_prepared_records_take_the_count_from_the_preparation(tmp_path):
    from nonlocal_tf.data import annotations
    from nonlocal_tf.data import prepare

    videos = tmp_path / "videos"
    videos.mkdir()
    entries = []
    for i in range(4):
        path = helpers.write_index_video(videos / f"v{i}.mp4", 4)
        entries.append(annotations.VideoEntry(str(path), f"v{i}", ("x",)))
    result = prepare.prepare_dataset(
        entries,
        tmp_path / "records",
        label_map={"x": 0},
        split="val",
        num_shards=2,
        num_workers=0,
        progress=False,
    )
    shard = result.shards[0]
    expected, source = integrity.expected_records(shard)
    assert source in (integrity.REPORT, integrity.STATE)
    assert expected == sum(1 for _ in tf.data.TFRecordDataset(shard))
    data = open(shard, "rb").read()
    with open(shard, "wb") as f:
        f.write(data[: len(data) - 100])
    check = integrity.check_shard(shard)
    assert check.damage.expected_source == source
    assert check.lost == 1 and check.expected == expected


@pytest.mark.parametrize("mode", ["test", "train"])
def test_pipeline_counts_and_logs_damaged_shards(damaged, caplog, mode):
    paths, offsets = damaged
    counter = integrity.SkippedRecords()
    dataset = pipeline.build_dataset(
        [str(p) for p in paths],
        replace(SMALL, crop_size=16, jitter_scales=(16, 16)),
        mode=mode,
        batch_size=1,
        skipped_records=counter,
        shuffle=False,
        repeat=False,
        seed=0,
    )
    with caplog.at_level(logging.WARNING, logger="absl"):
        count = sum(1 for _ in dataset)
    assert count == 4 + 1 + 2
    summary = counter.summary()
    assert summary["files_read"] == 3
    assert summary["records_lost"] == 3 + 1 and counter.lost == 4
    assert summary["records_expected"] == 4 + 4 + 3
    assert [d["path"] for d in summary["damaged_shards"]] == [
        str(paths[1]),
        str(paths[2]),
    ]
    messages = " ".join(r.getMessage() for r in caplog.records)
    for path in paths[1:]:
        assert f"damaged shard {path}" in messages
        assert f"at byte {offsets[path]}" in messages
    assert "1 of 4 records read" in messages
    assert "2 of 3 records read" in messages


def _tiny_classifier(num_classes=3):
    import keras

    inputs = keras.Input((2, 16, 16, 3))
    pooled = keras.layers.GlobalAveragePooling3D()(inputs)
    outputs = keras.layers.Dense(num_classes, activation="softmax")(pooled)
    return keras.Model(inputs, outputs)


def test_evaluation_reports_expected_and_scored(damaged, tmp_path):
    from nonlocal_tf import training

    paths, _ = damaged
    counter = integrity.SkippedRecords()
    dataset = pipeline.build_dataset(
        [str(p) for p in paths],
        SMALL,
        mode="test",
        batch_size=2,
        skipped_records=counter,
    )
    result = training.evaluate(
        _tiny_classifier(),
        dataset,
        skipped_records=counter,
        progress=False,
    )
    metrics = result.metrics
    assert metrics["num_videos"] == metrics["num_videos_scored"] == 7
    assert metrics["num_videos_expected"] == 11
    assert metrics["num_records_lost"] == 4
    assert metrics["num_records_skipped"] == 0
    assert [d["path"] for d in metrics["damaged_shards"]] == [
        str(p) for p in paths[1:]
    ]
    training.write_metrics_json(result, tmp_path / "metrics.json")
    written = json.loads((tmp_path / "metrics.json").read_text())
    assert written["damaged_shards"][0]["lost"] == 3


def test_evaluation_refuses_unlabelled_records(tmp_path):
    from nonlocal_tf import training

    path = helpers.write_records(
        tmp_path / "unlabelled.tfrecord",
        [(f"u{i}", helpers.index_video(3, 24, 24), []) for i in range(2)],
    )
    dataset = pipeline.build_dataset(str(path), SMALL, mode="test")
    with pytest.raises(ValueError, match="test video 'u0' has no label"):
        training.evaluate(_tiny_classifier(), dataset, progress=False)


@pytest.mark.slow
def test_check_records_program(damaged):
    paths, offsets = damaged
    folder = paths[0].parent
    completed = cli_helpers.run_program(
        "check_records.py", f"--records={folder}/val-*", "--noprogress"
    )
    line = cli_helpers.assert_user_error(
        completed, "2 of 3 shards damaged", "4 records lost"
    )
    assert str(paths[1]) in line
    table = completed.stdout
    for path in paths[1:]:
        (row,) = [r for r in table.splitlines() if r.startswith(str(path))]
        assert f"at byte {offsets[path]}" in row
    (intact,) = [r for r in table.splitlines() if r.startswith(str(paths[0]))]
    assert intact.split()[1:3] == ["4", "0"] and intact.rstrip().endswith("-")
    assert "3 shards, 7 records read, 11 expected, 4 lost" in table
    completed = cli_helpers.run_program(
        "check_records.py", f"--records={paths[0]}", "--noprogress"
    )
    assert completed.returncode == 0, completed.stderr[-2000:]


@pytest.mark.slow
def test_evaluate_program_writes_the_loss_to_metrics(damaged, tmp_path):
    paths, _ = damaged
    model_path = tmp_path / "tiny.keras"
    _tiny_classifier().save(model_path)
    (paths[0].parent / "label_map.json").write_text(
        json.dumps({"a": 0, "b": 1, "c": 2})
    )
    out = tmp_path / "eval"
    completed = cli_helpers.run_program(
        "evaluate.py",
        f"--keras_model={model_path}",
        f"--test_records={paths[0].parent}/val-*",
        "--num_frames=2",
        "--sampling_rate=1",
        "--test_crop_size=16",
        "--num_test_clips=1",
        "--num_test_crops=1",
        f"--output_dir={out}",
        env=cli_helpers.program_env(TF_CPP_MIN_LOG_LEVEL=3),
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "7 of 11 videos scored" in completed.stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert (metrics["num_videos_scored"], metrics["num_videos_expected"]) == (
        7,
        11,
    )
    assert [(d["path"], d["lost"]) for d in metrics["damaged_shards"]] == [
        (str(paths[1]), 3),
        (str(paths[2]), 1),
    ]
    # absl's warning names each damaged shard even with TF's log silenced.
    for path in paths[1:]:
        assert f"damaged shard {path}" in completed.stderr
    assert np.isfinite(metrics["top1"])


def test_training_log_and_summaries_count_the_loss(damaged, tmp_path):
    from nonlocal_tf import training
    from nonlocal_tf.training import trainer
    from tests.training import tiny

    paths, _ = damaged
    integrity.SKIPPED_RECORDS.reset()  # the trainer reports the global one

    def dataset_fn(context):
        return pipeline.build_dataset(
            [str(p) for p in paths],
            ClipSpec(
                num_frames=4, sampling_rate=1, crop_size=8, jitter_scales=(8, 8)
            ),
            mode="train",
            num_classes=tiny.NUM_CLASSES,
            batch_size=context.get_per_replica_batch_size(2),
            input_context=context,
            seed=0,
        )

    config = training.TrainConfig(
        model_dir=str(tmp_path / "run"),
        batch_size_per_replica=2,
        epochs=1,
        steps_per_epoch=8,  # more than one pass over the 7 readable records
        base_learning_rate=0.01,
        log_every_steps=8,
        progress_bar=False,
    )
    try:
        result = training.train(config, tiny.tiny_model, dataset_fn)
    finally:
        counts = integrity.SKIPPED_RECORDS.summary()
        integrity.SKIPPED_RECORDS.reset()
    assert counts["records_lost"] == 4
    (logs,) = result.history
    assert (logs["lost_records"], logs["damaged_shards"]) == (4, 2)
    scalars = trainer.read_scalars(str(tmp_path / "run" / "train"))
    assert scalars["lost_records"] == [(8, 4.0)]
    assert scalars["damaged_shards"] == [(8, 2.0)]


@pytest.mark.slow
def test_evaluate_program_on_unlabelled_records(tmp_path):
    path = helpers.write_records(
        tmp_path / "val-00000-of-00001.tfrecord",
        [(f"u{i}", helpers.index_video(3, 24, 24), []) for i in range(2)],
    )
    model_path = tmp_path / "tiny.keras"
    _tiny_classifier().save(model_path)
    completed = cli_helpers.run_program(
        "evaluate.py",
        f"--keras_model={model_path}",
        f"--test_records={path}",
        "--num_frames=2",
        "--sampling_rate=1",
        "--test_crop_size=16",
        "--num_test_clips=1",
        "--num_test_crops=1",
        "--num_classes=3",
        f"--output_dir={tmp_path / 'eval'}",
    )
    assert "test video 'u0' has no label" in completed.stderr
    cli_helpers.assert_user_error(completed, "test video 'u0' has no label")
