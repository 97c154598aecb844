"""Multi-view video evaluation: scores averaged over K clips x crops per video.

The test pipeline (`nonlocal_tf.data.build_dataset(mode="test")`) yields all
views of a video together; `unpack_test_batch` is the one place that knows its
element layout. Video-level results: top-1/top-5 (single-label) or
Charades-style mAP (multi-label). "Single-view" results use one view per
video (the centre clip's centre crop), the usual "single-clip" number.

The results also say how many videos were scored and how many the records
should have given (`num_videos_expected`): records skipped because they
failed to parse or decode, and records lost in damaged shards (each named in
`damaged_shards`), as the pipeline's `SkippedRecords` counted them.
"""

import csv
import dataclasses
import io
import json

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.data import skipped
from nonlocal_tf.training import io_utils
from nonlocal_tf.training import metrics
from nonlocal_tf.training import record_counts

_VIEW_KEYS = ("views", "clips", "video", "image")
_LABEL_KEYS = ("labels", "label")
_ID_KEYS = ("video_id", "video/id", "id")
# build_dataset names its test pipelines so: their counts are evaluation's.
TEST_PIPELINES = "mode='test'"


def _first_key(element, keys, what):
    for key in keys:
        if key in element:
            return element[key]
    if what == "video ids":
        return None
    raise ValueError(
        f"Test element has no {what} (looked for {keys}); keys are "
        f"{sorted(element)}"
    )


def unpack_test_batch(element):
    """Splits a test-pipeline element into `(views, labels, video_ids)`.

    Accepts `(views, labels)`, `(views, labels, video_ids)` or a dict with
    `views`/`clips`, `label(s)` and `video_id`. `views` is
    `(B, V, T, H, W, C)` (or `(B, T, H, W, C)`: one view).

    Returns:
        `views` (B, V, T, H, W, C) tensor, `labels` (B,) or (B, C), and
        `video_ids` (B,) (None when the element has none).

    Example:
        >>> views, labels, ids = unpack_test_batch(next(iter(test_dataset)))
    """
    if isinstance(element, dict):
        views = _first_key(element, _VIEW_KEYS, "views")
        labels = _first_key(element, _LABEL_KEYS, "labels")
        video_ids = _first_key(element, _ID_KEYS, "video ids")
    elif isinstance(element, (tuple, list)) and len(element) in (2, 3):
        views, labels = element[0], element[1]
        video_ids = element[2] if len(element) == 3 else None
    else:
        raise ValueError(
            "Test elements must be (views, labels[, video_ids]) or a dict; "
            f"got {type(element).__name__}"
        )
    if views.shape.rank == 5:
        views = views[:, None]
    if views.shape.rank != 6:
        raise ValueError(
            f"Test views must be (videos, views, T, H, W, C); got {views.shape}"
        )
    return views, labels, video_ids


def center_view_index(num_views, num_clips=None, num_crops=None):
    """Index of the centre clip's centre crop (views ordered clip-major)."""
    if num_clips and num_crops:
        if num_clips * num_crops != num_views:
            raise ValueError(
                f"{num_clips} clips x {num_crops} crops != {num_views} views"
            )
        return (num_clips // 2) * num_crops + num_crops // 2
    return num_views // 2


def _activate(scores, activation):
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
    """Per-video scores from `(N, V, C)` per-view scores (`mean` or `max`)."""
    view_scores = np.asarray(view_scores)
    if ensemble == "mean":
        return view_scores.mean(axis=1)
    if ensemble == "max":
        return view_scores.max(axis=1)
    raise ValueError(f"ensemble must be 'mean' or 'max'; got {ensemble!r}")


@dataclasses.dataclass
class EvalResult:
    """Outputs of `evaluate`.

    Attributes:
        metrics: Video-level and single-view metrics (see `evaluate`).
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
    if single_view_index is None:
        single_view_index = center_view_index(num_views)
    video_scores = aggregate_views(view_scores, ensemble)
    single = view_scores[:, single_view_index]
    if class_names is not None and len(class_names) != num_classes:
        raise ValueError(
            f"{len(class_names)} class names for {num_classes} classes"
        )
    names = list(class_names) if class_names is not None else [""] * num_classes
    record_counts.check_labels(labels, video_ids, num_classes, multi_label)
    if video_ids is None:
        video_ids = np.arange(num_videos).astype(str)
    result_metrics = {"num_videos": num_videos, "num_views": num_views}
    per_class = []
    if multi_label:
        mean_ap, class_ap = metrics.mean_average_precision(video_scores, labels)
        single_map, single_ap = metrics.mean_average_precision(single, labels)
        positives = (labels > 0).sum(axis=0)
        result_metrics.update(
            {
                "mAP": mean_ap,
                "single_view_mAP": single_map,
                "num_classes_with_positives": int((positives > 0).sum()),
            }
        )
        for c in range(num_classes):
            per_class.append(
                {
                    "class_index": c,
                    "class_name": names[c],
                    "num_positives": int(positives[c]),
                    "ap": float(class_ap[c]),
                    "single_view_ap": float(single_ap[c]),
                }
            )
    else:
        k5 = min(5, num_classes)
        top1, counts = metrics.per_class_top_k(
            video_scores, labels, 1, num_classes
        )
        top5, _ = metrics.per_class_top_k(video_scores, labels, k5, num_classes)
        single1, _ = metrics.per_class_top_k(single, labels, 1, num_classes)
        present = counts > 0
        result_metrics.update(
            {
                "top1": metrics.top_k_accuracy(video_scores, labels, 1),
                "top5": metrics.top_k_accuracy(video_scores, labels, k5),
                "mean_class_top1": float(top1[present].mean()),
                "single_view_top1": metrics.top_k_accuracy(single, labels, 1),
                "single_view_top5": metrics.top_k_accuracy(single, labels, k5),
            }
        )
        for c in range(num_classes):
            per_class.append(
                {
                    "class_index": c,
                    "class_name": names[c],
                    "num_videos": int(counts[c]),
                    "top1": float(top1[c]),
                    "top5": float(top5[c]),
                    "single_view_top1": float(single1[c]),
                }
            )
    return EvalResult(
        metrics=result_metrics,
        per_class=per_class,
        video_ids=np.asarray(video_ids),
        labels=labels,
        video_scores=video_scores,
        single_view_scores=single,
    )


def predict_views(predict_fn, views, view_batch_size=None):
    """Runs `predict_fn` on every view: `(B, V, T, H, W, C)` -> `(B, V, K)`."""
    views = tf.convert_to_tensor(views)
    shape = tf.shape(views)
    flat = tf.reshape(views, tf.concat([[-1], shape[2:]], axis=0))
    total = int(tf.shape(flat)[0])
    chunk = view_batch_size or total
    outputs = [
        np.asarray(predict_fn(flat[start : start + chunk]), dtype=np.float32)
        for start in range(0, total, chunk)
    ]
    scores = np.concatenate(outputs, axis=0)
    return scores.reshape(int(shape[0]), int(shape[1]), -1)


def _predict_fn(model):
    """A clips -> scores callable: a Keras model traced once, else `model`."""
    if hasattr(model, "predict_on_batch"):

        @tf.function(reduce_retracing=True)
        def predict_fn(clips):
            return model(clips, training=False)

        return predict_fn
    return model


def score_video(
    model, views, *, activation=None, ensemble="mean", view_batch_size=None
):
    """Video-level scores from all test views of one video.

    The views go through the model (`view_batch_size` at a time), are
    activated, and are averaged (`ensemble="mean"`, the paper's softmax
    averaging) or max-pooled, as `evaluate` does per video.

    Args:
        model: A Keras model or a callable clips `(N, T, H, W, C)` ->
            scores `(N, K)` (e.g. a `SavedModelClassifier`).
        views: `(V, T, H, W, C)` normalised views, e.g. from
            `nonlocal_tf.data.read_video_views`.
        activation: None (the model outputs probabilities), `"softmax"` or
            `"sigmoid"`.
        ensemble: `"mean"` or `"max"` over the views.
        view_batch_size: Views per model call; default all at once.

    Returns:
        `(video_scores (K,), view_scores (V, K))`, float64 NumPy arrays.

    Example:
        >>> views = data.read_video_views("clip.mp4", num_frames=8)
        >>> scores, _ = score_video(model, views)
        >>> np.argsort(-scores)[:5]
    """
    views = tf.convert_to_tensor(views)
    if views.shape.rank != 5:
        raise ValueError(
            f"views must be (views, T, H, W, C); got shape {views.shape}"
        )
    scores = predict_views(_predict_fn(model), views[None], view_batch_size)
    view_scores = _activate(scores[0].astype(np.float64), activation)
    return aggregate_views(view_scores[None], ensemble)[0], view_scores


class SavedModelClassifier:
    """An exported SavedModel's `serving_default` as a clips -> probabilities
    callable on *normalised* clips (the test pipeline's output).

    The signature takes RGB in [0, 255] and normalises inside (design.md,
    serving contract), so the clips are mapped back to [0, 255] first.
    Label names the signature returns (`top_k_labels` with their indices)
    are collected in `label_names` as calls go.

    Args:
        path: The SavedModel (version) directory.

    Example:
        >>> classifier = SavedModelClassifier("/models/nl/1")
        >>> probabilities = classifier(views)  # (V, classes)
    """

    def __init__(self, path):
        from nonlocal_tf.export.inspection import read_clip_spec

        self.path = str(path)
        loaded = tf.saved_model.load(self.path)
        self._loaded = loaded  # keeps the signature's variables alive
        self._serving = loaded.signatures["serving_default"]
        self.video_shape = self._serving.structured_input_signature[1][
            "video"
        ].shape
        # The export's own normalisation (the default for older exports).
        spec = read_clip_spec(self.path) or ClipSpec()
        self.clip_spec = read_clip_spec(self.path)
        self._mean = np.asarray(spec.mean, np.float32)
        self._std = np.asarray(spec.std, np.float32)
        self.label_names = {}

    def __call__(self, clips):
        clips = tf.convert_to_tensor(clips, tf.float32)
        if not self.video_shape.is_compatible_with(clips.shape):
            raise ValueError(
                f"SavedModel {self.path} takes video clips "
                f"{self.video_shape}; got clips of shape {clips.shape} (set "
                "the frames and crop size to what it was exported with)"
            )
        outputs = self._serving(video=clips * self._std + self._mean)
        if "top_k_labels" in outputs and "top_k_indices" in outputs:
            for index, label in zip(
                outputs["top_k_indices"].numpy().reshape(-1),
                outputs["top_k_labels"].numpy().reshape(-1),
                strict=True,
            ):
                self.label_names[int(index)] = _to_str(label)
        return outputs["probabilities"]


def evaluate(
    model,
    dataset,
    *,
    multi_label=False,
    activation=None,
    ensemble="mean",
    num_clips=None,
    num_crops=None,
    single_view_index=None,
    view_batch_size=None,
    class_names=None,
    max_videos=None,
    progress=True,
    skipped_records=None,
):
    """Multi-view evaluation of `model` on a test dataset.

    Every view of a video goes through the model; the per-view scores
    (after `activation`) are averaged (`ensemble="mean"`, the paper's softmax
    averaging) or max-pooled per video.

    Args:
        model: A Keras model, or any callable mapping clips `(N, T, H, W, C)`
            to scores `(N, K)`.
        dataset: Test `tf.data.Dataset` (see `unpack_test_batch`).
        multi_label: Multi-hot labels: mAP instead of top-k.
        activation: Applied to each view's outputs before aggregation:
            None (the model outputs probabilities), `"softmax"`, `"sigmoid"`.
        ensemble: `"mean"` or `"max"` over views.
        num_clips: Clips per video (locates the centre view).
        num_crops: Spatial crops per clip (locates the centre view).
        single_view_index: Explicit index of the single view (overrides).
        view_batch_size: Views per model call (memory); default all views
            of a batch at once.
        class_names: Optional names for the per-class table.
        max_videos: Stop after this many videos.
        progress: Show a tqdm progress bar.
        skipped_records: The `SkippedRecords` the dataset was built with
            (`build_dataset(skipped_records=...)`); default the process-wide
            counter. What it counts while the dataset is read goes into the
            metrics (`record_counts.add_to_metrics`).

    Returns:
        An `EvalResult`.

    Raises:
        ValueError: the dataset produced no videos, or a video has no label.

    Example:
        >>> result = evaluate(model, test_dataset, num_clips=10, num_crops=3)
        >>> result.metrics["top1"], result.metrics["single_view_top1"]
    """
    predict_fn = _predict_fn(model)
    counter = skipped_records or skipped.SKIPPED_RECORDS
    mark = counter.mark()
    all_scores, all_labels, all_ids = [], [], []
    count = 0
    with tqdm(desc="evaluating", unit="video", disable=not progress) as bar:
        for element in dataset:
            views, labels, video_ids = unpack_test_batch(element)
            scores = predict_views(predict_fn, views, view_batch_size)
            record_counts.check_labels(
                np.asarray(labels), video_ids, scores.shape[-1], multi_label
            )
            all_scores.append(_activate(scores.astype(np.float64), activation))
            all_labels.append(np.asarray(labels))
            if video_ids is not None:
                ids = np.asarray(video_ids)
                if ids.dtype.kind in "SO":
                    ids = np.array([_to_str(i) for i in ids.reshape(-1)])
                all_ids.append(ids.reshape(-1))
            count += scores.shape[0]
            bar.update(scores.shape[0])
            if max_videos is not None and count >= max_videos:
                break
    if not all_scores:
        counts = counter.summary(mark, TEST_PIPELINES)
        raise ValueError(
            "the test dataset produced no videos, "
            f"{counts['files_read']} file(s) read ("
            f"{counts['records_skipped']} records skipped, "
            f"{counts['records_lost']} lost in "
            f"{len(counts['damaged_shards'])} damaged shard(s); the log "
            "names them)"
        )
    view_scores = np.concatenate(all_scores)
    labels = np.concatenate(all_labels)
    video_ids = np.concatenate(all_ids) if all_ids else None
    if max_videos is not None:
        view_scores, labels = view_scores[:max_videos], labels[:max_videos]
        video_ids = None if video_ids is None else video_ids[:max_videos]
    if single_view_index is None:
        single_view_index = center_view_index(
            view_scores.shape[1], num_clips, num_crops
        )
    result = compute_results(
        view_scores,
        labels,
        multi_label=multi_label,
        ensemble=ensemble,
        single_view_index=single_view_index,
        video_ids=video_ids,
        class_names=class_names,
    )
    if max_videos is None:
        record_counts.add_to_metrics(
            result.metrics, counter.summary(mark, TEST_PIPELINES)
        )
    return result


def _to_str(value):
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def per_class_csv(result):
    """The per-class table as CSV text."""
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
    """Writes the per-class table to `path` atomically."""
    io_utils.atomic_write_text(path, per_class_csv(result))


def write_metrics_json(result, path, extra=None):
    """Writes `result.metrics` (plus `extra`) as JSON to `path` atomically."""
    values = dict(result.metrics)
    if extra:
        values.update(extra)
    io_utils.atomic_write_text(
        path, json.dumps(values, indent=2, sort_keys=True, default=float)
    )


def write_predictions_csv(result, path, top_k=5):
    """Per-video top-k predictions (`video_id, label, top_k indices/scores`)."""
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
                _to_str(video_id),
                label,
                " ".join(str(c) for c in order[i]),
                " ".join(f"{s:.6f}" for s in scores),
            ]
        )
    io_utils.atomic_write_text(path, buffer.getvalue())
