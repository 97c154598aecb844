"""Multi-view results: per-view scores -> video scores -> metrics -> files.

NumPy and the standard library only (no TensorFlow): the metrics
(`top_k_accuracy`, `average_precision`, `mean_average_precision`), the
checks and counts of what evaluation saw of its records, the results of
`compute_results`, and the files an evaluation leaves.

Every test view of a video (K clips x crops, clip-major) is scored; the
video's score is the mean (the paper's softmax averaging) or the max of its
views. "Single-view" results use one view per video, the centre clip's
centre crop, the usual "single-clip" number. Single-label data gets
top-1/top-5 and a per-class table; multi-label data (Charades) gets mAP over
the classes that have positives.

What evaluation saw of its records: `check_labels` refuses test videos
without a label (records prepared without labels give -1) by name, before a
metric trips over them; `add_to_metrics` puts the pipeline's counts (videos
expected, records skipped, records lost, damaged shards) beside the scores
in `metrics.json`.

The files (metrics.json, per_class.csv, predictions.csv) are each written
atomically (`fileio`), so a reader sees the old file or the new one.

Example:
    >>> result = compute_results(view_scores, labels)  # (N, V, C), (N,)
    >>> result.metrics["top1"], result.metrics["single_view_top1"]
    >>> write_metrics_json(result, "eval/metrics.json", {"model": "c2d"})
    >>> write_per_class_csv(result, "eval/per_class.csv")
    >>> write_predictions_csv(result, "eval/predictions.csv", top_k=5)
"""

import csv
import dataclasses
import io
import json

import numpy as np

from nonlocal_tf import fileio

# ---------------------------------------------------------------- metrics
# Video-level classification metrics (top-k accuracy, AP, mAP).


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


# ---------------------------------------------------------------- records
# What evaluation saw of its records: labels checked, losses counted.


def check_labels(labels, video_ids, num_classes, multi_label):
    """Refuses unlabelled (-1) or out-of-range labels, naming a video.

    Args:
        labels: `(N,)` class indices (multi-hot `(N, C)` labels pass).
        video_ids: `(N,)` id strings (`video_id_strings`), or None.
        num_classes: The model's class count.
        multi_label: Whether the labels are multi-hot.

    Raises:
        ValueError: the first bad video, by id (or index).
    """
    if multi_label or labels.ndim != 1 or not labels.size:
        return
    bad = np.flatnonzero((labels < 0) | (labels >= num_classes))
    if not bad.size:
        return
    first = bad[0]
    name = f"video {first}"
    if video_ids is not None:
        name = f"video {str(np.asarray(video_ids).reshape(-1)[first])!r}"
    if labels[first] < 0:
        raise ValueError(
            f"test {name} has no label (label -1; records prepared without "
            "labels cannot be scored: prepare the split with labels, or use "
            "predict.py)"
        )
    raise ValueError(
        f"test {name} has label {int(labels[first])}, outside [0, "
        f"{num_classes}) (the model has fewer classes than the records: "
        "check --num_classes and the label map)"
    )


def add_to_metrics(values, counts):
    """Adds what the pipeline counted to `result.metrics`.

    Keys: `num_videos_scored`; and when the data came from `build_dataset`
    (files were read): `num_videos_expected` (what the files should have
    given), `num_records_skipped` (failed to parse or decode),
    `num_records_lost` and `damaged_shards` (file, damage, byte offset,
    records read / expected / lost).

    Args:
        values: the metrics dict (`EvalResult.metrics`), changed in place.
        counts: `SkippedRecords.summary()`.
    """
    values["num_videos_scored"] = values["num_videos"]
    if not counts["files_read"]:
        return
    values["num_videos_expected"] = max(
        counts["records_expected"], values["num_videos"]
    )
    values["num_records_skipped"] = counts["records_skipped"]
    values["num_records_lost"] = counts["records_lost"]
    values["damaged_shards"] = counts["damaged_shards"]


# ---------------------------------------------------------------- results


def center_view_index(num_views, num_clips=None, num_crops=None):
    """Index of the centre clip's centre crop (views ordered clip-major).

    Example:
        >>> center_view_index(30, num_clips=10, num_crops=3)
        16
    """
    if num_clips and num_crops:
        if num_clips * num_crops != num_views:
            raise ValueError(
                f"{num_clips} clips x {num_crops} crops != {num_views} views"
            )
        return (num_clips // 2) * num_crops + num_crops // 2
    return num_views // 2


def activate(scores, activation):
    """`scores` after None (unchanged), `"softmax"` or `"sigmoid"`.

    Example:
        >>> activate(np.array([[0.0, 0.0]]), "softmax")
        array([[0.5, 0.5]])
    """
    if activation is None:
        return scores
    if activation == "softmax":
        shifted = scores - scores.max(axis=-1, keepdims=True)
        exp = np.exp(shifted)
        return exp / exp.sum(axis=-1, keepdims=True)
    if activation == "sigmoid":
        return 1.0 / (1.0 + np.exp(-scores))
    raise ValueError(
        f"activation must be None, 'softmax' or 'sigmoid'; got {activation!r}"
    )


def aggregate_views(view_scores, ensemble="mean"):
    """Per-video scores from `(N, V, C)` per-view scores (`mean` or `max`).

    Example:
        >>> aggregate_views(np.array([[[0.2, 0.8], [0.6, 0.4]]]))
        array([[0.4, 0.6]])
    """
    view_scores = np.asarray(view_scores)
    if ensemble == "mean":
        return view_scores.mean(axis=1)
    if ensemble == "max":
        return view_scores.max(axis=1)
    raise ValueError(f"ensemble must be 'mean' or 'max'; got {ensemble!r}")


def video_id_strings(video_ids):
    """`(N,)` video ids with bytes (as records store them) decoded.

    Example:
        >>> video_id_strings([b"abc", b"d"])
        array(['abc', 'd'], dtype='<U3')
    """
    ids = np.asarray(video_ids).reshape(-1)
    if ids.dtype.kind in "SO":
        ids = np.array(
            [i.decode("utf-8") if isinstance(i, bytes) else str(i) for i in ids]
        )
    return ids


@dataclasses.dataclass
class EvalResult:
    """Outputs of `evaluate` and `compute_results`.

    Attributes:
        metrics: Video-level and single-view metrics (see `compute_results`).
        per_class: One dict per class (index, name, counts, accuracy or AP).
        video_ids: `(N,)` ids (strings; indices when the data has none).
        labels: `(N,)` or `(N, C)` labels.
        video_scores: `(N, C)` view-aggregated scores.
        single_view_scores: `(N, C)` scores of the centre view only.
    """

    metrics: dict
    per_class: list
    video_ids: np.ndarray
    labels: np.ndarray
    video_scores: np.ndarray
    single_view_scores: np.ndarray


def _multi_label_results(video_scores, single, labels, names):
    """`(metrics, per_class)` of multi-hot labels: mAP and per-class AP."""
    mean_ap, class_ap = mean_average_precision(video_scores, labels)
    single_map, single_ap = mean_average_precision(single, labels)
    positives = (labels > 0).sum(axis=0)
    values = {
        "mAP": mean_ap,
        "single_view_mAP": single_map,
        "num_classes_with_positives": int((positives > 0).sum()),
    }
    per_class = [
        {
            "class_index": c,
            "class_name": name,
            "num_positives": int(positives[c]),
            "ap": float(class_ap[c]),
            "single_view_ap": float(single_ap[c]),
        }
        for c, name in enumerate(names)
    ]
    return values, per_class


def _single_label_results(video_scores, single, labels, names):
    """`(metrics, per_class)` of one label per video: top-1 and top-5."""
    num_classes = len(names)
    k5 = min(5, num_classes)
    top1, counts = per_class_top_k(video_scores, labels, 1, num_classes)
    top5, _ = per_class_top_k(video_scores, labels, k5, num_classes)
    single1, _ = per_class_top_k(single, labels, 1, num_classes)
    values = {
        "top1": top_k_accuracy(video_scores, labels, 1),
        "top5": top_k_accuracy(video_scores, labels, k5),
        "mean_class_top1": float(top1[counts > 0].mean()),
        "single_view_top1": top_k_accuracy(single, labels, 1),
        "single_view_top5": top_k_accuracy(single, labels, k5),
    }
    per_class = [
        {
            "class_index": c,
            "class_name": name,
            "num_videos": int(counts[c]),
            "top1": float(top1[c]),
            "top5": float(top5[c]),
            "single_view_top1": float(single1[c]),
        }
        for c, name in enumerate(names)
    ]
    return values, per_class


def _checked_class_names(class_names, num_classes):
    if class_names is None:
        return [""] * num_classes
    if len(class_names) != num_classes:
        raise ValueError(
            f"{len(class_names)} class names for {num_classes} classes"
        )
    return list(class_names)


def compute_results(
    view_scores,
    labels,
    *,
    multi_label=False,
    ensemble="mean",
    single_view_index=None,
    video_ids=None,
    class_names=None,
):
    """Metrics from per-view scores `(N, V, C)` (already activated).

    Single-label metrics: `top1`, `top5`, `mean_class_top1`,
    `single_view_top1`, `single_view_top5`; multi-label: `mAP`,
    `single_view_mAP`, `num_classes_with_positives`. Both: `num_videos`,
    `num_views`.

    Args:
        view_scores: `(N, V, C)` scores of every view of every video.
        labels: `(N,)` class indices, or `(N, C)` multi-hot labels.
        multi_label: Multi-hot labels: mAP instead of top-k.
        ensemble: `"mean"` or `"max"` over the views.
        single_view_index: The view of the single-view metrics; default the
            middle one (`center_view_index`).
        video_ids: `(N,)` ids (strings or bytes), or None.
        class_names: Optional names for the per-class table.

    Returns:
        An `EvalResult`.

    Raises:
        ValueError: a single-label video has no label (-1) or a label
            outside [0, classes) (the first one is named).

    Example:
        >>> result = compute_results(view_scores, labels)
        >>> result.metrics["top1"]
    """
    view_scores = np.asarray(view_scores, dtype=np.float64)
    if view_scores.ndim != 3:
        raise ValueError(
            f"view_scores must be (videos, views, classes); got "
            f"{view_scores.shape}"
        )
    num_videos, num_views, num_classes = view_scores.shape
    labels = np.asarray(labels)
    names = _checked_class_names(class_names, num_classes)
    if video_ids is not None:
        video_ids = video_id_strings(video_ids)
    check_labels(labels, video_ids, num_classes, multi_label)
    if video_ids is None:
        video_ids = np.arange(num_videos).astype(str)
    if single_view_index is None:
        single_view_index = center_view_index(num_views)
    video_scores = aggregate_views(view_scores, ensemble)
    single = view_scores[:, single_view_index]
    results_fn = _multi_label_results if multi_label else _single_label_results
    values, per_class = results_fn(video_scores, single, labels, names)
    return EvalResult(
        metrics={"num_videos": num_videos, "num_views": num_views, **values},
        per_class=per_class,
        video_ids=video_ids,
        labels=labels,
        video_scores=video_scores,
        single_view_scores=single,
    )


# ---------------------------------------------------------------- files
# metrics.json, per_class.csv, predictions.csv.


def per_class_csv(result):
    """The per-class table of an `EvalResult` as CSV text.

    Example:
        >>> print(per_class_csv(result))  # doctest: +SKIP
        class_index,class_name,num_videos,top1,top5,single_view_top1
        0,abseiling,50,0.72,0.9,0.68
    """
    if not result.per_class:
        return ""
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=list(result.per_class[0]), lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(result.per_class)
    return buffer.getvalue()


def write_per_class_csv(result, path):
    """Writes the per-class table to `path` atomically.

    Example:
        >>> write_per_class_csv(result, "eval/per_class.csv")  # doctest: +SKIP
    """
    fileio.atomic_write_text(path, per_class_csv(result))


def write_metrics_json(result, path, extra=None):
    """Writes `result.metrics` (plus `extra`) as JSON to `path` atomically.

    Example:
        >>> write_metrics_json(result, "eval/metrics.json",
        ...                    {"model": "c2d"})  # doctest: +SKIP
    """
    values = dict(result.metrics)
    if extra:
        values.update(extra)
    fileio.atomic_write_text(
        path, json.dumps(values, indent=2, sort_keys=True, default=float)
    )


def write_predictions_csv(result, path, top_k=5):
    """Per-video top-k predictions (`video_id, label, top_k indices/scores`).

    Multi-hot labels are written as the space-separated positive classes.

    Example:
        >>> write_predictions_csv(result, "eval/predictions.csv")
        ... # doctest: +SKIP
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["video_id", "label", "top_indices", "top_scores"])
    order = np.argsort(-result.video_scores, axis=1, kind="stable")[:, :top_k]
    for i, video_id in enumerate(result.video_ids):
        label = result.labels[i]
        if np.ndim(label):
            label = " ".join(str(c) for c in np.flatnonzero(label))
        scores = result.video_scores[i, order[i]]
        writer.writerow(
            [
                str(video_id),
                label,
                " ".join(str(c) for c in order[i]),
                " ".join(f"{s:.6f}" for s in scores),
            ]
        )
    fileio.atomic_write_text(path, buffer.getvalue())
