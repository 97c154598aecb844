"""SavedModel export for TF Serving, warm-up requests and client helpers.

The names below are imported on first use (`nonlocal_tf.lazy_imports`), like
the other packages that pull TensorFlow (`data`, `training`):
`nonlocal_tf.export.client` (the REST client) stays importable with NumPy and
the standard library only.

Where things are: `saved_model.py` (`export_saved_model` and its checks),
`signatures.py` (the serving signatures, their in-graph preprocessing and
the warm-up requests), `versions.py` (versioned directories, published
atomically), `inspection.py` (reading an export back:
`SavedModelClassifier`), `client.py` (the serving client: clips, predict
over REST or gRPC, top-k) and `transport.py` (addresses, REST JSON, the
POST, typed errors).

Example:
    >>> from nonlocal_tf import export
    >>> path = export.export_saved_model(model, "/models", "c2d_nl")
    >>> classifier = export.SavedModelClassifier(path)  # clips -> scores
"""

from nonlocal_tf import lazy_imports

__getattr__, __dir__, __all__ = lazy_imports.attach(
    __name__,
    {
        "SavedModelClassifier": ".inspection",
        "describe_signatures": ".saved_model",
        "export_saved_model": ".saved_model",
        "read_clip_spec": ".saved_model",
        # Class names are read by the data package (one reader of labels).
        "load_label_names": "nonlocal_tf.data.annotations",
    },
)
