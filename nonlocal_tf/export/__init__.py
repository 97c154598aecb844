"""Exports (SavedModel for TF Serving, ONNX, OpenVINO, LiteRT), warm-up
requests, client helpers, and running an export.

The names below are imported on first use (`nonlocal_tf.lazy_imports`), like
the other packages that pull TensorFlow (`data`, `training`):
`nonlocal_tf.export.client` (the REST client) stays importable with NumPy and
the standard library only, and `nonlocal_tf.export.runtimes` (running an
ONNX, OpenVINO or LiteRT export) without TensorFlow.

Where things are: `saved_model.py` (`export_saved_model` and its checks),
`signatures.py` (the serving signatures, their in-graph preprocessing and
the warm-up requests), `versions.py` (versioned directories, published
atomically), `inspection.py` (reading an export back:
`SavedModelClassifier`), `formats.py` (`export_model`: every format, ONNX,
OpenVINO and LiteRT conversions), `runtimes.py` (`load_exported`: any
export and its runtime), `client.py` (the serving client: clips, predict
over REST or gRPC, top-k) and `transport.py` (addresses, REST JSON, the
POST, typed errors).

Example:
    >>> from nonlocal_tf import export
    >>> path = export.export_saved_model(model, "/models", "c2d_nl")
    >>> classifier = export.SavedModelClassifier(path)  # clips -> scores
    >>> export.export_model(model, "/models/c2d_nl_onnx", format="onnx")
    >>> export.load_exported("/models/c2d_nl_onnx").predict(clips)
"""

from nonlocal_tf import lazy_imports

__getattr__, __dir__, __all__ = lazy_imports.attach(
    __name__,
    {
        "EXPORT_FORMATS": ".runtimes",
        "ExportedModel": ".runtimes",
        "MissingExtraError": ".runtimes",
        "SavedModelClassifier": ".inspection",
        "describe_signatures": ".saved_model",
        "export_model": ".formats",
        "export_saved_model": ".saved_model",
        "load_exported": ".runtimes",
        "read_clip_spec": ".saved_model",
        # Class names are read by the data package (one reader of labels).
        "load_label_names": "nonlocal_tf.data.annotations",
    },
)
