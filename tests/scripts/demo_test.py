"""`scripts/demo.py --quick` end to end: every step leaves its artefacts.

This checks the plumbing (a 6-step run cannot learn); the accuracy of a
normal run is reported in the issue note.
"""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

CLASS_NAMES = ["different_colours", "same_colour"]


def _run_demo(repo_root, *args, timeout=600):
    return subprocess.run(
        [sys.executable, str(repo_root / "scripts" / "demo.py"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=repo_root,
        env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"),
    )


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    from tests.conftest import REPO_ROOT

    output = tmp_path_factory.mktemp("demo") / "out"
    first = _run_demo(REPO_ROOT, "--quick", f"--output_dir={output}")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    return output, first


def test_prints_every_step_and_the_summary(quick_run):
    _, process = quick_run
    out = process.stdout
    for step in range(1, 7):
        assert f"[{step}/6]" in out, out
    assert "Summary" in out and "test top-1" in out and "wall time" in out
    # A readable log: none of TensorFlow's start-up notices.
    assert "oneDNN" not in process.stdout + process.stderr


def test_writes_videos_and_records_with_reports(quick_run):
    output, _ = quick_run
    sizes = {"train": 16, "val": 4, "test": 8}
    records = output / "records"
    assert json.loads((records / "label_map.json").read_text()) == {
        name: i for i, name in enumerate(CLASS_NAMES)
    }
    for split, size in sizes.items():
        assert len(list((output / "videos" / split).glob("*.mp4"))) == size
        shards = sorted(records.glob(f"{split}-*-of-*.tfrecord"))
        assert shards and all(s.stat().st_size > 0 for s in shards)
        report = json.loads((records / f"{split}_report.json").read_text())
        assert (report["written"], report["skipped"]) == (size, 0)
    assert (output / "videos" / "request.mp4").stat().st_size > 0


def test_trains_with_checkpoints(quick_run):
    output, _ = quick_run
    model_dir = output / "model"
    config = json.loads((model_dir / "config.json").read_text())
    assert config["train_steps"] == 6
    assert list((model_dir / "checkpoints").glob("*.index"))
    assert (model_dir / "final.weights.h5").stat().st_size > 0


def test_writes_multi_view_metrics(quick_run):
    output, _ = quick_run
    for split, videos in (("val", 4), ("test", 8)):
        metrics = json.loads(
            (output / "eval" / f"{split}_metrics.json").read_text()
        )
        assert metrics["num_videos"] == videos
        assert metrics["num_views"] == 2  # --quick: 2 clips x 1 crop
        assert 0.0 <= metrics["top1"] <= 1.0
        assert metrics["chance"] == 0.5
        per_class = (output / "eval" / f"{split}_per_class.csv").read_text()
        assert all(name in per_class for name in CLASS_NAMES)


def test_exports_both_signatures_with_label_names(quick_run):
    import tensorflow as tf

    output, _ = quick_run
    version = output / "export" / "colour_match" / "1"
    assert (version / "saved_model.pb").exists()
    assert (version / "assets.extra" / "tf_serving_warmup_requests").exists()
    loaded = tf.saved_model.load(str(version))
    assert {"serving_default", "classify_frames"} <= set(loaded.signatures)
    for name in ("serving_default", "classify_frames"):
        outputs = loaded.signatures[name].structured_outputs
        assert {"probabilities", "top_k_labels", "top_k_scores"} <= set(outputs)


def test_answers_the_request_through_the_signature(quick_run):
    output, process = quick_run
    assert "model.signatures['classify_frames'](frames=" in process.stdout
    assert "true label:" in process.stdout
    answer = json.loads((output / "request_answer.json").read_text())
    assert answer["signature"] == "classify_frames"
    assert sorted(answer["top_k_labels"]) == CLASS_NAMES
    assert sum(answer["top_k_scores"]) == pytest.approx(1.0, abs=1e-4)
    assert answer["true_label"] in CLASS_NAMES
    assert f"{answer['top_k_labels'][0]} " in process.stdout


def test_rerun_resumes_and_other_settings_are_refused(quick_run):
    from tests.conftest import REPO_ROOT

    output, _ = quick_run
    again = _run_demo(REPO_ROOT, "--quick", f"--output_dir={output}")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming the run found there" in again.stdout
    assert "resumed from the checkpoint of step 6" in again.stdout
    other = _run_demo(
        REPO_ROOT, "--quick", "--seed=3", f"--output_dir={output}", timeout=60
    )
    assert other.returncode != 0
    assert "other settings (seed)" in other.stderr
    assert "--overwrite" in other.stderr
