"""Label maps: built from annotations, written, and read back in every format.

The formats of `load_label_names` (and their errors) are checked where users
import it, `tests/export/validation_test.py` (`nonlocal_tf.export`).
"""

import json

import pytest

from nonlocal_tf.data import annotations
from nonlocal_tf.data.annotations import VideoEntry


def test_build_write_and_read(tmp_path):
    entries = [
        VideoEntry("a", "a", ("zumba",)),
        VideoEntry("b", "b", ("abseiling", "class 10")),
        VideoEntry("c", "c", ("class 9",)),
    ]
    label_map = annotations.build_label_map(entries)
    assert label_map == {
        "abseiling": 0,
        "class 9": 1,
        "class 10": 2,
        "zumba": 3,
    }
    numeric = [VideoEntry("a", "a", ("3", "10"))]
    assert annotations.build_label_map(numeric) == {"3": 3, "10": 10}
    path = tmp_path / "label_map.json"
    annotations.write_label_map(path, label_map)
    assert json.loads(path.read_text()) == label_map
    assert annotations.read_label_map(path) == label_map
    assert annotations.load_label_names(path) == sorted(
        label_map, key=label_map.get
    )
    assert not list(tmp_path.glob("*.tmp-*"))
    path.write_text('["not", "a", "map"]')
    with pytest.raises(ValueError, match="name -> int"):
        annotations.read_label_map(path)


def test_one_index_for_two_names_is_refused(tmp_path):
    path = tmp_path / "label_map.json"
    with pytest.raises(ValueError, match="'a' and 'b' share index 0"):
        annotations.write_label_map(path, {"a": 0, "b": 0})
    assert not path.exists()
    path.write_text('{"a": 0, "b": 0}')
    with pytest.raises(ValueError, match="'a' and 'b' share index 0"):
        annotations.read_label_map(path)


def test_missing_and_bom_files(tmp_path):
    missing = tmp_path / "nope.txt"
    with pytest.raises(FileNotFoundError) as caught:
        annotations.load_label_names(missing)
    assert caught.value.filename == str(missing)
    with_bom = tmp_path / "labels.json"
    with_bom.write_bytes(b'\xef\xbb\xbf{"walking": 0}')
    assert annotations.load_label_names(with_bom) == ["walking"]
    assert annotations.read_label_map(with_bom) == {"walking": 0}
