"""Multi-view results: per-view scores -> video scores -> metrics (NumPy).

Every test view of a video (K clips x crops, clip-major) is scored; the
video's score is the mean (the paper's softmax averaging) or the max of its
views. "Single-view" results use one view per video, the centre clip's
centre crop, the usual "single-clip" number. Single-label data gets
top-1/top-5 and a per-class table; multi-label data (Charades) gets mAP over
the classes that have positives.

Example:
    >>> result = compute_results(view_scores, labels)  # (N, V, C), (N,)
    >>> result.metrics["top1"], result.metrics["single_view_top1"]
"""

import dataclasses

import numpy as np

from nonlocal_tf.training import metrics
from nonlocal_tf.training import record_counts


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
    mean_ap, class_ap = metrics.mean_average_precision(video_scores, labels)
    single_map, single_ap = metrics.mean_average_precision(single, labels)
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
    top1, counts = metrics.per_class_top_k(video_scores, labels, 1, num_classes)
    top5, _ = metrics.per_class_top_k(video_scores, labels, k5, num_classes)
    single1, _ = metrics.per_class_top_k(single, labels, 1, num_classes)
    values = {
        "top1": metrics.top_k_accuracy(video_scores, labels, 1),
        "top5": metrics.top_k_accuracy(video_scores, labels, k5),
        "mean_class_top1": float(top1[counts > 0].mean()),
        "single_view_top1": metrics.top_k_accuracy(single, labels, 1),
        "single_view_top5": metrics.top_k_accuracy(single, labels, k5),
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
    record_counts.check_labels(labels, video_ids, num_classes, multi_label)
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
