"""Label maps: the one reader and writer of class-name files.

A data set's classes are a label map `{name: index}`; `prepare_dataset`
writes it beside its records as `label_map.json`. Every program and package
reads class names through this module:

- `build_label_map` / `write_label_map` / `read_label_map`: the
  `{name: index}` map of a preparation;
- `load_label_names`: the names in index order from any label file: a JSON
  object `{"name": index}` (indices 0..N-1, the Kinetics and PySlowFast
  style), a JSON list `["name0", ...]`, or plain text, one name per line;
- `label_map_beside` / `resolve_class_names`: the label map of some records,
  checked against a class count;
- `default_label_names`: `class_0`, `class_1`, ... when there is no file.

Local files are read without TensorFlow (worker processes import this
module); other file systems (`gs://`, ...) go through `tf.io.gfile`, imported
on first use.

Example:
    >>> from nonlocal_tf.data import label_maps
    >>> label_maps.write_label_map("records/label_map.json",
    ...                            {"abseiling": 0})  # doctest: +SKIP
    >>> label_maps.load_label_names("records/label_map.json")  # doctest: +SKIP
    ['abseiling']
"""

import errno
import json
import os
import re

from nonlocal_tf import fileio

LABEL_MAP_FILE = "label_map.json"


def _natural_key(text):
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", text)]


def build_label_map(entries):
    """Class name -> index for the labels used by `entries`.

    Names are sorted (the Kinetics convention: index = alphabetical rank).
    When every name is a non-negative integer, the integer is the index.

    Args:
        entries: iterable of `VideoEntry` (anything with `labels`).

    Returns:
        A dict `{name: index}`.

    Example:
        >>> from nonlocal_tf.data.annotations import VideoEntry
        >>> build_label_map([VideoEntry("a.mp4", "a", ("zumba",)),
        ...                  VideoEntry("b.mp4", "b", ("abseiling",))])
        {'abseiling': 0, 'zumba': 1}
    """
    names = {label for entry in entries for label in entry.labels}
    if names and all(n.isdigit() for n in names):
        return {n: int(n) for n in sorted(names, key=int)}
    return {n: i for i, n in enumerate(sorted(names, key=_natural_key))}


def _checked_indices(label_map, path):
    """`{index: name}` of a label map; refuses non-integer or shared ones."""
    if not isinstance(label_map, dict):
        raise ValueError(
            f"a label map must be a JSON object name -> int, {path} (got a "
            f"{type(label_map).__name__})"
        )
    names = {}
    for name, index in label_map.items():
        if isinstance(index, bool) or not isinstance(index, int):
            raise ValueError(
                f"a label map must map names to int indices, {path} (the "
                f"index of label {name!r} must be an integer, got {index!r})"
            )
        if index in names:
            raise ValueError(
                f"two labels share an index, {path} (labels "
                f"{names[index]!r} and {name!r} share index {index})"
            )
        names[index] = name
    return names


def write_label_map(path, label_map):
    """Writes `{name: index}` as JSON, atomically (`fileio`).

    Raises:
        ValueError: an index is not an integer or two names share one.

    Example:
        >>> write_label_map("records/label_map.json",
        ...                 {"abseiling": 0})  # doctest: +SKIP
    """
    _checked_indices(label_map, path)
    text = json.dumps(label_map, indent=1, ensure_ascii=False)
    fileio.atomic_write_text(path, text + "\n")


def _read_text(path):
    """The text of a label file (UTF-8, a BOM dropped)."""
    path = os.fspath(path)
    if "://" in path:
        import tensorflow as tf

        if not tf.io.gfile.exists(path):
            raise FileNotFoundError(errno.ENOENT, "label file not found", path)
        with tf.io.gfile.GFile(path, "rb") as f:
            data = f.read()
    else:
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            raise FileNotFoundError(
                errno.ENOENT, "label file not found", path
            ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"label file is not UTF-8, {path} ({error})") from None


def _parse_json(text, path):
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"label file looks like JSON but does not parse, {path} ({error})"
        ) from None


def read_label_map(path):
    """Reads a label map JSON (`{name: index}`, as `write_label_map` writes).

    Returns:
        A dict `{name: index}`.

    Raises:
        FileNotFoundError: there is no such file.
        ValueError: the file is not a JSON object of name -> integer, or two
            names share an index.

    Example:
        >>> label_map = read_label_map(
        ...     "records/label_map.json")  # doctest: +SKIP
    """
    label_map = _parse_json(_read_text(path), path)
    _checked_indices(label_map, path)
    return label_map


def _names_in_index_order(label_map, path):
    names = _checked_indices(label_map, path)
    expected = list(range(len(names)))
    if sorted(names) != expected:
        missing = sorted(set(expected) - set(names))
        raise ValueError(
            f"label map indices must be 0..{len(names) - 1} with no gaps, "
            f"{path} (got {sorted(names)[:10]}..., missing {missing[:10]})"
        )
    return [names[index] for index in expected]


def load_label_names(path):
    """Reads class names from a label file, in index order.

    Three formats are accepted:
    - a JSON object `{"name": index, ...}` (indices 0..N-1, the Kinetics and
      PySlowFast label-map style, and `label_map.json`);
    - a JSON list `["name0", "name1", ...]`;
    - any other file: plain text, one name per line (blank lines ignored).

    Args:
        path: file path (local, or any `tf.io.gfile` path).

    Returns:
        A list of N strings, the name of class i at position i.

    Raises:
        FileNotFoundError: there is no such file.
        ValueError: the file is empty, or a JSON map has gaps, duplicate or
            non-integer indices.

    Example:

    ```python
    names = load_label_names("kinetics_400_labels.json")
    names[0]  # 'abseiling'
    ```
    """
    text = _read_text(path)
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        content = _parse_json(stripped, path)
        if isinstance(content, dict):
            names = _names_in_index_order(content, path)
        else:
            names = [str(name) for name in content]
    else:
        names = [line.strip() for line in text.splitlines() if line.strip()]
    if not names:
        raise ValueError(f"label file holds no class names, {path}")
    return names


def default_label_names(num_classes):
    """Returns `["class_0", ..., "class_<num_classes - 1>"]`.

    Example:

    >>> default_label_names(3)
    ['class_0', 'class_1', 'class_2']
    """
    return [f"class_{index}" for index in range(num_classes)]


def label_map_beside(file_pattern):
    """The `label_map.json` that `prepare_dataset` wrote beside some records.

    Args:
        file_pattern: a record file pattern, e.g. `records/val-*.tfrecord`.

    Returns:
        The path of `label_map.json` in the folder of the first matching
        file, or None when there is no such file.

    Example:
        >>> label_map_beside("records/val-*.tfrecord")  # doctest: +SKIP
        'records/label_map.json'
    """
    if not file_pattern:
        return None
    import tensorflow as tf

    files = sorted(tf.io.gfile.glob(file_pattern))
    if not files:
        return None
    path = os.path.join(os.path.dirname(files[0]), LABEL_MAP_FILE)
    return path if tf.io.gfile.exists(path) else None


def resolve_class_names(label_map=None, file_pattern=None, num_classes=None):
    """Class names and class count of a data set, checked against each other.

    Args:
        label_map: a label file (any format `load_label_names` reads), or
            None to look for `label_map.json` beside `file_pattern`'s
            records.
        file_pattern: the records the label map belongs to.
        num_classes: the class count if known (e.g. a flag), else None.

    Returns:
        `(names or None, num_classes)`.

    Raises:
        ValueError: the count is neither given nor found, or the label map
            disagrees with `num_classes`.

    Example:
        >>> names, count = resolve_class_names(
        ...     file_pattern="records/val-*")  # doctest: +SKIP
    """
    path = label_map or label_map_beside(file_pattern)
    names = load_label_names(path) if path else None
    if num_classes is None:
        if names is None:
            raise ValueError(
                "The number of classes is unknown: give it (--num_classes) or "
                f"a label map; there is no label_map.json beside "
                f"{file_pattern!r}."
            )
        return names, len(names)
    if names is not None and len(names) != num_classes:
        raise ValueError(
            f"num_classes={num_classes} but the label map {path} has "
            f"{len(names)} classes."
        )
    return names, int(num_classes)
