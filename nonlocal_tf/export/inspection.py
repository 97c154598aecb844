"""Reading an export back: its clip spec, its signatures, and its
`serving_default` as a clips -> scores callable.

`evaluate` and `score_video` (in `nonlocal_tf.training`) take a Keras model
or any callable from normalised clips to probabilities;
`SavedModelClassifier` wraps a SavedModel so that an export is evaluated on
the same test views as the model it came from.
"""

import os

import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2

from nonlocal_tf.clip_spec import ClipSpec

CLIP_SPEC_FILE = "clip_spec.json"


def read_clip_spec(saved_model):
    """The `ClipSpec` an export follows, from its directory or loaded object.

    Args:
        saved_model: a SavedModel version directory (reads
            `assets.extra/clip_spec.json`) or the object
            `tf.saved_model.load` returned (reads its `clip_spec` variable).

    Returns:
        A `ClipSpec`, or None for an export without one.

    Example:
        >>> read_clip_spec("/models/c2d_nl/1").test_crop_size
        256
    """
    if isinstance(saved_model, (str, os.PathLike)):
        path = os.path.join(
            os.fspath(saved_model), "assets.extra", CLIP_SPEC_FILE
        )
        if not tf.io.gfile.exists(path):
            return None
        with tf.io.gfile.GFile(path) as f:
            return ClipSpec.from_json(f.read())
    variables = getattr(saved_model, "clip_spec", None)
    if not variables:
        return None
    text = variables[0].numpy()
    return ClipSpec.from_json(text.decode("utf-8"))


def describe_signatures(saved_model_dir, tag="serve"):
    """A `saved_model_cli`-like text listing of the serving signatures.

    Args:
        saved_model_dir: a SavedModel directory.
        tag: the MetaGraph tag.

    Returns:
        A multi-line string: each signature with its inputs and outputs
        (name, dtype, shape; -1 is a dynamic dim).

    Example:

    ```python
    print(describe_signatures("/models/i3d_nl5_r50/1"))
    ```
    """
    with open(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
        saved_model = saved_model_pb2.SavedModel.FromString(f.read())
    meta_graphs = [
        meta
        for meta in saved_model.meta_graphs
        if tag in meta.meta_info_def.tags
    ]
    if not meta_graphs:
        raise ValueError(f"{saved_model_dir} has no MetaGraph tagged {tag!r}.")

    def describe(info):
        dtype = tf.dtypes.as_dtype(info.dtype).name
        dims = [str(dim.size) for dim in info.tensor_shape.dim]
        return f"{dtype} ({', '.join(dims)})"

    lines = []
    signatures = meta_graphs[0].signature_def
    for key in sorted(signatures):
        if key.startswith("__"):
            continue
        lines.append(f"signature {key!r}:")
        for kind, tensors in (
            ("input", signatures[key].inputs),
            ("output", signatures[key].outputs),
        ):
            for tensor_name in sorted(tensors):
                lines.append(
                    f"  {kind:6} {tensor_name}: "
                    f"{describe(tensors[tensor_name])}"
                )
    return "\n".join(lines)


class SavedModelClassifier:
    """An exported SavedModel's `serving_default` as a clips -> probabilities
    callable on *normalised* clips (the test pipeline's output).

    The signature takes RGB in [0, 255] and normalises inside (design.md,
    serving contract), so the clips are mapped back to [0, 255] first, with
    the mean and std of the clip spec embedded in the export (`ClipSpec()`'s
    for exports older than clip specs). Label names the signature returns
    (`top_k_labels` with their indices) are collected in `label_names` as
    calls go.

    Args:
        path: The SavedModel (version) directory.

    Attributes:
        clip_spec: The export's `ClipSpec`, or None for an older export.
        video_shape: The `video` input's `TensorShape`.
        label_names: `{class index: name}` seen so far.

    Example:
        >>> classifier = SavedModelClassifier("/models/nl/1")
        >>> probabilities = classifier(views)  # (V, classes)
    """

    def __init__(self, path):
        self.path = str(path)
        loaded = tf.saved_model.load(self.path)
        self._loaded = loaded  # keeps the signature's variables alive
        self._serving = loaded.signatures["serving_default"]
        self.video_shape = self._serving.structured_input_signature[1][
            "video"
        ].shape
        self.clip_spec = read_clip_spec(self.path)
        # The export's own normalisation (the default for older exports).
        spec = self.clip_spec or ClipSpec()
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
                self.label_names[int(index)] = label.decode("utf-8")
        return outputs["probabilities"]
