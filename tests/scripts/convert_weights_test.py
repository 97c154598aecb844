"""`convert_weights.py` on bad files, as a user runs it: one `error:` line,
exit 1, no traceback, nothing written, no code run."""

import concurrent.futures
import os
import pickle

import pytest

from tests import cli_helpers


class _Hostile:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _cases(tmp_path):
    marker = tmp_path / "code_ran"
    empty = tmp_path / "empty.pkl"
    empty.write_bytes(b"")
    cut = tmp_path / "cut.pkl"
    with open(cut, "wb") as f:
        pickle.dump({"blobs": {"conv1_w": list(range(1000))}}, f, protocol=2)
    cut.write_bytes(cut.read_bytes()[:100])
    hostile = tmp_path / "hostile.pkl"
    with open(hostile, "wb") as f:
        pickle.dump({"blobs": {"conv1_w": _Hostile(marker)}}, f, protocol=2)
    return marker, {
        "missing": (tmp_path / "missing.pkl", "checkpoint file not found"),
        "empty": (empty, "empty checkpoint file (0 bytes)"),
        "truncated": (cut, "truncated or damaged pickle"),
        "hostile": (hostile, "refusing to unpickle posix.system"),
    }


@pytest.mark.slow
def test_bad_checkpoints_give_one_line(tmp_path):
    marker, cases = _cases(tmp_path)
    output = tmp_path / "out.weights.h5"

    def run(case):
        path, _ = cases[case]
        return cli_helpers.run_program(
            "convert_weights.py",
            "--model=c2d_r50_8x8",
            "--width_per_group=4",
            f"--checkpoint={path}",
            f"--output={output}",
        )

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        completed = dict(zip(cases, pool.map(run, cases), strict=True))
    for case, (path, fragment) in cases.items():
        line = cli_helpers.assert_user_error(completed[case], fragment)
        assert str(path) in line, line
    assert not marker.exists()
    assert not output.exists()
