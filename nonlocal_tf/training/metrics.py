"""Video-level classification metrics in NumPy (top-k accuracy, AP, mAP)."""

import numpy as np


def top_k_hits(scores, labels, k):
    """Whether each label is among the `k` best-scoring classes.

    A label counts as hit when fewer than `k` classes score strictly higher
    than it (ties at the boundary count as hits, as `tf.math.in_top_k`).

    Args:
        scores: `(N, C)` scores.
        labels: `(N,)` integer labels.
        k: Number of top classes.

    Returns:
        A boolean `(N,)` array.

    Example:
        >>> top_k_hits(np.array([[0.1, 0.7, 0.2]]), np.array([2]), 2)
        array([ True])
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    if scores.ndim != 2 or labels.shape != scores.shape[:1]:
        raise ValueError(
            f"Expected scores (N, C) and labels (N,); got {scores.shape} and "
            f"{labels.shape}"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= scores.shape[1]):
        raise ValueError(
            f"Labels must be in [0, {scores.shape[1]}); got "
            f"[{labels.min()}, {labels.max()}]"
        )
    label_scores = scores[np.arange(len(labels)), labels]
    num_higher = (scores > label_scores[:, None]).sum(axis=1)
    return num_higher < k


def top_k_accuracy(scores, labels, k):
    """Fraction of examples whose label is in the top `k` (see top_k_hits)."""
    hits = top_k_hits(scores, labels, k)
    return float(hits.mean()) if hits.size else float("nan")


def average_precision(scores, positives):
    """Non-interpolated average precision of one class.

    Precision and recall are taken at every distinct score threshold (tied
    scores enter together), and AP = sum over thresholds of
    `(recall_i - recall_{i-1}) * precision_i`, as
    `sklearn.metrics.average_precision_score` (which PySlowFast uses for
    Charades). Without ties this is the mean, over positives, of the
    precision at that positive's rank.

    Args:
        scores: `(N,)` scores.
        positives: `(N,)` booleans (or 0/1).

    Returns:
        The AP, or NaN when there is no positive.

    Example:
        >>> average_precision([0.9, 0.8, 0.3], [1, 0, 1])  # (1 + 2/3) / 2
    """
    scores = np.asarray(scores, dtype=np.float64)
    positives = np.asarray(positives) > 0
    num_positives = int(positives.sum())
    if num_positives == 0:
        return float("nan")
    order = np.argsort(-scores, kind="stable")
    sorted_scores = scores[order]
    true_positives = np.cumsum(positives[order])
    # Keep the last index of each run of equal scores (one threshold each).
    last = np.r_[np.flatnonzero(np.diff(sorted_scores)), len(scores) - 1]
    true_positives = true_positives[last]
    precision = true_positives / (last + 1)
    recall = true_positives / num_positives
    recall_steps = np.diff(np.r_[0.0, recall])
    return float(np.sum(recall_steps * precision))


def mean_average_precision(scores, labels):
    """Charades-style mAP: per-class AP over videos, mean over classes that
    have at least one positive.

    Args:
        scores: `(N, C)` scores.
        labels: `(N, C)` multi-hot labels.

    Returns:
        `(mAP, per_class_ap)`; `per_class_ap[c]` is NaN for classes without
        positives (they are left out of the mean).

    Example:
        >>> mean_ap, per_class = mean_average_precision(scores, labels)
    """
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(labels)
    if scores.shape != labels.shape or scores.ndim != 2:
        raise ValueError(
            "Expected scores and multi-hot labels of the same (N, C) shape; "
            f"got {scores.shape} and {labels.shape}"
        )
    per_class = np.array(
        [
            average_precision(scores[:, c], labels[:, c])
            for c in range(scores.shape[1])
        ]
    )
    valid = ~np.isnan(per_class)
    mean_ap = float(per_class[valid].mean()) if valid.any() else float("nan")
    return mean_ap, per_class


def per_class_top_k(scores, labels, k, num_classes):
    """Top-k accuracy of each class's videos; NaN for classes with none.

    Returns:
        `(accuracy (C,), num_videos (C,))`.
    """
    hits = top_k_hits(scores, labels, k)
    labels = np.asarray(labels, dtype=np.int64)
    counts = np.bincount(labels, minlength=num_classes)
    hit_counts = np.bincount(labels, weights=hits, minlength=num_classes)
    with np.errstate(invalid="ignore", divide="ignore"):
        accuracy = np.where(
            counts > 0, hit_counts / np.maximum(counts, 1), np.nan
        )
    return accuracy, counts
