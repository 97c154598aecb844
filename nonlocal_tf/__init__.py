"""Non-local Neural Networks for Keras 3.

`nonlocal_tf.layers` and `nonlocal_tf.models` run on any Keras backend;
`nonlocal_tf.data`, `.training` and `.export` are TensorFlow-only and are not
imported here. The model zoo is `nonlocal_tf.zoo`.
"""

from nonlocal_tf.layers import NonLocalBlock
from nonlocal_tf.version import __version__

__all__ = ["NonLocalBlock", "__version__"]
