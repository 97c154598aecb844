"""Non-local Neural Networks for Keras 3.

`nonlocal_tf.layers` and `nonlocal_tf.models` run on any Keras backend;
`nonlocal_tf.data`, `.training` and `.export` are TensorFlow-only. The model
zoo is `nonlocal_tf.zoo`.

This package and the three that pull TensorFlow (`data`, `training`,
`export`) import their names on first use (`nonlocal_tf.lazy_imports`), so
light modules (`nonlocal_tf.clip_spec`, the REST client in
`nonlocal_tf.export.client`, `nonlocal_tf.data.annotations`) load without
Keras or TensorFlow. `layers`, `models` and `zoo` import eagerly: Keras is
their point. A process that has imported Keras before `import nonlocal_tf`
gets the model classes registered with `keras.saving` at once (for
`.keras` files); otherwise `import nonlocal_tf.models` does it.

Example:

>>> from nonlocal_tf import NonLocalBlock
>>> block = NonLocalBlock(instantiation="dot_product")
"""

import sys

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

# Where Keras is already loaded, register the model classes (and the zoo's
# presets) now, so `keras.saving.load_model` finds them right after
# `import keras, nonlocal_tf`; without Keras this package stays light.
if "keras" in sys.modules:
    from nonlocal_tf import zoo  # noqa: E402, F401
