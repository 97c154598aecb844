"""SavedModel export for TF Serving, warm-up requests and client helpers.

`export_saved_model` and `describe_signatures` import TensorFlow and Keras
when first used, so `nonlocal_tf.export.client` stays importable with NumPy
and the standard library only.
"""

__all__ = [
    "describe_signatures",
    "export_saved_model",
    "load_label_names",
    "read_clip_spec",
]

_LAZY = {
    "describe_signatures": "nonlocal_tf.export.saved_model",
    "export_saved_model": "nonlocal_tf.export.saved_model",
    "load_label_names": "nonlocal_tf.export.labels",
    "read_clip_spec": "nonlocal_tf.export.saved_model",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
