"""Top-k, AP and mAP against hand-computed values and plain NumPy."""

import numpy as np
import pytest

from nonlocal_tf.training import results


def _reference_ap(scores, positives):
    """Charades-style AP: mean precision at the rank of each positive."""
    order = np.argsort(-scores)
    hits = positives[order] > 0
    precisions = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return precisions[hits].mean()


def _reference_top_k(scores, labels, k):
    top = np.argsort(-scores, axis=1)[:, :k]
    return np.mean(
        [label in row for row, label in zip(top, labels, strict=True)]
    )


def test_average_precision_hand_example():
    # Positives at ranks 1, 3, 5: precisions 1, 2/3, 3/5.
    scores = [0.9, 0.8, 0.7, 0.6, 0.5]
    positives = [1, 0, 1, 0, 1]
    expected = (1 + 2 / 3 + 3 / 5) / 3
    assert results.average_precision(scores, positives) == pytest.approx(
        expected
    )


def test_average_precision_ties_enter_together():
    # The positive ties with a negative at 0.5: at that threshold precision
    # is 1/3 and recall 1, so AP = 1/3 (sklearn's value), whatever the order.
    assert results.average_precision(
        [0.9, 0.5, 0.5], [0, 1, 0]
    ) == pytest.approx(1 / 3)
    assert results.average_precision(
        [0.9, 0.5, 0.5], [0, 0, 1]
    ) == pytest.approx(1 / 3)


def test_average_precision_without_positives_is_nan():
    assert np.isnan(results.average_precision([0.2, 0.1], [0, 0]))


def test_average_precision_matches_reference_on_random_data():
    rng = np.random.default_rng(0)
    for _ in range(20):
        scores = rng.random(40)
        positives = rng.random(40) < 0.3
        if not positives.any():
            continue
        assert results.average_precision(scores, positives) == pytest.approx(
            _reference_ap(scores, positives)
        )


def test_mean_average_precision_skips_classes_without_positives():
    rng = np.random.default_rng(1)
    scores = rng.random((30, 6))
    labels = (rng.random((30, 6)) < 0.25).astype(int)
    labels[:, 4] = 0
    labels[0, 0] = 1
    mean_ap, per_class = results.mean_average_precision(scores, labels)
    expected = [
        _reference_ap(scores[:, c], labels[:, c]) for c in (0, 1, 2, 3, 5)
    ]
    assert np.isnan(per_class[4])
    np.testing.assert_allclose(per_class[[0, 1, 2, 3, 5]], expected)
    assert mean_ap == pytest.approx(np.mean(expected))


def test_top_k_accuracy_matches_reference():
    rng = np.random.default_rng(2)
    scores = rng.random((50, 10))
    labels = rng.integers(0, 10, 50)
    for k in (1, 5):
        assert results.top_k_accuracy(scores, labels, k) == pytest.approx(
            _reference_top_k(scores, labels, k)
        )


def test_top_k_hand_example():
    scores = np.array(
        [[0.1, 0.6, 0.3], [0.5, 0.2, 0.3], [0.4, 0.4, 0.2], [0.2, 0.3, 0.5]]
    )
    labels = np.array([1, 2, 1, 0])
    np.testing.assert_array_equal(
        results.top_k_hits(scores, labels, 1), [True, False, True, False]
    )
    np.testing.assert_array_equal(
        results.top_k_hits(scores, labels, 2), [True, True, True, False]
    )


def test_per_class_top_k():
    scores = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.7, 0.3]])
    labels = np.array([0, 1, 1, 0])
    accuracy, counts = results.per_class_top_k(scores, labels, 1, 3)
    np.testing.assert_array_equal(counts, [2, 2, 0])
    np.testing.assert_allclose(accuracy[:2], [1.0, 0.5])
    assert np.isnan(accuracy[2])


def test_bad_labels_are_rejected():
    with pytest.raises(ValueError, match=r"Labels must be in \[0, 3\)"):
        results.top_k_hits(np.zeros((2, 3)), np.array([0, 3]), 1)
    with pytest.raises(ValueError, match="same"):
        results.mean_average_precision(np.zeros((2, 3)), np.zeros((2, 4)))
