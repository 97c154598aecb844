"""nonlocal_tf.layers: the non-local block and the video layers (any backend).

`NonLocalBlock`; and the layers the video ResNets are built from, usable in
any Keras model: `FrameConv3D` ((1, k, k) convolutions as 2D ones),
`FusedBatchNormalization`, `Affine` (a frozen batch norm),
`FrameMaxPooling3D` (3D max pools as 2D ones) and `WindowAveragePooling3D`.

Imported eagerly, as `models` and `zoo` are: Keras is the point of these
packages (and importing them registers the layers for `.keras` loading),
while `data`, `training` and `export` load on first use
(`nonlocal_tf.lazy_imports`) to keep TensorFlow out of light modules.
"""

from nonlocal_tf.layers.affine import Affine
from nonlocal_tf.layers.batch_norm import FusedBatchNormalization
from nonlocal_tf.layers.frame_conv import FrameConv3D
from nonlocal_tf.layers.non_local import NonLocalBlock
from nonlocal_tf.layers.pooling import FrameMaxPooling3D
from nonlocal_tf.layers.pooling import WindowAveragePooling3D

__all__ = [
    "Affine",
    "FrameConv3D",
    "FrameMaxPooling3D",
    "FusedBatchNormalization",
    "NonLocalBlock",
    "WindowAveragePooling3D",
]
