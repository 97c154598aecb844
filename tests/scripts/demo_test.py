"""`scripts/demo.py --quick` end to end: every step leaves its artefacts.

This checks the plumbing (a 6-step run cannot learn); the accuracy of a
normal run is reported in the issue note.
"""

import json
import os
import re
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

CLASS_NAMES = ["different_colours", "same_colour"]
FINETUNE_CLASSES = ["both_red", "both_green", "two_colours"]
RUNS = ("from_demo", "from_scratch")
TITLES = ("fine-tuned from the demo", "from scratch")


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
    for step in range(1, 8):
        assert f"[{step}/7]" in out, out
    assert "Summary" in out and "test top-1" in out and "wall time" in out
    assert "fine-tune" in out.split("Summary")[-1]
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
    assert "finished earlier: the stored comparison" in again.stdout
    other = _run_demo(
        REPO_ROOT, "--quick", "--seed=3", f"--output_dir={output}", timeout=60
    )
    assert other.returncode != 0
    assert "other settings (seed)" in other.stderr
    assert "--overwrite" in other.stderr


def _weights(path):
    """{path: array} of the model's tensors in a `.weights.h5` file."""
    import h5py

    tensors = {}
    with h5py.File(path, "r") as f:

        def visit(name, item):
            if isinstance(item, h5py.Dataset) and name.startswith("layers/"):
                tensors[name] = item[()]

        f.visititems(visit)
    return tensors


def _head(tensors):
    """The classifier's (`pred`, the one Dense layer) tensor names."""
    return {name for name in tensors if name.startswith("layers/dense/")}


def test_finetunes_to_a_new_labelling_and_compares(quick_run):
    output, process = quick_run
    stage = output / "finetune"
    comparison = json.loads((stage / "comparison.json").read_text())
    assert comparison["class_names"] == FINETUNE_CLASSES
    assert (comparison["train_videos"], comparison["test_videos"]) == (6, 6)
    assert json.loads((stage / "records" / "label_map.json").read_text()) == {
        name: i for i, name in enumerate(FINETUNE_CLASSES)
    }
    for split in ("train", "test"):
        assert len(list((stage / "videos" / split).glob("*.mp4"))) == 6
        labels = (stage / "videos" / f"{split}.csv").read_text().split()[1:]
        assert sorted(row.split(",")[1] for row in labels) == sorted(
            FINETUNE_CLASSES * 2
        )
    for run in RUNS:
        result = comparison["runs"][run]
        top1 = result["test_top1"]
        assert isinstance(top1, float) and 0.0 <= top1 <= 1.0
        assert result["num_test_videos"] == 6 and result["steps"] == 4
        metrics = json.loads(
            (stage / "eval" / f"{run}_metrics.json").read_text()
        )
        assert metrics["top1"] == pytest.approx(top1)
        assert metrics["chance"] == pytest.approx(1 / 3)
        model = json.loads((stage / run / "model.json").read_text())
        assert model["config"]["num_classes"] == 3
        assert (stage / run / "final.weights.h5").stat().st_size > 0
    printed = process.stdout.split("[7/7]")[1]
    for run, title in zip(RUNS, TITLES, strict=True):
        top1 = comparison["runs"][run]["test_top1"]
        assert re.search(rf"{title} +{top1:.3f}", printed), printed


def test_finetuning_starts_from_the_demo_run(quick_run):
    import numpy as np

    output, _ = quick_run
    stage = output / "finetune"
    source = json.loads((stage / "comparison.json").read_text())["runs"]
    assert source["from_demo"]["initial_weights"]["run"] == str(
        output / "model"
    )
    assert source["from_demo"]["initial_weights"]["not_loaded"] == ["pred"]
    assert source["from_scratch"]["initial_weights"]["random"] is True
    demo = _weights(output / "model" / "final.weights.h5")
    tuned = _weights(stage / "from_demo" / "initial.weights.h5")
    scratch = _weights(stage / "from_scratch" / "initial.weights.h5")
    final = _weights(stage / "from_demo" / "final.weights.h5")
    head = _head(demo)
    assert head and head == _head(tuned) and set(demo) == set(tuned)
    assert demo["layers/dense/vars/0"].shape[-1] == 2
    assert tuned["layers/dense/vars/0"].shape[-1] == 3
    # Every backbone tensor is the demo's; the head is new (the same random
    # head as the run from scratch, whose backbone is random too).
    for name in set(demo) - head:
        np.testing.assert_array_equal(tuned[name], demo[name], err_msg=name)
    for name in head:
        np.testing.assert_array_equal(tuned[name], scratch[name], err_msg=name)
    kernels = [n for n in set(demo) - head if demo[n].ndim == 5]
    assert kernels and all(
        not np.array_equal(scratch[n], demo[n]) for n in kernels
    )
    # Training moved the weights it started from.
    assert not np.array_equal(final[kernels[0]], tuned[kernels[0]])
