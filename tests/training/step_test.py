"""Per-example losses (label smoothing) against NumPy formulas."""

import numpy as np
import pytest
import tensorflow as tf

from nonlocal_tf.training import step


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@pytest.mark.parametrize("smoothing", [0.0, 0.1])
@pytest.mark.parametrize("from_logits", [True, False])
def test_softmax_cross_entropy_with_label_smoothing(smoothing, from_logits):
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 5))
    labels = rng.integers(0, 5, 6)
    target = np.eye(5)[labels] * (1 - smoothing) + smoothing / 5
    expected = -(target * np.log(_softmax(logits))).sum(axis=-1)
    inputs = logits if from_logits else _softmax(logits)
    got = step.per_example_loss(
        tf.constant(labels),
        tf.constant(inputs, tf.float32),
        from_logits=from_logits,
        label_smoothing=smoothing,
    )
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)


@pytest.mark.parametrize("smoothing", [0.0, 0.2])
def test_sigmoid_cross_entropy_with_label_smoothing(smoothing):
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(4, 3))
    labels = (rng.random((4, 3)) > 0.5).astype(np.float32)
    target = labels * (1 - smoothing) + smoothing / 2
    p = 1 / (1 + np.exp(-logits))
    expected = -(target * np.log(p) + (1 - target) * np.log(1 - p)).mean(-1)
    got = step.per_example_loss(
        tf.constant(labels),
        tf.constant(logits, tf.float32),
        multi_label=True,
        from_logits=True,
        label_smoothing=smoothing,
    )
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5)


def test_top1_hits():
    scores = tf.constant([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1]])
    hits = step.top1_hits(tf.constant([1, 2]), scores)
    np.testing.assert_array_equal(hits.numpy(), [1.0, 0.0])
    multi = tf.constant([[0.0, 1.0, 1.0], [0.0, 1.0, 1.0]])
    hits = step.top1_hits(multi, scores, multi_label=True)
    np.testing.assert_array_equal(hits.numpy(), [1.0, 0.0])
