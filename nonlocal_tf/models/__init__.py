"""C2D / I3D video ResNets with non-local blocks (keras.ops/layers only).

The KerasHub model family: `VideoResNetBackbone` (the network),
`VideoClassifierPreprocessor` with its `VideoResNetVideoConverter` (the clip
spec's test transform) and `VideoClassifier` (the task).

Imported eagerly, as `layers` and `zoo` are: Keras is the point of these
packages (and importing them registers the layers for `.keras` loading),
while `data`, `training` and `export` load on first use
(`nonlocal_tf.lazy_imports`) to keep TensorFlow out of light modules.
"""

from nonlocal_tf.layers import Affine
from nonlocal_tf.layers import WindowAveragePooling3D
from nonlocal_tf.models.architecture import STEMS
from nonlocal_tf.models.architecture import Stem
from nonlocal_tf.models.architecture import temporal_kernels
from nonlocal_tf.models.complexity import Complexity
from nonlocal_tf.models.complexity import count_macs
from nonlocal_tf.models.complexity import count_params
from nonlocal_tf.models.complexity import model_complexity
from nonlocal_tf.models.endpoints import features_model
from nonlocal_tf.models.endpoints import stage_endpoints
from nonlocal_tf.models.insert import insert_nonlocal
from nonlocal_tf.models.preprocessing import VideoClassifierPreprocessor
from nonlocal_tf.models.preprocessing import VideoResNetVideoConverter
from nonlocal_tf.models.video_classifier import VideoClassifier
from nonlocal_tf.models.video_classifier import head_pool_size
from nonlocal_tf.models.video_classifier import no_decay_variables
from nonlocal_tf.models.video_resnet import VideoResNetBackbone
from nonlocal_tf.models.video_resnet import build_backbone

__all__ = [
    "Affine",
    "Complexity",
    "STEMS",
    "Stem",
    "VideoClassifier",
    "VideoClassifierPreprocessor",
    "VideoResNetBackbone",
    "VideoResNetVideoConverter",
    "WindowAveragePooling3D",
    "build_backbone",
    "count_macs",
    "count_params",
    "features_model",
    "head_pool_size",
    "insert_nonlocal",
    "model_complexity",
    "no_decay_variables",
    "stage_endpoints",
    "temporal_kernels",
]
