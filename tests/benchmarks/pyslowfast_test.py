"""`python -m benchmarks.pyslowfast`: its parts, and smoke runs on tiny models.

The run beside PySlowFast needs a clone of facebookresearch/SlowFast (no
PySlowFast code is kept in this repository): set `PYSLOWFAST_DIR` to one
(and `pip install fvcore iopath simplejson psutil`), else that test is
skipped and only our side's run is checked.
"""

import io
import json
import os
import statistics
import sys
import textwrap

import pytest

from benchmarks import kept_children
from benchmarks import side_by_side as sbs
from tests.benchmarks import run_benchmark

OURS_DEFAULT, OURS_OFF = "ours/onednn=default", "ours/onednn=0"


def _row(name, step, batch, round_index, seconds, steal=0.0):
    return {
        "model": "m",
        "round": round_index,
        "implementation": name,
        "step": step,
        "batch_size": batch,
        "times_s": [seconds],
        "steal_s": [steal],
        "cpu_s": [1.5 * seconds],
        "peak_memory_mib": 100.0 + round_index,
    }


def test_each_round_turns_the_order_of_every_slot_by_one():
    names = [OURS_DEFAULT, OURS_OFF, sbs.PYSLOWFAST]
    first = sbs.schedule([1], [2], names, 0)
    assert first == [
        (OURS_DEFAULT, "inference", 1),
        (OURS_OFF, "inference", 1),
        (sbs.PYSLOWFAST, "inference", 1),
        (OURS_DEFAULT, "trainer", 2),
        (OURS_DEFAULT, "train_on_batch", 2),
        (OURS_OFF, "trainer", 2),
        (OURS_OFF, "train_on_batch", 2),
        (sbs.PYSLOWFAST, "train", 2),
    ]
    second = sbs.schedule([1], [2], names, 1)
    assert second[:3] == [first[1], first[2], first[0]]
    assert second[3:] == first[4:] + first[3:4]
    # Over as many rounds as calls, each call comes first once.
    training = first[3:]
    leaders = {sbs.schedule([1], [2], names, r)[3] for r in range(5)}
    assert leaders == set(training)


def test_the_default_child_gets_no_onednn_variable_and_the_others_theirs():
    environ = {"TF_ENABLE_ONEDNN_OPTS": "1", "PATH": "/bin"}
    assert "TF_ENABLE_ONEDNN_OPTS" not in sbs.child_environment(
        OURS_DEFAULT, environ
    )
    assert sbs.child_environment(OURS_OFF, environ)[
        "TF_ENABLE_ONEDNN_OPTS"
    ] == ("0")
    assert sbs.child_environment("ours/onednn=1", {})[
        "TF_ENABLE_ONEDNN_OPTS"
    ] == ("1")
    theirs = sbs.child_environment(sbs.PYSLOWFAST, environ)
    assert theirs["TF_ENABLE_ONEDNN_OPTS"] == "1" and theirs["PATH"] == "/bin"


def test_ratios_are_medians_of_per_round_ratios_with_the_issues_bars():
    # Seconds per round: ours / PySlowFast inference at batch 1, the
    # trainer, train_on_batch and PySlowFast's step at batch 2, our
    # inference at batch 2.
    ours_b1 = [1.0, 2.0, 1.0]
    theirs_b1 = [2.0, 3.0, 1.6]  # ratios 2.0, 1.5, 1.6
    trainer = [4.0, 5.0, 4.0]
    keras_step = [4.4, 5.0, 4.0]  # ratios 1.1, 1.0, 1.0
    theirs_train = [4.8, 7.0, 5.6]  # ratios 1.2, 1.4, 1.4
    ours_b2 = [1.0, 1.0, 1.2]  # GFLOP/s ratios 0.75, 0.6, 0.9
    rows = []
    for r in range(3):
        rows += [
            _row(OURS_DEFAULT, "inference", 1, r, ours_b1[r]),
            _row(sbs.PYSLOWFAST, "inference", 1, r, theirs_b1[r]),
            _row(OURS_DEFAULT, "trainer", 2, r, trainer[r]),
            _row(OURS_DEFAULT, "train_on_batch", 2, r, keras_step[r]),
            _row(sbs.PYSLOWFAST, "train", 2, r, theirs_train[r]),
            _row(OURS_DEFAULT, "inference", 2, r, ours_b2[r]),
        ]
    entries = sbs.ratios(rows, [OURS_DEFAULT, sbs.PYSLOWFAST])
    found = {
        (e["kind"], e["numerator"], e["denominator"], e["batch_size"]): e
        for e in entries
    }

    def check(key, expected, bar, meets):
        entry = found[key]
        assert entry["ratio"]["median"] == pytest.approx(
            statistics.median(expected)
        )
        assert entry["ratio"]["rounds"] == [0, 1, 2]
        assert entry["bar"] == bar and entry["meets_bar"] is meets

    check(
        (
            "vs_pyslowfast",
            f"{OURS_DEFAULT} inference",
            "pyslowfast inference",
            1,
        ),
        [2.0, 1.5, 1.6],
        1.5,
        True,
    )
    check(
        ("vs_pyslowfast", f"{OURS_DEFAULT} trainer", "pyslowfast train", 2),
        [1.2, 1.4, 1.4],
        1.3,
        True,
    )
    check(
        (
            "vs_pyslowfast",
            f"{OURS_DEFAULT} train_on_batch",
            "pyslowfast train",
            2,
        ),
        [4.8 / 4.4, 1.4, 1.4],
        None,
        None,
    )
    check(
        (
            "trainer_vs_train_on_batch",
            f"{OURS_DEFAULT} trainer",
            f"{OURS_DEFAULT} train_on_batch",
            2,
        ),
        [1.1, 1.0, 1.0],
        None,
        None,
    )
    check(
        (
            "train_vs_inference_gflops",
            f"{OURS_DEFAULT} trainer",
            f"{OURS_DEFAULT} inference",
            2,
        ),
        [0.75, 0.6, 0.9],
        0.8,
        False,
    )
    # PySlowFast has no inference at batch 2 here: no GFLOP/s ratio for it,
    # and nothing compares oneDNN without an `onednn=0` child.
    assert not [k for k in found if k[1] == "pyslowfast train"]
    assert not [k for k in found if k[0] == "onednn_vs_off"]


def test_ratios_skip_failed_rounds_and_compare_onednn_with_off():
    rows = [
        _row(OURS_DEFAULT, "inference", 4, 0, 1.0),
        _row(OURS_OFF, "inference", 4, 0, 3.0),
        _row(OURS_DEFAULT, "inference", 4, 1, 2.0),
        {**_row(OURS_OFF, "inference", 4, 1, 0), "times_s": None, "error": "x"},
    ]
    (entry,) = sbs.ratios(rows, [OURS_DEFAULT, OURS_OFF])
    assert entry["kind"] == "onednn_vs_off"
    assert entry["ratio"]["median"] == pytest.approx(3.0)
    assert entry["ratio"]["rounds"] == [0]


def test_uncontended_rounds_are_those_where_both_calls_had_their_cores():
    # cpu_s = 1.5 x wall: 1.5 cores; round 1's PySlowFast call got 0.5.
    rows = [
        _row(OURS_DEFAULT, "inference", 1, 0, 1.0),
        _row(sbs.PYSLOWFAST, "inference", 1, 0, 1.2),
        _row(OURS_DEFAULT, "inference", 1, 1, 1.0),
        {**_row(sbs.PYSLOWFAST, "inference", 1, 1, 4.0), "cpu_s": [2.0]},
        _row(OURS_DEFAULT, "inference", 1, 2, 1.0),
        _row(sbs.PYSLOWFAST, "inference", 1, 2, 1.4),
    ]
    names = [OURS_DEFAULT, sbs.PYSLOWFAST]
    (entry,) = sbs.ratios(rows, names, threads=1)
    ratio = entry["ratio"]
    assert ratio["median"] == pytest.approx(1.4)
    assert ratio["uncontended_rounds"] == [0, 2]
    assert ratio["uncontended_median"] == pytest.approx(1.3)
    # With 2 threads, 1.5 cores is contended: no round qualifies.
    (entry,) = sbs.ratios(rows, names, threads=2)
    assert entry["ratio"]["uncontended_rounds"] == []
    assert entry["ratio"]["uncontended_median"] is None
    assert "1.30x (2/3)" in sbs.format_ratios("m", sbs.ratios(rows, names, 1))


def test_merge_pools_rounds_into_clips_gflops_and_cores():
    rows = [
        _row(OURS_DEFAULT, "trainer", 2, r, s) for r, s in enumerate([4, 2, 3])
    ]
    rows.append(
        {
            **_row(OURS_DEFAULT, "trainer", 2, 3, 0),
            "times_s": None,
            "error": "boom",
        }
    )
    (entry,) = sbs.merge(rows, macs_per_clip=5e9)
    assert entry["median_s"] == 3
    assert entry["clips_per_s"] == pytest.approx(2 / 3)
    # 2 FLOPs per multiply-add, 3 passes for a training step.
    assert entry["achieved_gflops_per_s"] == pytest.approx(2 * 3 * 5 * 2 / 3)
    assert entry["cores_used"] == pytest.approx(1.5)
    assert entry["peak_memory_mib"] == 103.0
    assert (entry["rounds"], entry["rounds_ok"], entry["errors"]) == (
        4,
        3,
        ["boom"],
    )


def test_serve_warms_up_then_times_each_request(monkeypatch):
    calls = []
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)

    def broken():
        raise RuntimeError("no kernel")

    kept_children.serve(
        {"a@1": lambda: calls.append("a"), "b@1": broken},
        {"name": "x"},
        warmup=2,
        extra=lambda: {"peak_memory_mib": 1.0},
        requests=[
            json.dumps({"step": "a@1", "iters": 3}) + "\n",
            json.dumps({"step": "b@1", "iters": 1}) + "\n",
            json.dumps({"step": "c@1", "iters": 1}) + "\n",
            "\n",
            json.dumps({"step": "a@1", "iters": 1}) + "\n",  # after the end
        ],
    )
    lines = out.getvalue().splitlines()
    ready = json.loads(lines[0].removeprefix(kept_children.READY_PREFIX))
    assert ready["name"] == "x" and set(ready["first_call_s"]) == {"a@1"}
    assert ready["step_errors"] == {"b@1": "RuntimeError: no kernel"}
    answers = [
        json.loads(line.removeprefix(kept_children.RESULT_PREFIX))
        for line in lines[1:]
    ]
    assert len(answers) == 3
    assert len(answers[0]["times_s"]) == len(answers[0]["cpu_s"]) == 3
    assert answers[0]["peak_memory_mib"] == 1.0
    assert answers[1]["error"] == "RuntimeError: no kernel"
    assert "no step 'c@1'" in answers[2]["error"]
    # 2 warm-up calls, then 3 timed ones.
    assert calls == ["a"] * 5


def test_a_kept_child_answers_round_after_round_and_a_dead_one_is_named(
    tmp_path,
):
    (tmp_path / "fake_child.py").write_text(
        textwrap.dedent(
            """
            import os, sys
            from benchmarks import kept_children

            warmed_up = []

            def die():  # once warmed up
                if warmed_up:
                    print("fatal: out of memory", file=sys.stderr, flush=True)
                    os._exit(3)
                warmed_up.append(True)

            print("library chatter on stdout", flush=True)
            calls = {"ok@1": lambda: None, "die@1": die}
            kept_children.serve(calls, {"pid": os.getpid()})
            """
        )
    )
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    child = kept_children.Child("fake", "fake_child", [], env, str(tmp_path))
    try:
        info = child.ready(timeout=60)
        assert info["first_call_s"].keys() == {"ok@1", "die@1"}
        for _ in range(2):
            answer = child.request({"step": "ok@1", "iters": 2}, timeout=60)
            assert len(answer["times_s"]) == 2
        with pytest.raises(kept_children.ChildError, match="status 3.*fatal"):
            child.request({"step": "die@1", "iters": 1}, timeout=60)
    finally:
        child.close()


def _quick(tmp_path, *flags):
    output = tmp_path / "pyslowfast.json"
    completed = run_benchmark(
        ["pyslowfast", "--quick", f"--output={output}", *flags], timeout=900
    )
    return completed, output


def _rows_by_key(model):
    return {(r["implementation"], r["step"]): r for r in model["rows"]}


@pytest.mark.slow
def test_without_a_checkout_only_our_side_runs_and_says_so(tmp_path):
    completed, output = _quick(tmp_path, "--onednn=default,0")
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "pyslowfast           not measured: no --pyslowfast_dir" in (
        completed.stdout
    )
    result = json.loads(output.read_text())
    (model,) = result["models"]
    assert model["pyslowfast"] == sbs.NOT_MEASURED
    assert sbs.PYSLOWFAST not in model["setup"]
    rows = _rows_by_key(model)
    assert set(rows) == {
        (name, step)
        for name in (OURS_DEFAULT, OURS_OFF)
        for step in ("inference", "trainer", "train_on_batch")
    }
    for row in rows.values():
        assert row["batch_size"] == 2 and len(row["times_s"]) == 1
    # The default child gets what `import nonlocal_tf` sets; 0 turns it off.
    default, off = model["setup"][OURS_DEFAULT], model["setup"][OURS_OFF]
    assert (default["onednn_env"], default["onednn_enabled"]) == ("1", True)
    assert (off["onednn_env"], off["onednn_enabled"]) == ("0", False)
    assert default["threads"]["intra_op"] == 2
    kinds = {e["kind"] for e in model["ratios"]}
    assert kinds == {
        "onednn_vs_off",
        "trainer_vs_train_on_batch",
        "train_vs_inference_gflops",
    }
    assert result["settings"]["input_shape"] == [4, 32, 32]


def test_a_directory_that_is_not_a_slowfast_clone_is_one_line(tmp_path):
    completed = run_benchmark(
        ["pyslowfast", "--quick", f"--pyslowfast_dir={tmp_path}"], timeout=120
    )
    assert completed.returncode == 1
    lines = completed.stderr.strip().splitlines()
    assert lines[-1].startswith("error: --pyslowfast_dir:")
    assert "C2D_8x8_R50.yaml" in lines[-1] and "SlowFast" in lines[-1]


@pytest.mark.slow
def test_beside_pyslowfast_both_sides_run_the_same_model(tmp_path):
    checkout = os.environ.get("PYSLOWFAST_DIR")
    if not checkout:
        pytest.skip(
            "PYSLOWFAST_DIR is not set: no clone of facebookresearch/SlowFast "
            "to compare with (this repository keeps none)"
        )
    from benchmarks import pyslowfast_models

    missing = pyslowfast_models.missing_packages()
    if missing:
        pytest.skip(f"PySlowFast's model builder needs {', '.join(missing)}")
    completed, output = _quick(
        tmp_path, "--onednn=default", f"--pyslowfast_dir={checkout}"
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    (model,) = json.loads(output.read_text())["models"]
    assert model["pyslowfast"] is None
    ours, theirs = model["setup"][OURS_DEFAULT], model["setup"][sbs.PYSLOWFAST]
    # Same architecture: PySlowFast's parameter count, and fvcore's count of
    # its multiply-adds near ours (fvcore adds BN and pooling: 6% more at
    # width 4 and 32 x 32, 0.7% at full width and 224 x 224).
    assert theirs["trainable_params"] == ours["trainable_params"]
    assert theirs["fvcore_macs_per_clip"] == pytest.approx(
        ours["macs_per_clip"], rel=0.1
    )
    assert theirs["fvcore_macs_per_clip"] > ours["macs_per_clip"]
    assert theirs["optimizer"]["method"] == "sgd"
    assert theirs["threads"]["torch"] == 2
    rows = _rows_by_key(model)
    assert {k for k in rows if k[0] == sbs.PYSLOWFAST} == {
        (sbs.PYSLOWFAST, "inference"),
        (sbs.PYSLOWFAST, "train"),
    }
    speed = [e for e in model["ratios"] if e["kind"] == "vs_pyslowfast"]
    assert {e["numerator"] for e in speed} == {
        f"{OURS_DEFAULT} inference",
        f"{OURS_DEFAULT} trainer",
        f"{OURS_DEFAULT} train_on_batch",
    }
    for entry in speed:
        ours_row = rows[(OURS_DEFAULT, entry["numerator"].split()[1])]
        their_row = rows[(sbs.PYSLOWFAST, entry["denominator"].split()[1])]
        assert entry["ratio"]["median"] == pytest.approx(
            their_row["times_s"][0] / ours_row["times_s"][0]
        )
    assert "trainable parameters" in completed.stdout
