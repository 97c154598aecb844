"""nonlocal_tf.layers: the non-local block (any Keras backend)."""

from nonlocal_tf.layers.non_local import NonLocalBlock

__all__ = ["NonLocalBlock"]
