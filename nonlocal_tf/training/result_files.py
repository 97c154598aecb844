"""The files an evaluation leaves: metrics.json, per_class.csv, predictions.csv.

Each is written atomically (`fileio`), so a reader sees the old file or the
new one.

Example:
    >>> result = evaluate(model, test_dataset)  # doctest: +SKIP
    >>> write_metrics_json(result, "eval/metrics.json", {"model": "c2d"})
    >>> write_per_class_csv(result, "eval/per_class.csv")
    >>> write_predictions_csv(result, "eval/predictions.csv", top_k=5)
"""

import csv
import io
import json

import numpy as np

from nonlocal_tf import fileio


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
