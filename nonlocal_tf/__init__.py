"""Non-local Neural Networks for Keras 3.

`nonlocal_tf.layers` and `nonlocal_tf.models` run on any Keras backend;
`nonlocal_tf.data`, `.training` and `.export` are TensorFlow-only. The model
zoo is `nonlocal_tf.zoo`. Nothing heavy is imported until it is used, so
light modules (e.g. the REST client in `nonlocal_tf.export.client`) load
without Keras or TensorFlow.

Example:

>>> from nonlocal_tf import NonLocalBlock
>>> block = NonLocalBlock(instantiation="dot_product")
"""

from nonlocal_tf.version import __version__

__all__ = [
    "ClipSpec",
    "NonLocalBlock",
    "VideoClassifier",
    "insert_nonlocal",
    "__version__",
]

_LAZY = {
    "ClipSpec": "nonlocal_tf.clip_spec",
    "NonLocalBlock": "nonlocal_tf.layers",
    "VideoClassifier": "nonlocal_tf.models",
    "insert_nonlocal": "nonlocal_tf.models",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
