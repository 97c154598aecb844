"""Strict loading of weights into zoo models: the one way to load weights.

`load_weights(model, source)` takes every source a user has: Caffe2 /
PySlowFast checkpoints, Keras weights, a training run's directory, a zoo
weight tag. `model_from_run` rebuilds the model a run trained.
"""

import dataclasses
import json
import os

import h5py
import keras
import numpy as np
from absl import logging

from nonlocal_tf import fileio
from nonlocal_tf import run_files
from nonlocal_tf.models import VideoClassifier

from . import caffe2_names
from . import checkpoints
from . import downloads
from .entries import REGISTRY

HEAD_BLOBS = ("pred_w", "pred_b")


@dataclasses.dataclass
class LoadReport:
    """What a checkpoint load did, tensor by tensor.

    Attributes:
        source: the checkpoint path.
        format: the detected format.
        loaded: Caffe2 names assigned to model weights.
        ignored: entries dropped on purpose (momenta, `lr`, `model_iter`,
            `num_batches_tracked`).
        skipped: `(name, reason)` for checkpoint tensors left out on request
            (a head with another class count, or no head in the model).
        missing: model weights the checkpoint does not have.
        unexpected: checkpoint tensors the model has no weight for.
        mismatched: tensors whose shapes differ.
    """

    source: str
    format: str
    loaded: list = dataclasses.field(default_factory=list)
    ignored: list = dataclasses.field(default_factory=list)
    skipped: list = dataclasses.field(default_factory=list)
    missing: list = dataclasses.field(default_factory=list)
    unexpected: list = dataclasses.field(default_factory=list)
    mismatched: list = dataclasses.field(default_factory=list)

    @property
    def ok(self):
        return not (self.missing or self.unexpected or self.mismatched)

    def summary(self):
        """A multi-line, human-readable account of the load."""
        lines = [
            f"{self.source} ({self.format}): {len(self.loaded)} tensors "
            f"loaded, {len(self.ignored)} optimizer/bookkeeping entries "
            f"ignored, {len(self.skipped)} skipped"
        ]
        for name, reason in self.skipped:
            lines.append(f"  skipped {name}: {reason}")
        for title, items in (
            ("missing from the checkpoint", self.missing),
            ("unexpected in the checkpoint", self.unexpected),
            ("shape mismatch", self.mismatched),
        ):
            if items:
                lines.append(f"  {len(items)} {title}:")
                lines += [f"    {item}" for item in items]
        return "\n".join(lines)

    def __str__(self):
        return self.summary()


class CheckpointMismatchError(ValueError):
    """The checkpoint does not match the model; nothing was assigned."""

    def __init__(self, report):
        self.report = report
        problems = [
            f"{len(items)} {title} (first: {items[0]})"
            for title, items in (
                ("shape mismatch(es)", report.mismatched),
                ("missing from the checkpoint", report.missing),
                ("unexpected in the checkpoint", report.unexpected),
            )
            if items
        ]
        super().__init__(
            f"checkpoint {report.source} does not match the model, "
            f"{'; '.join(problems)} (no weight was changed; check the model "
            "name and width_per_group)\n" + report.summary()
        )


def _head_shape(blob):
    """pred_w may be saved as a 1x1x1 conv (K, C, 1, 1, 1): drop those 1s."""
    while blob.ndim > 2 and blob.shape[-1] == 1:
        blob = blob.reshape(blob.shape[:-1])
    return blob


def match_checkpoint(model, checkpoint, *, skip_mismatched_head=False):
    """Pairs checkpoint tensors with model weights without assigning them.

    Returns:
        `(report, assignments)` where assignments is a list of
        `(variable, keras_layout_array)`.
    """
    targets, unmapped = caffe2_names.model_targets(model)
    report = LoadReport(
        source=checkpoint.path,
        format=checkpoint.format,
        ignored=list(checkpoint.ignored),
    )
    label = checkpoint.label
    tensors = dict(checkpoint.tensors)
    if "pred_w" in tensors:
        tensors["pred_w"] = _head_shape(tensors["pred_w"])

    skipped = set()
    head_in_model = all(name in targets for name in HEAD_BLOBS)
    head_classes = tensors["pred_w"].shape[0] if "pred_w" in tensors else None
    for name in HEAD_BLOBS:
        if name not in tensors:
            continue
        if not head_in_model and name not in targets:
            report.skipped.append(
                (
                    label(name),
                    "the model has no classifier head (include_top=False)",
                )
            )
            skipped.add(name)
            tensors.pop(name)
        elif (
            skip_mismatched_head
            and name in targets
            and tuple(tensors[name].shape) != targets[name].caffe2_shape
        ):
            model_classes = targets["pred_w"].caffe2_shape[0]
            report.skipped.append(
                (
                    label(name),
                    f"checkpoint head has {head_classes} classes, the model "
                    f"was built with num_classes={model_classes}; the head "
                    "keeps its initialisation",
                )
            )
            skipped.add(name)
            tensors.pop(name)

    assignments = []
    for name, target in targets.items():
        if name not in tensors:
            if name in skipped:
                continue
            report.missing.append(
                f"{name} {target.caffe2_shape} -> {target.variable.path}"
            )
            continue
        blob = tensors[name]
        if tuple(blob.shape) != target.caffe2_shape:
            report.mismatched.append(
                f"{label(name)}: checkpoint {tuple(blob.shape)}, model "
                f"expects {target.caffe2_shape} ({target.variable.path})"
            )
            continue
        if not np.issubdtype(blob.dtype, np.floating):
            report.mismatched.append(
                f"{label(name)}: dtype {blob.dtype} is not floating point"
            )
            continue
        assignments.append((target.variable, target.to_keras(blob)))
        report.loaded.append(name)
    for path in unmapped:
        report.missing.append(f"{path} (no Caffe2 name for this weight)")
    for name in tensors:
        if name not in targets:
            report.unexpected.append(
                f"{label(name)} {tuple(tensors[name].shape)}"
            )
    return report, assignments


def load_checkpoint(model, checkpoint, *, skip_mismatched_head=False):
    """Assigns a read `Checkpoint` to `model`, all or nothing.

    Raises:
        CheckpointMismatchError: any missing, unexpected or shape-mismatched
            tensor; the model is left untouched.
    """
    report, assignments = match_checkpoint(
        model, checkpoint, skip_mismatched_head=skip_mismatched_head
    )
    if not report.ok:
        raise CheckpointMismatchError(report)
    for variable, value in assignments:
        variable.assign(value.astype(variable.dtype))
    return report


def check_file_hash(path):
    """Checks a local file against the `file_hash` of the zoo source it names.

    A file whose name is a registered `WeightSource.file_name` with a sha256
    `file_hash` must have that hash; other files are not checked.

    Raises:
        ValueError: the hash differs (a damaged or different file).

    Example:
        >>> check_file_hash("/weights/I3D_NLN_8x8_R50.pkl")
    """
    name = os.path.basename(path)
    for entry in REGISTRY.entries():
        for source in entry.weights.values():
            if source.file_name != name or not source.file_hash:
                continue
            actual = fileio.sha256(path)
            if actual != source.file_hash.lower():
                raise ValueError(
                    f"{path}: sha256 {actual} differs from the {entry.name} "
                    f"weights' {source.file_hash} (a damaged or different "
                    f"file; fetch it again from {source.url})"
                )
            return True
    return False


def weights_path(name, weights="kinetics400"):
    """Local path of a named weight source, downloading it once.

    `downloads.fetch` caches it under `~/.keras/models/nonlocal_tf` (or
    `KERAS_HOME`), checking the sha256 where the zoo knows it.

    Example:
        >>> path = weights_path("I3D_NLN_8x8_R50")  # downloads once
        >>> model = get_model("I3D_NLN_8x8_R50", weights=path)
    """
    entry = REGISTRY.get(name)
    if weights not in entry.weights:
        available = sorted(entry.weights) or "none"
        raise ValueError(
            f"Model {entry.name!r} has no weight source {weights!r} "
            f"(available: {available})"
        )
    source = entry.weights[weights]
    return downloads.fetch(
        source.url, source.file_name, file_hash=source.file_hash
    )


def _resolve_source(model, source, entry):
    """(kind, path): a run directory, a file, or a zoo weight tag's file."""
    source = os.fspath(source)
    if os.path.isdir(source):
        return "run", source
    if os.path.isfile(source):
        return "file", source
    if entry is None and model.name in REGISTRY:
        entry = REGISTRY.get(model.name)
    if entry is not None and source in entry.weights:
        return "file", weights_path(entry.name, source)
    hint = ""
    if entry is not None:
        tags = sorted(entry.weights)
        hint = (
            f", and not a weight tag of {entry.name} ({', '.join(tags)})"
            if tags
            else f" ({entry.name} has no published weights)"
        )
    raise FileNotFoundError(
        f"weights {source!r}: no such file or run directory{hint}"
    )


def load_weights(model, source, *, entry=None, skip_mismatched_head=False):
    """Loads weights into a zoo model, strictly, from any supported source.

    Args:
        model: a model built by `nonlocal_tf.zoo.get_model` or
            `nonlocal_tf.models.VideoClassifier`.
        source: a Keras `.weights.h5`, a Caffe2 `.pkl` (`{"blobs": ...}` or
            flat), a PySlowFast `.pkl`/`.pyth`, an `.npz` of a PySlowFast
            state_dict (the format is detected from the content), a training
            run's directory (its `final.weights.h5`, else its latest
            checkpoint), or a weight tag of the model's zoo entry (e.g.
            "kinetics400", downloaded once). A file named like a zoo weight
            source with a `file_hash` is checked first.
        entry: the zoo entry for weight tags; default the model's name.
        skip_mismatched_head: leave `pred` at its initialisation when the
            checkpoint's class count differs from the model's (instead of
            failing).

    Returns:
        A `LoadReport` (also logged).

    Raises:
        CheckpointMismatchError: missing, unexpected or mismatched tensors
            (each named in the message); no weight is changed.
        FileNotFoundError: `source` is no file, directory or tag.

    Example:
        >>> model = get_model("i3d_nl5_r50_8x8")
        >>> print(load_weights(model, "i3d_nonlocal_8x8_IN_pretrain_400k.pkl"))
    """
    kind, path = _resolve_source(model, source, entry)
    if kind == "run":
        report = _load_run(model, path, skip_mismatched_head)
    else:
        check_file_hash(path)
        report = _load_file(model, path, skip_mismatched_head)
    for tensor, reason in report.skipped:
        logging.warning("%s: skipped %s: %s", model.name, tensor, reason)
    logging.info("%s: %s", model.name, report.summary())
    return report


def _load_run(model, run_dir, skip_mismatched_head=False):
    final = run_files.final_weights_path(run_dir)
    if os.path.isfile(final):
        report = _load_file(model, final, skip_mismatched_head)
        report.format = "run"
    else:
        # A run stopped before its final weights: the model part of its
        # latest TensorFlow checkpoint.
        from nonlocal_tf.training import checkpointing

        read = checkpointing.load_run_weights(model, run_dir)
        report = LoadReport(source=read, format="run checkpoint")
        report.loaded = [w.path for w in model.weights]
    return report


def h5_head_classes(path):
    """The class count of the `pred` kernel in a Keras `.weights.h5`, or None.

    `pred` is the model's one `Dense` layer (`layers/dense/vars/0`).
    """
    found = []

    def visit(name, item):
        if (
            isinstance(item, h5py.Dataset)
            and name.endswith("dense/vars/0")
            and len(item.shape) == 2
        ):
            found.append(int(item.shape[1]))

    # h5py's errors on a damaged file (OSError, RuntimeError, ...; found by
    # fuzzing) become the one error a damaged checkpoint gives.
    try:
        with h5py.File(path, "r") as f:
            f.visititems(visit)
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise checkpoints.CheckpointFormatError(
            f"damaged Keras weights file, {path} ({type(e).__name__}: "
            f"{first}; download it again)"
        ) from e
    return found[0] if len(found) == 1 else None


def with_head(model, num_classes, *, compile=True, class_names=None):
    """`model`'s backbone and preprocessor under a `num_classes` head.

    The backbone is shared (its weights are kept); only `pred` is new. The
    same model is returned when the count is already `num_classes`.

    Example:
        >>> three = with_head(model, 3)  # fine-tune to 3 classes
    """
    if num_classes is None or num_classes == model.num_classes:
        return model
    config = model.get_config()
    return VideoClassifier(
        backbone=model.backbone,
        num_classes=num_classes,
        preprocessor=model.preprocessor,
        clip_spec=model.clip_spec,
        include_top=config["include_top"],
        pooling=config["pooling"],
        classifier_activation=config["classifier_activation"],
        dropout_rate=config["dropout_rate"],
        class_names=class_names,
        name=model.name,
        compile=compile,
    )


def _keras_weights_target(model, path, skip_mismatched_head):
    """The model to load `path` into: a twin with the file's head if needed.

    The twin shares `model`'s backbone, so loading it fills `model`'s
    backbone and leaves its head at its initialisation.
    """
    if not (
        skip_mismatched_head
        and isinstance(model, VideoClassifier)
        and model.include_top
    ):
        return model, []
    classes = h5_head_classes(path)
    if classes is None or classes == model.num_classes:
        return model, []
    reason = (
        f"checkpoint head has {classes} classes, the model was built with "
        f"num_classes={model.num_classes}; the head keeps its initialisation"
    )
    return with_head(model, classes, compile=False), [("pred", reason)]


def _load_file(model, path, skip_mismatched_head):
    fmt = checkpoints.detect_format(path)
    if fmt == "keras_h5":
        target, skipped = _keras_weights_target(
            model, path, skip_mismatched_head
        )
        # Keras assigns layer by layer before it reports a mismatch: keep a
        # copy so that a failed load leaves the model as it was.
        before = [keras.ops.convert_to_numpy(w.value) for w in target.weights]
        try:
            target.load_weights(path)
        except Exception as e:
            for weight, value in zip(target.weights, before, strict=True):
                weight.assign(value)
            first = str(e).strip().splitlines()[0][:300]
            raise ValueError(
                f"Keras weights file {path} does not fit model "
                f"'{model.name}' (no weight was changed): {first}"
            ) from e
        report = LoadReport(source=path, format="keras", skipped=skipped)
        ids = {id(w) for w in model.weights}
        report.loaded = [w.path for w in target.weights if id(w) in ids]
        return report
    checkpoint = checkpoints.read_checkpoint(path)  # refuses .keras archives
    return load_checkpoint(
        model, checkpoint, skip_mismatched_head=skip_mismatched_head
    )


def run_model_config(run_dir):
    """The serialised model (`{"class_name", "config", ...}`) of a run.

    Raises:
        FileNotFoundError: the directory has no `model.json`.
    """
    path = run_files.model_config_path(run_dir)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{run_dir} has no {run_files.MODEL_CONFIG} (not a directory "
            "written by nonlocal_tf.training.train)"
        )
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def model_from_run(run_dir):
    """The (untrained) model a training run built, from its `model.json`.

    Raises:
        FileNotFoundError: the directory has no `model.json` (not a run of
            `nonlocal_tf.training.train`, or one from before model configs).

    Example:
        >>> model = model_from_run("runs/c2d_nl")
    """
    return keras.saving.deserialize_keras_object(
        run_model_config(run_dir), safe_mode=True
    )
