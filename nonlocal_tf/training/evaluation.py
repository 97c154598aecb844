"""Multi-view video evaluation: scores averaged over K clips x crops per video.

The test pipeline (`nonlocal_tf.data.build_dataset(mode="test")`) yields all
views of a video together; `unpack_test_batch` is the one place that knows its
element layout. `evaluate` runs a model over every view of every video and
hands the per-view scores to `results.compute_results` (top-1/top-5 or
Charades-style mAP, video-level and single-view), whose `write_*` functions
write them.

The results also say how many videos were scored and how many the records
should have given (`num_videos_expected`): records skipped because they
failed to parse or decode, and records lost in damaged shards (each named in
`damaged_shards`), as the pipeline's `SkippedRecords` counted them.
"""

import numpy as np
import tensorflow as tf
from tqdm import tqdm

from nonlocal_tf.data import integrity
from nonlocal_tf.training import results

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


def _predict_fn(model, jit_compile=False):
    """A clips -> scores callable: a Keras model traced once, else `model`."""
    if hasattr(model, "predict_on_batch"):

        @tf.function(reduce_retracing=True, jit_compile=jit_compile or None)
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
            scores `(N, K)` (e.g. a
            `nonlocal_tf.export.SavedModelClassifier`).
        views: `(V, T, H, W, C)` normalised views, e.g. from
            `nonlocal_tf.data.read_video_views`.
        activation: None (the model outputs probabilities), `"softmax"` or
            `"sigmoid"`.
        ensemble: `"mean"` or `"max"` over the views.
        view_batch_size: Views per model call; default all at once.

    Returns:
        `(video_scores (K,), view_scores (V, K))`, float64 NumPy arrays.

    Example:
        >>> views = data.read_video_views("clip.mp4", clip_spec)
        >>> scores, _ = score_video(model, views)
        >>> np.argsort(-scores)[:5]
    """
    views = tf.convert_to_tensor(views)
    if views.shape.rank != 5:
        raise ValueError(
            f"views must be (views, T, H, W, C); got shape {views.shape}"
        )
    scores = predict_views(_predict_fn(model), views[None], view_batch_size)
    view_scores = results.activate(scores[0].astype(np.float64), activation)
    return results.aggregate_views(view_scores[None], ensemble)[0], view_scores


def _score_dataset(
    predict_fn,
    dataset,
    *,
    multi_label,
    activation,
    view_batch_size,
    max_videos,
    progress,
):
    """`(view_scores, labels, video_ids)` of the first `max_videos` videos.

    `view_scores` are activated, `video_ids` is None when the elements have
    none; None when the dataset gave no video. Labels are checked batch by
    batch, so an unlabelled video stops the run before the rest is scored.
    """
    all_scores, all_labels, all_ids = [], [], []
    count = 0
    with tqdm(desc="evaluating", unit="video", disable=not progress) as bar:
        for element in dataset:
            views, labels, video_ids = unpack_test_batch(element)
            scores = predict_views(predict_fn, views, view_batch_size)
            labels = np.asarray(labels)
            if video_ids is not None:
                video_ids = results.video_id_strings(video_ids)
                all_ids.append(video_ids)
            results.check_labels(
                labels, video_ids, scores.shape[-1], multi_label
            )
            scores = results.activate(scores.astype(np.float64), activation)
            all_scores.append(scores)
            all_labels.append(labels)
            count += scores.shape[0]
            bar.update(scores.shape[0])
            if max_videos is not None and count >= max_videos:
                break
    if not all_scores:
        return None
    video_ids = np.concatenate(all_ids)[:max_videos] if all_ids else None
    return (
        np.concatenate(all_scores)[:max_videos],
        np.concatenate(all_labels)[:max_videos],
        video_ids,
    )


def _no_videos_error(counts):
    return ValueError(
        "the test dataset produced no videos, "
        f"{counts['files_read']} file(s) read ("
        f"{counts['records_skipped']} records skipped, "
        f"{counts['records_lost']} lost in "
        f"{len(counts['damaged_shards'])} damaged shard(s); the log "
        "names them)"
    )


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
    jit_compile=False,
):
    """Multi-view evaluation of `model` on a test dataset.

    Every view of a video goes through the model; the per-view scores
    (after `activation`) are averaged (`ensemble="mean"`, the paper's softmax
    averaging) or max-pooled per video (`results.compute_results`).

    Args:
        model: A Keras model, or any callable mapping clips `(N, T, H, W, C)`
            to scores `(N, K)` (e.g. a
            `nonlocal_tf.export.SavedModelClassifier`).
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
            metrics (`results.add_to_metrics`).
        jit_compile: Compile a Keras model's forward pass with XLA (one
            compilation per view shape).

    Returns:
        An `EvalResult`.

    Raises:
        ValueError: the dataset produced no videos, or a video has no label.

    Example:
        >>> result = evaluate(model, test_dataset, num_clips=10, num_crops=3)
        >>> result.metrics["top1"], result.metrics["single_view_top1"]
    """
    counter = skipped_records or integrity.SKIPPED_RECORDS
    mark = counter.mark()
    scored = _score_dataset(
        _predict_fn(model, jit_compile),
        dataset,
        multi_label=multi_label,
        activation=activation,
        view_batch_size=view_batch_size,
        max_videos=max_videos,
        progress=progress,
    )
    if scored is None:
        raise _no_videos_error(counter.summary(mark, TEST_PIPELINES))
    view_scores, labels, video_ids = scored
    if single_view_index is None:
        single_view_index = results.center_view_index(
            view_scores.shape[1], num_clips, num_crops
        )
    result = results.compute_results(
        view_scores,
        labels,
        multi_label=multi_label,
        ensemble=ensemble,
        single_view_index=single_view_index,
        video_ids=video_ids,
        class_names=class_names,
    )
    if max_videos is None:
        results.add_to_metrics(
            result.metrics, counter.summary(mark, TEST_PIPELINES)
        )
    return result
