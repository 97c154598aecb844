"""nonlocal_tf.layers: the non-local block (any Keras backend).

Imported eagerly, as `models` and `zoo` are: Keras is the point of these
packages (and importing them registers the layers for `.keras` loading),
while `data`, `training` and `export` load on first use
(`nonlocal_tf.lazy_imports`) to keep TensorFlow out of light modules.
"""

from nonlocal_tf.layers.non_local import NonLocalBlock

__all__ = ["NonLocalBlock"]
