"""Multi-view evaluation against NumPy references."""

import csv
import json

import numpy as np
import pytest
import tensorflow as tf

from nonlocal_tf.training import evaluation
from nonlocal_tf.training import results
from tests.training import tiny

NUM_CLIPS, NUM_CROPS = 2, 3
NUM_VIEWS = NUM_CLIPS * NUM_CROPS
CLIP = (2, 4, 4, 3)
NUM_CLASSES = 7


def _score_reader(clips):
    """A "model" whose scores for a clip are the clip's first values."""
    flat = tf.reshape(clips, [tf.shape(clips)[0], -1])
    return flat[:, :NUM_CLASSES]


def _test_dataset(view_scores, labels, *, as_dict=False, batch=4):
    num_videos = view_scores.shape[0]
    views = np.zeros((num_videos, NUM_VIEWS, int(np.prod(CLIP))), np.float32)
    views[..., :NUM_CLASSES] = view_scores
    views = views.reshape((num_videos, NUM_VIEWS) + CLIP)
    ids = np.array([f"video_{i}".encode() for i in range(num_videos)])
    if as_dict:
        data = {"clips": views, "label": labels, "video_id": ids}
    else:
        data = (views, labels, ids)
    return tf.data.Dataset.from_tensor_slices(data).batch(batch)


def _reference_top_k(scores, labels, k):
    top = np.argsort(-scores, axis=1)[:, :k]
    return np.array(
        [label in row for row, label in zip(top, labels, strict=True)]
    )


@pytest.fixture
def single_label_data():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(10, NUM_VIEWS, NUM_CLASSES))
    probabilities = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    labels = rng.integers(0, NUM_CLASSES, 10)
    labels[:3] = probabilities[:3].mean(axis=1).argmax(-1)  # some hits
    return probabilities.astype(np.float32), labels


@pytest.mark.parametrize("as_dict", [False, True])
def test_views_are_averaged_per_video(single_label_data, as_dict):
    probabilities, labels = single_label_data
    result = evaluation.evaluate(
        _score_reader,
        _test_dataset(probabilities, labels, as_dict=as_dict),
        num_clips=NUM_CLIPS,
        num_crops=NUM_CROPS,
        progress=False,
    )
    video = probabilities.astype(np.float64).mean(axis=1)
    np.testing.assert_allclose(result.video_scores, video, rtol=1e-6)
    # Centre clip (index 1 of 2) x centre crop (index 1 of 3) = view 4.
    np.testing.assert_allclose(
        result.single_view_scores, probabilities[:, 4], rtol=1e-6
    )
    m = result.metrics
    assert m["num_videos"] == 10 and m["num_views"] == NUM_VIEWS
    assert m["top1"] == pytest.approx(_reference_top_k(video, labels, 1).mean())
    assert m["top5"] == pytest.approx(_reference_top_k(video, labels, 5).mean())
    single = probabilities[:, 4]
    assert m["single_view_top1"] == pytest.approx(
        _reference_top_k(single, labels, 1).mean()
    )
    assert list(result.video_ids) == [f"video_{i}" for i in range(10)]


def test_view_batch_size_does_not_change_scores(single_label_data):
    probabilities, labels = single_label_data
    dataset = _test_dataset(probabilities, labels)
    whole = evaluation.evaluate(_score_reader, dataset, progress=False)
    chunked = evaluation.evaluate(
        _score_reader, dataset, view_batch_size=5, progress=False
    )
    np.testing.assert_array_equal(whole.video_scores, chunked.video_scores)


def test_softmax_activation_is_applied_per_view(single_label_data):
    probabilities, labels = single_label_data
    logits = np.log(probabilities)
    result = evaluation.evaluate(
        _score_reader,
        _test_dataset(logits, labels),
        activation="softmax",
        progress=False,
    )
    np.testing.assert_allclose(
        result.video_scores, probabilities.mean(axis=1), rtol=1e-5
    )


def test_per_class_csv_and_metrics_json(single_label_data, tmp_path):
    probabilities, labels = single_label_data
    names = [f"class {c}" for c in range(NUM_CLASSES)]
    result = evaluation.evaluate(
        _score_reader,
        _test_dataset(probabilities, labels),
        class_names=names,
        progress=False,
    )
    path = tmp_path / "per_class.csv"
    results.write_per_class_csv(result, str(path))
    rows = list(csv.DictReader(path.open()))
    assert [r["class_name"] for r in rows] == names
    video = probabilities.mean(axis=1)
    hits = _reference_top_k(video, labels, 1)
    for c, row in enumerate(rows):
        mine = labels == c
        assert int(row["num_videos"]) == mine.sum()
        if mine.any():
            assert float(row["top1"]) == pytest.approx(hits[mine].mean())
        else:
            assert row["top1"] == "nan"
    metrics_path = tmp_path / "metrics.json"
    results.write_metrics_json(result, str(metrics_path), {"model": "x"})
    values = json.loads(metrics_path.read_text())
    assert values["top1"] == pytest.approx(hits.mean())
    assert values["model"] == "x"
    predictions = tmp_path / "predictions.csv"
    results.write_predictions_csv(result, str(predictions))
    rows = list(csv.DictReader(predictions.open()))
    assert rows[0]["video_id"] == "video_0"
    assert int(rows[0]["top_indices"].split()[0]) == video[0].argmax()
    assert not list(tmp_path.glob(".*tmp*"))


def _reference_ap(scores, positives):
    order = np.argsort(-scores)
    hits = positives[order] > 0
    return (np.cumsum(hits) / np.arange(1, len(hits) + 1))[hits].mean()


@pytest.mark.parametrize("ensemble", ["mean", "max"])
def test_multi_label_map(ensemble):
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(12, NUM_VIEWS, NUM_CLASSES)).astype(np.float32)
    labels = (rng.random((12, NUM_CLASSES)) < 0.3).astype(np.float32)
    labels[:, 6] = 0  # a class without positives is left out of the mean
    labels[0, :6] = 1
    result = evaluation.evaluate(
        _score_reader,
        _test_dataset(logits, labels),
        multi_label=True,
        activation="sigmoid",
        ensemble=ensemble,
        progress=False,
    )
    probabilities = 1 / (1 + np.exp(-logits.astype(np.float64)))
    reduce = np.mean if ensemble == "mean" else np.max
    video = reduce(probabilities, axis=1)
    expected = [_reference_ap(video[:, c], labels[:, c]) for c in range(6)]
    assert result.metrics["mAP"] == pytest.approx(np.mean(expected))
    assert result.metrics["num_classes_with_positives"] == 6
    single = probabilities[:, NUM_VIEWS // 2]
    expected_single = [
        _reference_ap(single[:, c], labels[:, c]) for c in range(6)
    ]
    assert result.metrics["single_view_mAP"] == pytest.approx(
        np.mean(expected_single)
    )
    assert [row["num_positives"] for row in result.per_class] == list(
        labels.sum(axis=0).astype(int)
    )
    assert np.isnan(result.per_class[6]["ap"])


def test_keras_model_views_match_direct_prediction():
    model = tiny.tiny_model()
    rng = np.random.default_rng(4)
    views = rng.normal(size=(3, 4) + tiny.CLIP_SHAPE).astype(np.float32)
    labels = np.array([0, 1, 2])
    dataset = tf.data.Dataset.from_tensor_slices((views, labels)).batch(2)
    result = evaluation.evaluate(model, dataset, progress=False)
    direct = model.predict(views.reshape((12,) + tiny.CLIP_SHAPE), verbose=0)
    np.testing.assert_allclose(
        result.video_scores, direct.reshape(3, 4, -1).mean(axis=1), rtol=1e-5
    )


def test_bad_test_elements_are_rejected():
    dataset = tf.data.Dataset.from_tensor_slices(
        {"frames": np.zeros((2, 1, 2, 4, 4, 3), np.float32)}
    ).batch(2)
    with pytest.raises(ValueError, match="no views"):
        evaluation.evaluate(_score_reader, dataset, progress=False)
    with pytest.raises(ValueError, match="clips x"):
        results.center_view_index(6, num_clips=10, num_crops=3)
    with pytest.raises(ValueError, match="no videos"):
        evaluation.evaluate(
            _score_reader,
            dataset.take(0).map(lambda d: (d["frames"], 0)),
            progress=False,
        )


def test_jit_compiled_evaluation_gives_the_same_scores():
    import keras

    inputs = keras.Input(CLIP)
    x = keras.layers.Conv3D(4, 1, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling3D()(x)
    model = keras.Model(
        inputs, keras.layers.Dense(NUM_CLASSES, activation="softmax")(x)
    )
    rng = np.random.default_rng(4)
    views = rng.normal(size=(3, NUM_VIEWS) + CLIP).astype(np.float32)
    dataset = tf.data.Dataset.from_tensor_slices(
        (views, np.array([0, 1, 2]))
    ).batch(2)
    plain, jit = (
        evaluation.evaluate(
            model,
            dataset,
            num_clips=NUM_CLIPS,
            num_crops=NUM_CROPS,
            progress=False,
            jit_compile=jit_compile,
        )
        for jit_compile in (False, True)
    )
    for field in ("video_scores", "single_view_scores"):
        np.testing.assert_allclose(
            getattr(jit, field), getattr(plain, field), rtol=0, atol=1e-5
        )
