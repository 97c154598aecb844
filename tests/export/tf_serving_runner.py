"""Runs a SavedModel the way TF Serving does, without this project.

Usage: python tf_serving_runner.py SAVED_MODEL_DIR JOBS.pkl RESULT.pkl

TF Serving loads a version with the TF1 loader (`LoadSavedModel` with the
"serve" tag) and feeds the tensors named in the SignatureDef to a session.
This script does the same with `tf.compat.v1.saved_model.loader.load` and
`sess.run`, and replays the warm-up file as TF Serving does. It must import
nothing from nonlocal_tf (the result says whether anything did).

JOBS.pkl holds {"calls": [{"id", "signature", "inputs": {key: array},
"raw": bool (optional, see `_run`)}],
"warmup": bool}. RESULT.pkl gets {"signatures": {name: {"inputs": {key:
(dtype, shape, tensor)}, "outputs": {...}}}, "calls": {id: {"outputs":
{key: array}} or {"error": "Type: message"}}, "warmup": [{"signature",
"input_shapes", "outputs" or "error"}], "project_modules": [...]}.
"""

import os
import pickle
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402
from tensorflow_serving.apis import prediction_log_pb2  # noqa: E402

WARMUP_PATH = os.path.join("assets.extra", "tf_serving_warmup_requests")


def _describe(tensor_infos):
    return {
        key: (
            tf.dtypes.as_dtype(info.dtype).name,
            tuple(dim.size for dim in info.tensor_shape.dim),
            info.name,
        )
        for key, info in tensor_infos.items()
    }


def _run(session, signature, inputs, raw=False):
    """Feeds `inputs` to the signature's tensors and fetches its outputs.

    `session.run` checks fed shapes against the placeholders in Python;
    TF Serving's C++ `Session::Run` does not. `raw=True` skips that check
    (through `Session._do_run`, the call `run` makes after checking) to see
    what the graph itself does with a wrong input.
    """
    graph = session.graph
    keys = sorted(signature.outputs)
    fetches = [
        graph.get_tensor_by_name(signature.outputs[k].name) for k in keys
    ]
    feeds = {
        graph.get_tensor_by_name(signature.inputs[key].name): value
        for key, value in inputs.items()
    }
    try:
        if raw:
            values = session._do_run(
                None,
                [],
                fetches,
                {tensor.ref(): value for tensor, value in feeds.items()},
                None,
                None,
            )
        else:
            values = session.run(fetches, feed_dict=feeds)
    except Exception as error:  # noqa: BLE001 - reported to the test
        return {"error": f"{type(error).__name__}: {error}"}
    return {"outputs": dict(zip(keys, values, strict=True))}


def main(saved_model_dir, jobs_path, result_path):
    with open(jobs_path, "rb") as f:
        jobs = pickle.load(f)  # noqa: S301 - written by the test
    result = {"calls": {}, "warmup": []}
    graph = tf.Graph()
    with tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(
            session, ["serve"], saved_model_dir
        )
        signatures = meta_graph.signature_def
        result["signatures"] = {
            name: {
                "inputs": _describe(signature.inputs),
                "outputs": _describe(signature.outputs),
                "method": signature.method_name,
            }
            for name, signature in signatures.items()
            if not name.startswith("__")
        }
        for call in jobs["calls"]:
            result["calls"][call["id"]] = _run(
                session,
                signatures[call["signature"]],
                call["inputs"],
                raw=call.get("raw", False),
            )
        if jobs.get("warmup"):
            path = os.path.join(saved_model_dir, WARMUP_PATH)
            for serialized in tf.compat.v1.io.tf_record_iterator(path):
                log = prediction_log_pb2.PredictionLog.FromString(serialized)
                request = log.predict_log.request
                name = request.model_spec.signature_name or "serving_default"
                inputs = {
                    key: tf.make_ndarray(proto)
                    for key, proto in request.inputs.items()
                }
                entry = {
                    "signature": name,
                    "model_name": request.model_spec.name,
                    "input_shapes": {k: v.shape for k, v in inputs.items()},
                }
                entry.update(_run(session, signatures[name], inputs))
                result["warmup"].append(entry)
    result["project_modules"] = sorted(
        name for name in sys.modules if name.split(".")[0] == "nonlocal_tf"
    )
    with open(result_path, "wb") as f:
        pickle.dump(result, f)


if __name__ == "__main__":
    main(*sys.argv[1:])
