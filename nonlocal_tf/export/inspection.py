"""Reading an export back: its signatures and its clip spec."""

import os

import tensorflow as tf

from nonlocal_tf.clip_spec import ClipSpec

CLIP_SPEC_FILE = "clip_spec.json"


def read_clip_spec(saved_model):
    """The `ClipSpec` an export follows, from its directory or loaded object.

    Args:
        saved_model: a SavedModel version directory (reads
            `assets.extra/clip_spec.json`) or the object
            `tf.saved_model.load` returned (reads its `clip_spec` variable).

    Returns:
        A `ClipSpec`, or None for an export without one.

    Example:
        >>> read_clip_spec("/models/c2d_nl/1").test_crop_size
        256
    """
    if isinstance(saved_model, (str, os.PathLike)):
        path = os.path.join(
            os.fspath(saved_model), "assets.extra", CLIP_SPEC_FILE
        )
        if not tf.io.gfile.exists(path):
            return None
        with tf.io.gfile.GFile(path) as f:
            return ClipSpec.from_json(f.read())
    variables = getattr(saved_model, "clip_spec", None)
    if not variables:
        return None
    text = variables[0].numpy()
    return ClipSpec.from_json(text.decode("utf-8"))


def describe_signatures(saved_model_dir, tag="serve"):
    """A `saved_model_cli`-like text listing of the serving signatures.

    Args:
        saved_model_dir: a SavedModel directory.
        tag: the MetaGraph tag.

    Returns:
        A multi-line string: each signature with its inputs and outputs
        (name, dtype, shape; -1 is a dynamic dim).

    Example:

    ```python
    print(describe_signatures("/models/i3d_nl5_r50/1"))
    ```
    """
    from tensorflow.core.protobuf import saved_model_pb2

    with open(os.path.join(saved_model_dir, "saved_model.pb"), "rb") as f:
        saved_model = saved_model_pb2.SavedModel.FromString(f.read())
    meta_graphs = [
        meta
        for meta in saved_model.meta_graphs
        if tag in meta.meta_info_def.tags
    ]
    if not meta_graphs:
        raise ValueError(f"{saved_model_dir} has no MetaGraph tagged {tag!r}.")

    def describe(info):
        dtype = tf.dtypes.as_dtype(info.dtype).name
        dims = [str(dim.size) for dim in info.tensor_shape.dim]
        return f"{dtype} ({', '.join(dims)})"

    lines = []
    signatures = meta_graphs[0].signature_def
    for key in sorted(signatures):
        if key.startswith("__"):
            continue
        lines.append(f"signature {key!r}:")
        for kind, tensors in (
            ("input", signatures[key].inputs),
            ("output", signatures[key].outputs),
        ):
            for tensor_name in sorted(tensors):
                lines.append(
                    f"  {kind:6} {tensor_name}: "
                    f"{describe(tensors[tensor_name])}"
                )
    return "\n".join(lines)
