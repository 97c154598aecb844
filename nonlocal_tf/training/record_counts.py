"""What evaluation saw of its records: labels checked, losses counted.

`check_labels` refuses test videos without a label (records prepared
without labels give -1) by name, before a metric trips over them;
`add_to_metrics` puts the pipeline's counts (videos expected, records
skipped, records lost, damaged shards) beside the scores in `metrics.json`.

Example:
    >>> values = {"num_videos": 98}
    >>> add_to_metrics(values, counter.summary())  # doctest: +SKIP
    >>> values["num_videos_expected"]  # doctest: +SKIP
    100
"""

import numpy as np


def check_labels(labels, video_ids, num_classes, multi_label):
    """Refuses unlabelled (-1) or out-of-range labels, naming a video.

    Args:
        labels: `(N,)` class indices (multi-hot `(N, C)` labels pass).
        video_ids: `(N,)` id strings (`results.video_id_strings`), or None.
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
