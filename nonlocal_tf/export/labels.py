"""Class names for the exported `top_k_labels` output."""

import json

import tensorflow as tf


def default_label_names(num_classes):
    """Returns `["class_0", ..., "class_<num_classes - 1>"]`.

    Example:

    >>> default_label_names(3)
    ['class_0', 'class_1', 'class_2']
    """
    return [f"class_{index}" for index in range(num_classes)]


def _from_index_map(mapping, path):
    indices = {}
    for name, index in mapping.items():
        if isinstance(index, bool) or not isinstance(index, int):
            raise ValueError(
                f"Label map {path}: the index of label {name!r} must be an "
                f"integer. Received: {index!r}"
            )
        if index in indices:
            raise ValueError(
                f"Label map {path}: labels {indices[index]!r} and {name!r} "
                f"share index {index}."
            )
        indices[index] = name
    expected = list(range(len(indices)))
    if sorted(indices) != expected:
        missing = sorted(set(expected) - set(indices))
        raise ValueError(
            f"Label map {path}: indices must be 0..{len(indices) - 1} with "
            f"no gaps. Received indices {sorted(indices)[:10]}... "
            f"(missing {missing[:10]})."
        )
    return [indices[index] for index in expected]


def load_label_names(path):
    """Reads class names from a label file.

    Three formats are accepted:
    - a JSON object `{"name": index, ...}` (indices 0..N-1, the Kinetics and
      PySlowFast label-map style);
    - a JSON list `["name0", "name1", ...]`;
    - any other file: plain text, one name per line (blank lines ignored).

    Args:
        path: file path (any `tf.io.gfile` path).

    Returns:
        A list of N strings, the name of class i at position i.

    Raises:
        ValueError: if the file is empty or a JSON map has gaps, duplicate or
            non-integer indices.

    Example:

    ```python
    names = load_label_names("kinetics_400_labels.json")
    names[0]  # 'abseiling'
    ```
    """
    with tf.io.gfile.GFile(path, "r") as handle:
        text = handle.read()
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        try:
            content = json.loads(stripped)
        except json.JSONDecodeError as error:
            raise ValueError(
                f"Label file {path} looks like JSON but does not parse: {error}"
            ) from error
        if isinstance(content, dict):
            names = _from_index_map(content, path)
        else:
            names = [str(name) for name in content]
    else:
        names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise ValueError(f"Label file {path} holds no class names.")
    return names
