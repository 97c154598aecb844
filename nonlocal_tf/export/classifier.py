"""An export's `serving_default` signature as a clips -> scores callable.

`evaluate` and `score_video` (in `nonlocal_tf.training`) take a Keras model
or any callable from normalised clips to probabilities; this wraps a
SavedModel so that an export is evaluated on the same test views as the
model it came from.
"""

import numpy as np
import tensorflow as tf

from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.export import inspection


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
        self.clip_spec = inspection.read_clip_spec(self.path)
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
