"""End to end: prepare -> train.py -> evaluate.py / predict.py / export.py.

A tiny copy (width 4) of the zoo's C2D_NLN_8x8_R50 is trained for a few
steps on 4 x 32 x 32 clips of generated videos (3 colour classes); every
script's numbers are checked against a computation done here, in NumPy, with
the trained weights.
"""

import csv
import json

import numpy as np
import pytest

from nonlocal_tf.clip_spec import ClipSpec
from tests.scripts import helpers

pytestmark = pytest.mark.slow

MODEL = "C2D_NLN_8x8_R50"
WIDTH = 4
NUM_FRAMES, RATE, CROP = 4, 2, 32
CLIPS, CROPS = 2, 3
# The clips of the trained model: the zoo entry's spec, the flags below
# applied (the test views; the training crop is added at train time).
SPEC = ClipSpec(
    num_frames=NUM_FRAMES,
    sampling_rate=RATE,
    temporal_sampling="pyslowfast",
    test_crop_size=CROP,
    num_test_clips=CLIPS,
    num_test_crops=CROPS,
)
TRAIN_STEPS = 6
VIEW_FLAGS = (
    f"--num_frames={NUM_FRAMES}",
    f"--sampling_rate={RATE}",
    f"--test_crop_size={CROP}",
    f"--num_test_clips={CLIPS}",
    f"--num_test_crops={CROPS}",
)
# Multi-label lists of the validation videos (Charades style).
MULTI_LABELS = {
    0: ("red",),
    1: ("green", "red"),
    2: ("blue",),
    3: ("red", "blue"),
    4: ("green",),
    5: ("blue", "green"),
}


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """9 training and 6 validation videos as records, plus a multi-label
    version of the validation set."""
    from nonlocal_tf import data
    from nonlocal_tf.data import annotations

    root = tmp_path_factory.mktemp("workflow")
    videos = root / "videos"
    videos.mkdir()
    entries = []
    for i in range(15):
        label = i % 3
        path = helpers.colour_video(videos / f"v{i:02d}.mp4", label, seed=i)
        entries.append(
            annotations.VideoEntry(
                str(path), f"v{i:02d}", (helpers.CLASS_NAMES[label],)
            )
        )
    label_map = {name: i for i, name in enumerate(helpers.CLASS_NAMES)}
    records = root / "records"
    common = dict(
        label_map=label_map, num_workers=0, short_side=None, progress=False
    )
    data.prepare_dataset(
        entries[:9], str(records), split="train", num_shards=2, **common
    )
    data.prepare_dataset(
        entries[9:], str(records), split="val", num_shards=1, **common
    )
    listing = root / "charades_val.txt"
    listing.write_text(
        "".join(
            f"{entries[9 + i].path},{','.join(labels)}\n"
            for i, labels in MULTI_LABELS.items()
        )
    )
    multi = root / "multi"
    data.prepare_dataset(
        annotations.read_video_list(str(listing), str(videos)),
        str(multi),
        split="val",
        num_shards=1,
        **common,
    )
    return {
        "root": root,
        "videos": [entry.path for entry in entries],
        "train": str(records / "train-*"),
        "val": str(records / "val-*"),
        "label_map": str(records / "label_map.json"),
        "multi_val": str(multi / "val-*"),
    }


@pytest.fixture(scope="module")
def run_dir(dataset):
    model_dir = dataset["root"] / "run"
    helpers.run_script(
        "train.py",
        f"--model={MODEL}",
        f"--width_per_group={WIDTH}",
        f"--train_records={dataset['train']}",
        f"--val_records={dataset['val']}",
        *VIEW_FLAGS,
        f"--crop_size={CROP}",
        "--jitter_scales=32,40",
        "--batch_size_per_replica=2",
        f"--train_steps={TRAIN_STEPS}",
        "--checkpoint_every_steps=3",
        "--log_every_steps=2",
        "--base_learning_rate=0.01",
        "--noprogress_bar",
        f"--model_dir={model_dir}",
    )
    return model_dir


@pytest.fixture(scope="module")
def logits_model(run_dir):
    """The trained network, built here with a linear head."""
    from nonlocal_tf import zoo

    model = zoo.get_model(
        MODEL,
        num_classes=3,
        width_per_group=WIDTH,
        input_shape=(NUM_FRAMES, CROP, CROP, 3),
        classifier_activation=None,
    )
    model.load_weights(str(run_dir / "final.weights.h5"))
    return model


def _softmax(logits):
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _sigmoid(logits):
    return 1 / (1 + np.exp(-logits))


def _view_logits(model, pattern, multi_label=False):
    """{video_id: (views, classes) logits} over the test views of records."""
    from nonlocal_tf import data

    dataset = data.build_dataset(
        pattern,
        SPEC,
        mode="test",
        num_classes=3,
        multi_label=multi_label,
        batch_size=1,
    )
    out = {}
    for element in dataset:
        views = element["views"][0].numpy()
        assert views.shape == (CLIPS * CROPS, NUM_FRAMES, CROP, CROP, 3)
        video_id = element["video_id"][0].numpy().decode()
        out[video_id] = (
            np.asarray(model.predict_on_batch(views), np.float64),
            element["labels"][0].numpy(),
        )
    return out


def _predictions(path):
    with open(path) as f:
        rows = list(csv.DictReader(f))
    return {
        row["video_id"]: (
            row["label"],
            [int(i) for i in row["top_indices"].split()],
            np.array([float(s) for s in row["top_scores"].split()]),
        )
        for row in rows
    }


def _average_precision(scores, positives):
    """Mean over positives of the precision at the positive's rank."""
    order = np.argsort(-scores)
    hits = np.asarray(positives, bool)[order]
    ranks = np.flatnonzero(hits) + 1
    return np.mean(np.arange(1, len(ranks) + 1) / ranks)


def test_train_writes_a_complete_run(run_dir, dataset):
    config = json.loads((run_dir / "config.json").read_text())
    flags = config["extra"]["flags"]
    assert flags["model"] == MODEL and flags["width_per_group"] == WIDTH
    # --num_classes came from the records' label_map.json.
    assert config["extra"]["num_classes"] == 3
    # The effective clip spec: the entry's, with the flags' overrides.
    assert config["clip_spec"] == dict(
        SPEC.to_dict(), crop_size=CROP, jitter_scales=[32, 40]
    )
    overrides = config["extra"]["clip_spec_overrides"]
    assert overrides["num_frames"] == {"model": 8, "flag": NUM_FRAMES}
    model_json = json.loads((run_dir / "model.json").read_text())
    assert model_json["class_name"] == "VideoClassifier"
    assert model_json["config"]["clip_spec"] == config["clip_spec"]
    assert config["train_steps"] == TRAIN_STEPS
    assert config["run"]["global_batch_size"] == 2
    checkpoints = run_dir / "checkpoints"
    assert (checkpoints / "state-3.index").exists()
    assert (checkpoints / "state-6.index").exists()
    assert (run_dir / "final.weights.h5").stat().st_size > 0
    assert list((run_dir / "train").glob("events.out.tfevents.*"))
    metrics = json.loads((run_dir / "eval" / "metrics.json").read_text())
    assert metrics["num_videos"] == 6 and metrics["num_views"] == CLIPS * CROPS
    with open(run_dir / "eval" / "per_class.csv") as f:
        names = [row["class_name"] for row in csv.DictReader(f)]
    assert names == list(helpers.CLASS_NAMES)


def test_evaluate_matches_numpy(run_dir, dataset, logits_model, tmp_path):
    # The run directory is the whole model: architecture, clip spec, weights.
    out = tmp_path / "eval"
    stdout = helpers.run_script(
        "evaluate.py",
        f"--model={run_dir}",
        f"--test_records={dataset['val']}",
        f"--output_dir={out}",
    )
    assert "6 videos" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    assert (
        metrics["clip_spec"]
        == json.loads((run_dir / "config.json").read_text())["clip_spec"]
    )
    assert metrics["clip_spec_overrides"] == {}
    predictions = _predictions(out / "predictions.csv")
    reference = _view_logits(logits_model, dataset["val"])
    assert sorted(predictions) == sorted(reference)

    hits1, hits3, single_hits, per_class = [], [], [], {0: [], 1: [], 2: []}
    centre = (CLIPS // 2) * CROPS + CROPS // 2
    for video_id, (logits, label) in reference.items():
        probabilities = _softmax(logits)
        scores = probabilities.mean(axis=0)
        written_label, top, top_scores = predictions[video_id]
        assert int(written_label) == int(label)
        assert top == list(np.argsort(-scores))
        np.testing.assert_allclose(top_scores, np.sort(scores)[::-1], atol=2e-6)
        hits1.append(top[0] == label)
        hits3.append(label in top[:3])
        single_hits.append(np.argmax(probabilities[centre]) == label)
        per_class[int(label)].append(top[0] == label)
    assert metrics["num_videos"] == 6
    assert metrics["top1"] == pytest.approx(np.mean(hits1))
    assert metrics["top5"] == pytest.approx(np.mean(hits3)) == 1.0
    assert metrics["single_view_top1"] == pytest.approx(np.mean(single_hits))
    with open(out / "per_class.csv") as f:
        rows = list(csv.DictReader(f))
    assert [row["class_name"] for row in rows] == list(helpers.CLASS_NAMES)
    for row in rows:
        hits = per_class[int(row["class_index"])]
        assert int(row["num_videos"]) == len(hits) == 2
        assert float(row["top1"]) == pytest.approx(np.mean(hits))
    # train.py's own final evaluation saw the same weights and views.
    at_train = json.loads((run_dir / "eval" / "metrics.json").read_text())
    for key in ("top1", "top5", "single_view_top1", "mean_class_top1"):
        assert at_train[key] == pytest.approx(metrics[key])


def test_evaluate_multi_label_gives_map(
    run_dir, dataset, logits_model, tmp_path
):
    out = tmp_path / "eval_multi"
    stdout = helpers.run_script(
        "evaluate.py",
        f"--model={MODEL}",
        f"--width_per_group={WIDTH}",
        f"--weights={run_dir / 'final.weights.h5'}",
        f"--test_records={dataset['multi_val']}",
        "--multi_label",
        *VIEW_FLAGS,
        f"--output_dir={out}",
    )
    assert "mAP (6 views/video)" in stdout
    metrics = json.loads((out / "metrics.json").read_text())
    predictions = _predictions(out / "predictions.csv")
    reference = _view_logits(logits_model, dataset["multi_val"], True)
    scores, labels = [], []
    for video_id, (logits, label) in reference.items():
        video_scores = _sigmoid(logits).mean(axis=0)
        written_label, top, top_scores = predictions[video_id]
        # 3 classes: the top-5 columns hold every class's score.
        np.testing.assert_allclose(top_scores, video_scores[top], atol=2e-6)
        assert written_label.split() == [str(c) for c in np.flatnonzero(label)]
        scores.append(video_scores)
        labels.append(label)
    scores, labels = np.array(scores), np.array(labels)
    # Every video has its colour's label; some a second one.
    assert labels.sum() == sum(len(v) for v in MULTI_LABELS.values())
    expected = np.mean(
        [_average_precision(scores[:, c], labels[:, c]) for c in range(3)]
    )
    assert metrics["mAP"] == pytest.approx(expected, abs=1e-6)
    with open(out / "per_class.csv") as f:
        aps = [float(row["ap"]) for row in csv.DictReader(f)]
    np.testing.assert_allclose(
        aps,
        [_average_precision(scores[:, c], labels[:, c]) for c in range(3)],
        atol=1e-6,
    )


@pytest.fixture(scope="module")
def exported(run_dir, dataset):
    base = dataset["root"] / "models"
    stdout = helpers.run_script(
        "export.py",
        f"--model={run_dir}",
        f"--labels={dataset['label_map']}",
        f"--export_dir={base}",
        "--name=tiny_c2d",
    )
    path = base / "tiny_c2d" / "1"
    assert f"SavedModel: {path}" in stdout
    assert f"input  video: float32 (-1, {NUM_FRAMES}, -1, -1, 3)" in stdout
    assert f"input  frames: string (-1, {NUM_FRAMES})" in stdout
    return path


def test_export_zoo_model_matches_keras(exported, logits_model):
    import tensorflow as tf

    serving = tf.saved_model.load(str(exported)).signatures["serving_default"]
    rng = np.random.default_rng(3)
    video = rng.uniform(0, 255, (2, NUM_FRAMES, CROP, CROP, 3))
    video = video.astype(np.float32)
    outputs = serving(video=tf.constant(video))
    # The signature takes RGB in [0, 255]; the Keras model normalised clips.
    expected = _softmax(
        np.asarray(logits_model((video - 114.75) / 57.375), np.float64)
    )
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5)
    labels = outputs["top_k_labels"].numpy().astype(str)
    expected_names = np.array(helpers.CLASS_NAMES)[np.argsort(-expected)]
    np.testing.assert_array_equal(labels, expected_names)
    # Height and width stay dynamic in the zoo export.
    wide = serving(
        video=tf.constant(np.pad(video, [(0, 0)] * 3 + [(4, 4)] + [(0, 0)]))
    )
    assert wide["probabilities"].shape == (2, 3)


def test_predict_zoo_model_and_saved_model(
    run_dir, exported, dataset, logits_model, tmp_path
):
    from nonlocal_tf import data

    video = dataset["videos"][10]  # a green validation video
    common = (
        f"--video={video}",
        f"--sampling_rate={RATE}",
        f"--test_crop_size={CROP}",
        f"--num_test_clips={CLIPS}",
        f"--num_test_crops={CROPS}",
        "--short_side=0",
    )
    stdout = helpers.run_script(
        "predict.py",
        *common,
        f"--model={MODEL}",
        f"--width_per_group={WIDTH}",
        f"--num_frames={NUM_FRAMES}",
        f"--weights={run_dir}",
        f"--labels={dataset['label_map']}",
        f"--output_json={tmp_path / 'zoo.json'}",
    )
    views = data.read_video_views(
        video,
        SPEC,
        short_side=None,
    ).numpy()
    expected = _softmax(logits_model.predict_on_batch(views)).mean(axis=0)
    zoo_result = json.loads((tmp_path / "zoo.json").read_text())
    assert zoo_result["num_views"] == CLIPS * CROPS
    np.testing.assert_allclose(zoo_result["probabilities"], expected, atol=1e-5)
    names = [helpers.CLASS_NAMES[i] for i in np.argsort(-expected)]
    assert [row["label"] for row in zoo_result["top_k"]] == names
    printed = [line.split()[1] for line in stdout.splitlines()[1:]]
    assert printed == names

    helpers.run_script(
        "predict.py",
        *common,
        f"--saved_model={exported}",
        f"--output_json={tmp_path / 'saved.json'}",
    )
    saved_result = json.loads((tmp_path / "saved.json").read_text())
    np.testing.assert_allclose(
        saved_result["probabilities"], expected, atol=1e-5
    )
    # Label names from the SavedModel itself (no --labels given).
    assert saved_result["top_k"] == [
        dict(row, score=pytest.approx(row["score"], abs=1e-5))
        for row in zoo_result["top_k"]
    ]


def test_train_inflates_imagenet_weights(dataset, tmp_path):
    """--inflate_from with a keras.applications ResNet50 weights file (full
    width, which inflation needs), one step at a learning rate of 1e-30: at
    1e-12 the step still moved kernels by 1e-4 (this random full-width net,
    BN over a few 1 x 1 positions, has gradients near 1e8)."""
    import keras

    from nonlocal_tf import zoo

    source = keras.applications.ResNet50(
        weights=None, include_top=False, input_shape=(None, None, 3)
    )
    source_path = tmp_path / "resnet50.weights.h5"
    source.save_weights(str(source_path))
    model_dir = tmp_path / "run_inflated"
    helpers.run_script(
        "train.py",
        f"--model={MODEL}",
        f"--inflate_from={source_path}",
        f"--train_records={dataset['train']}",
        f"--num_frames={NUM_FRAMES}",
        f"--sampling_rate={RATE}",
        f"--crop_size={CROP}",
        "--jitter_scales=32,40",
        "--batch_size_per_replica=1",
        "--train_steps=1",
        "--base_learning_rate=1e-30",
        "--weight_decay=0",
        "--noprogress_bar",
        f"--model_dir={model_dir}",
    )
    model = zoo.get_model(
        MODEL, num_classes=3, input_shape=(NUM_FRAMES, CROP, CROP, 3)
    )
    model.load_weights(str(model_dir / "final.weights.h5"))
    # C2D: every kernel has temporal size 1, so inflation copies the 2D one.
    for target, origin in (
        ("conv1", "conv1_conv"),
        ("res2_0_branch2a", "conv2_block1_1_conv"),
        ("res5_2_branch2c", "conv5_block3_3_conv"),
    ):
        kernel = np.asarray(model.get_layer(target).kernel)
        expected = np.asarray(source.get_layer(origin).kernel)
        assert kernel.shape == (1,) + expected.shape
        np.testing.assert_allclose(kernel[0], expected, atol=1e-6)
