"""Initialising C2D/I3D models from 2D ImageNet ResNets (docs/reference.md §6).

Every 2D kernel `(kH, kW)` is copied to each of the `kT` temporal planes of
the 3D kernel and divided by `kT`, so a clip of one repeated frame gives the
2D network's features for that frame (exactly for C2D; away from the
temporal borders for I3D, whose zero temporal padding removes taps there).
BN statistics and affine parameters are copied, the classifier only when the
class counts agree, and non-local blocks keep their identity initialisation.
"""

import dataclasses

import keras
import numpy as np

from . import caffe2_names
from . import inflation_sources


@dataclasses.dataclass
class InflationReport:
    """What `inflate_2d_weights` did.

    Attributes:
        source: the 2D source (path or model name).
        inflated: `(blob, kT)` of 2D kernels spread over kT frames.
        copied: blobs copied as they are (BN, same-rank tensors).
        skipped: `(blob, reason)` left out on purpose (e.g. the head).
        left_at_init: model weights the 2D source has no counterpart for
            (non-local blocks, a head that was skipped).
        notes: conversions worth knowing (folded biases, epsilon, stride).
    """

    source: str
    inflated: list = dataclasses.field(default_factory=list)
    copied: list = dataclasses.field(default_factory=list)
    skipped: list = dataclasses.field(default_factory=list)
    left_at_init: list = dataclasses.field(default_factory=list)
    notes: list = dataclasses.field(default_factory=list)

    def summary(self):
        lines = [
            f"{self.source}: {len(self.inflated)} kernels inflated, "
            f"{len(self.copied)} tensors copied, {len(self.skipped)} skipped, "
            f"{len(self.left_at_init)} model tensors left at initialisation"
        ]
        lines += [f"  skipped {name}: {why}" for name, why in self.skipped]
        if self.left_at_init:
            lines.append(
                "  left at initialisation: " + ", ".join(self.left_at_init)
            )
        lines += [f"  note: {note}" for note in self.notes]
        return "\n".join(lines)

    def __str__(self):
        return self.summary()


def _bn_values(source, prefix, target_epsilon, to_affine):
    """BN/affine vectors for `prefix` from the source, in the target's form."""
    t = source.tensors
    s, b = t.get(f"{prefix}_s"), t.get(f"{prefix}_b")
    rm, riv = t.get(f"{prefix}_rm"), t.get(f"{prefix}_riv")
    if s is None or b is None:
        return None
    if to_affine:
        if rm is None:
            return {"s": s, "b": b}
        scale = s / np.sqrt(riv + source.bn_epsilon)
        return {"s": scale, "b": b - rm * scale}
    if rm is None:
        # An affine 2D source (s * x + b) as a BN: mean 0, var 1 - eps.
        return {
            "s": s,
            "b": b,
            "rm": np.zeros_like(s),
            "riv": np.full_like(s, 1.0 - target_epsilon),
        }
    # Same normalisation with the target's epsilon.
    return {
        "s": s,
        "b": b,
        "rm": rm,
        "riv": riv + source.bn_epsilon - target_epsilon,
    }


def inflate_2d_weights(model, source, *, strict=True):
    """Initialises a zoo model from a 2D ImageNet ResNet-50/101.

    Args:
        model: a C2D/I3D model of the zoo (`get_model`/`VideoClassifier`) of the
            same depth as the source.
        source: a Caffe2 ImageNet `.pkl` (2D blobs `conv1_w (64, 3, 7, 7)`,
            `res2_0_branch2a_w`, ..., the names of docs/reference.md §5), a
            `keras.applications.ResNet50`/`ResNet101` model, or a weights
            file saved from one (Keras 3 `.weights.h5` or the legacy `.h5`).
            keras.applications conv biases are folded into the following
            BN's moving mean, and its BN epsilon (1.001e-5) into the moving
            variance.
        strict: raise when the source lacks a backbone tensor or has tensors
            the model cannot use (other than its head).

    Returns:
        An `InflationReport`.

    Example:
        >>> model = get_model("i3d_nl5_r50_8x8", stride_in_1x1=True)
        >>> report = inflate_2d_weights(
        ...     model, keras.applications.ResNet50(weights="imagenet"))
        >>> print(report)
    """
    src = inflation_sources.load_source(source)
    targets, unmapped = caffe2_names.model_targets(model)
    if unmapped:
        raise ValueError(
            "inflate_2d_weights: the model has weights outside the zoo's "
            f"layer table: {unmapped}"
        )
    plan = _Plan(src, InflationReport(source=src.label, notes=list(src.notes)))
    by_layer = {}
    for target in targets.values():
        by_layer.setdefault(target.layer, []).append(target)
    for layer_name, layer_targets in by_layer.items():
        layer = model.get_layer(layer_name)
        if caffe2_names._is_nonlocal(layer):
            plan.report.left_at_init += [t.blob for t in layer_targets]
        elif layer_name == "pred":
            plan.head(layer_targets)
        elif layer_targets[0].kind == "conv":
            plan.conv(layer_targets[0])
        else:
            plan.norm(layer, layer_targets)
    plan.check(model, strict)
    _add_notes(plan.report, src, model, targets)
    for variable, value in plan.assignments:
        variable.assign(np.asarray(value).astype(variable.dtype))
    return plan.report


@dataclasses.dataclass
class _Plan:
    """What inflation will assign, and what it could not place."""

    src: object
    report: InflationReport
    assignments: list = dataclasses.field(default_factory=list)
    used: set = dataclasses.field(default_factory=set)
    missing: list = dataclasses.field(default_factory=list)
    mismatched: list = dataclasses.field(default_factory=list)

    def head(self, layer_targets):
        """`pred`: copied when the source head has the model's classes."""
        w = self.src.tensors.get("pred_w")
        shapes = {t.blob: t.caffe2_shape for t in layer_targets}
        if w is None:
            self.report.left_at_init += list(shapes)
        elif tuple(w.shape) != shapes["pred_w"]:
            reason = (
                f"source head has {w.shape[0]} classes, the model "
                f"{shapes['pred_w'][0]}"
            )
            self.report.skipped += [("pred_w", reason), ("pred_b", reason)]
            self.report.left_at_init += list(shapes)
            self.used.update(("pred_w", "pred_b"))
        else:
            for t in layer_targets:
                self.assignments.append(
                    (t.variable, t.to_keras(self.src.tensors[t.blob]))
                )
                self.report.copied.append(t.blob)
                self.used.add(t.blob)

    def conv(self, target):
        """A 2D kernel repeated over the temporal kernel and divided by it."""
        blob = self.src.tensors.get(target.blob)
        if blob is None:
            self.missing.append(target.blob)
            return
        self.used.add(target.blob)
        out_c, in_c, kt, kh, kw = target.caffe2_shape
        if blob.ndim == 4 and blob.shape == (out_c, in_c, kh, kw):
            blob = np.repeat(blob[:, :, None], kt, axis=2) / kt
            self.report.inflated.append((target.blob, kt))
        elif tuple(blob.shape) == target.caffe2_shape:
            self.report.copied.append(target.blob)
        else:
            self.mismatched.append(
                f"{target.blob}: source {tuple(blob.shape)}, model "
                f"{target.caffe2_shape}"
            )
            return
        self.assignments.append((target.variable, target.to_keras(blob)))

    def norm(self, layer, layer_targets):
        """BN or Affine: vectors named <layer>_{s,b[,rm,riv]}."""
        to_affine = not isinstance(layer, keras.layers.BatchNormalization)
        epsilon = getattr(layer, "epsilon", 1e-5)
        values = _bn_values(self.src, layer.name, epsilon, to_affine)
        if values is None:
            self.missing += [t.blob for t in layer_targets]
            return
        self.used.update(f"{layer.name}_{k}" for k in ("s", "b", "rm", "riv"))
        for target in layer_targets:
            value = np.asarray(values[target.blob.rsplit("_", 1)[1]])
            if tuple(value.shape) != target.caffe2_shape:
                self.mismatched.append(
                    f"{target.blob}: source {value.shape}, model "
                    f"{target.caffe2_shape}"
                )
                continue
            self.assignments.append((target.variable, value))
            self.report.copied.append(target.blob)

    def check(self, model, strict):
        """Raises (nothing assigned yet) when the source does not fit."""
        unexpected = [
            f"{name} {tuple(v.shape)}"
            for name, v in self.src.tensors.items()
            if name not in self.used
        ]
        if strict and (self.missing or self.mismatched or unexpected):
            raise ValueError(
                f"inflate_2d_weights: {self.src.label} does not fit model "
                f"'{model.name}' (no weight was changed):"
                + "".join(
                    f"\n  missing in the source: {m}" for m in self.missing
                )
                + "".join(f"\n  shape mismatch: {m}" for m in self.mismatched)
                + "".join(f"\n  unused source tensor: {u}" for u in unexpected)
            )


def _add_notes(report, src, model, targets):
    if (
        src.stride_in_1x1
        and "res3_0_branch2a" in targets
        and tuple(model.get_layer("res3_0_branch2a").strides)[1:] == (1, 1)
    ):
        report.notes.append(
            "the source has its stride in the first 1x1 conv, the model in "
            "the 3x3 conv (stride_in_1x1=False): weights copied, but the "
            "features are not the 2D network's"
        )
    if src.bn_epsilon != 1e-5:
        report.notes.append(
            f"source BN epsilon {src.bn_epsilon:g} folded into the moving "
            "variance (model epsilon 1e-5)"
        )
