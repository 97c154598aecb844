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

Importing `nonlocal_tf` before TensorFlow sets `TF_ENABLE_ONEDNN_OPTS=1`
unless the variable is set: TensorFlow turns its oneDNN CPU kernels on by
default only on CPUs with AVX-512, and on a 2-core AVX2 CPU they made a
C2D/I3D R50 training step about 2x faster (the Conv3D gradients; see
docs/performance.md). `TF_ENABLE_ONEDNN_OPTS=0` turns them off (results then
differ by float rounding). A process that imported TensorFlow first keeps
TensorFlow's choice; where that left the oneDNN kernels off and the variable
unset, the import warns once with the fix.

Example:

>>> from nonlocal_tf import NonLocalBlock
>>> block = NonLocalBlock(instantiation="dot_product")
"""

import os
import sys
import warnings

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


def _onednn_kernels_on():
    """Whether the loaded TensorFlow runs oneDNN kernels (True if unknown)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return True
    return bool(_pywrap_util_port.IsMklEnabled())


# TensorFlow reads it when it loads: too late once it is imported.
if "tensorflow" not in sys.modules:
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
elif "TF_ENABLE_ONEDNN_OPTS" not in os.environ and not _onednn_kernels_on():
    warnings.warn(
        "TensorFlow was imported before nonlocal_tf with its oneDNN CPU "
        "kernels off (its default without AVX-512), which makes training "
        "about 2x slower: import nonlocal_tf first, or start Python with "
        "TF_ENABLE_ONEDNN_OPTS=1 (=0 keeps them off and silences this).",
        stacklevel=2,
    )

# Where Keras is already loaded, register the model classes (and the zoo's
# presets) now, so `keras.saving.load_model` finds them right after
# `import keras, nonlocal_tf`; without Keras this package stays light.
if "keras" in sys.modules:
    from nonlocal_tf import zoo  # noqa: E402, F401
