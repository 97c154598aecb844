"""Non-local Neural Networks for Keras 3.

`nonlocal_tf.layers` and `nonlocal_tf.models` run on any Keras backend;
`nonlocal_tf.data`, `.training` and `.export` are TensorFlow-only. The model
zoo is `nonlocal_tf.zoo`.

This package and the three that pull TensorFlow (`data`, `training`,
`export`) import their names on first use (`nonlocal_tf.lazy_imports`), so
light modules (`nonlocal_tf.clip_spec`, the REST client in
`nonlocal_tf.export.client`, `nonlocal_tf.data.annotations`) load without
Keras or TensorFlow. `layers`, `models` and `zoo` import eagerly: Keras is
their point.

Example:

>>> from nonlocal_tf import NonLocalBlock
>>> block = NonLocalBlock(instantiation="dot_product")
"""

from nonlocal_tf import lazy_imports
from nonlocal_tf.version import __version__

__getattr__, __dir__, __all__ = lazy_imports.attach(
    __name__,
    {
        "ClipSpec": ".clip_spec",
        "NonLocalBlock": ".layers",
        # Through the zoo, which registers the presets on the class.
        "VideoClassifier": ".zoo",
        "VideoResNetBackbone": ".zoo",
        "insert_nonlocal": ".models",
    },
)
__all__ = [*__all__, "__version__"]
