"""Light modules load without TensorFlow, Keras or gRPC.

The packages that pull TensorFlow (`nonlocal_tf`, `data`, `training`,
`export`) import their names on first use (`nonlocal_tf.lazy_imports`), so
the REST client, the clip spec, the annotations and label-map readers of the
preparation workers, and the packages themselves import (and run) without
them. Each case runs in a fresh interpreter.
"""

import json
import subprocess
import sys

import pytest

from tests import cli_helpers

HEAVY = ("tensorflow", "keras", "grpc")

CASES = {
    "nonlocal_tf": "import nonlocal_tf; nonlocal_tf.__version__",
    "nonlocal_tf.data": "import nonlocal_tf.data",
    "nonlocal_tf.training": "import nonlocal_tf.training",
    "nonlocal_tf.export": "import nonlocal_tf.export",
    "nonlocal_tf.export.client": "from nonlocal_tf.export import client",
    "nonlocal_tf.clip_spec": (
        "import nonlocal_tf.clip_spec as c; c.ClipSpec().to_json()"
    ),
    "nonlocal_tf.data.annotations": (
        "from nonlocal_tf.data import annotations; "
        "annotations.read_video_list({list!r})"
    ),
    "nonlocal_tf.data.annotations label maps": (
        "from nonlocal_tf.data import annotations; "
        "assert annotations.load_label_names({label_map!r}) == ['b', 'a']; "
        "assert annotations.read_label_map({label_map!r}) == {{'a': 1, 'b': 0}}"
    ),
    "nonlocal_tf.data.video": "from nonlocal_tf.data import video",
    "nonlocal_tf.training.results": (
        "from nonlocal_tf.training import results; "
        "results.compute_results([[[0.2, 0.8]]], [1])"
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_module_loads_no_tensorflow(case, tmp_path):
    listing = tmp_path / "list.csv"
    listing.write_text("a.mp4,x\n")
    label_map = tmp_path / "label_map.json"
    label_map.write_text(json.dumps({"a": 1, "b": 0}))
    code = CASES[case].format(list=str(listing), label_map=str(label_map))
    code += f"\nimport sys; print(sorted(set({HEAVY!r}) & set(sys.modules)))"
    completed = subprocess.run(
        [sys.executable, "-c", code],
        env=cli_helpers.program_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.strip().splitlines()[-1] == "[]"
