"""The programs' first lines: their own `--help` (exit 0) and a start-up
without TensorFlow's notices.

`cli.run` imports TensorFlow after the flags are parsed, without its start-up
notices, so a program's module must not import TensorFlow itself. The
environment here is a user's: no `TF_CPP_MIN_LOG_LEVEL`, no
`CUDA_VISIBLE_DEVICES` (on a machine without a GPU, TensorFlow then logs
`failed call to cuInit` as an error), no `TF_ENABLE_ONEDNN_OPTS` (which
`import nonlocal_tf` sets to 1 unless set, before TensorFlow loads).
"""

import json
import os
import subprocess
import sys

import pytest

from tests import cli_helpers
from tests.scripts import helpers

PROGRAMS = sorted(p.stem for p in (helpers.REPO_ROOT / "scripts").glob("*.py"))
# What TensorFlow writes when it starts (C++ log lines).
NOTICES = (
    "cuInit",
    "oneDNN custom operations",
    "absl::InitializeLog",
    "cpu_feature_guard",
    "cudart_stub",
)
# The program's docstring, its own flags (defined or adopted) and whether
# importing its module loaded TensorFlow.
_KEY_FLAGS = """
import importlib, json, sys
from absl import flags
module = importlib.import_module("nonlocal_tf.programs." + sys.argv[1])
names = [f.name for f in flags.FLAGS.get_key_flags_for_module(module)]
tensorflow = "tensorflow" in sys.modules
print(json.dumps({"doc": module.__doc__, "flags": names, "tf": tensorflow}))
"""


def user_env(**extra):
    env = dict(os.environ)
    for name in (
        "PYTHONPATH",
        "TF_CPP_MIN_LOG_LEVEL",
        "TF_ENABLE_ONEDNN_OPTS",
        "CUDA_VISIBLE_DEVICES",
    ):
        env.pop(name, None)
    env.update(extra)
    return env


def _run(argv, **env):
    return subprocess.run(
        [sys.executable, *map(str, argv)],
        cwd=helpers.REPO_ROOT,
        env=user_env(**env),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.parametrize("name", PROGRAMS)
def test_help_shows_the_programs_doc_and_flags_and_exits_0(name):
    probe = _run(["-c", _KEY_FLAGS, name])
    assert probe.returncode == 0, probe.stderr[-3000:]
    module = json.loads(probe.stdout)
    assert not module["tf"], f"importing {name} imports TensorFlow"
    completed = _run([helpers.REPO_ROOT / "scripts" / f"{name}.py", "--help"])
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stderr == ""
    text = completed.stdout
    assert text.startswith(module["doc"].strip().splitlines()[0]), text[:300]
    listed = {line.split(":")[0].strip() for line in text.splitlines()}
    for flag in module["flags"]:
        assert {f"--{flag}", f"--[no]{flag}"} & listed or any(
            item.endswith(f",--{flag}") for item in listed
        ), f"{name} --help lacks --{flag}"
    assert "Try --helpfull" in text


def test_train_help_lists_its_config_and_shared_flags():
    completed = _run([helpers.REPO_ROOT / "scripts" / "train.py", "--help"])
    assert completed.returncode == 0, completed.stderr
    for flag in (
        "model_dir",
        "epochs",
        "schedule",
        "base_learning_rate",
        "batch_size_per_replica",
        "lr_boundaries",
        "model",
        "width_per_group",
        "num_frames",
        "jitter_scales",
    ):
        assert f"  --{flag}: " in completed.stdout, flag


def test_a_user_error_is_the_only_line(tmp_path):
    completed = _run(
        [
            helpers.REPO_ROOT / "scripts" / "check_records.py",
            f"--records={tmp_path}/missing-*.tfrecord",
        ]
    )
    line = cli_helpers.assert_user_error(completed, "missing-*.tfrecord")
    assert completed.stderr.splitlines() == [line], completed.stderr[-3000:]
    for notice in NOTICES:
        assert notice not in completed.stderr


def test_tf_cpp_min_log_level_0_shows_tensorflows_log(tmp_path):
    completed = _run(
        [
            helpers.REPO_ROOT / "scripts" / "check_records.py",
            f"--records={tmp_path}/missing-*.tfrecord",
        ],
        TF_CPP_MIN_LOG_LEVEL="0",
    )
    cli_helpers.assert_user_error(completed, "missing-*.tfrecord")
    assert "oneDNN custom operations" in completed.stderr


@pytest.mark.parametrize(
    "code, env, expected",
    [
        ("import nonlocal_tf", {}, "1"),
        ("import nonlocal_tf", {"TF_ENABLE_ONEDNN_OPTS": "0"}, "0"),
        # Too late for TensorFlow: nonlocal_tf leaves it alone.
        ("import tensorflow, nonlocal_tf", {}, None),
    ],
)
def test_onednn_is_on_unless_set_or_too_late(code, env, expected):
    completed = _run(
        [
            "-c",
            f"{code}; import os, json; "
            "print(json.dumps(os.environ.get('TF_ENABLE_ONEDNN_OPTS')))",
        ],
        TF_CPP_MIN_LOG_LEVEL="3",
        **env,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert json.loads(completed.stdout) == expected


@pytest.mark.parametrize("env", [{}, {"TF_ENABLE_ONEDNN_OPTS": "0"}])
def test_too_late_warns_with_the_fix_only_where_onednn_is_off(env):
    """TensorFlow imported first: a warning iff its oneDNN kernels are off
    (CPUs without AVX-512) and the user has not chosen."""
    completed = _run(
        [
            "-c",
            "import tensorflow, nonlocal_tf; "
            "from tensorflow.python.util import _pywrap_util_port; "
            "print(_pywrap_util_port.IsMklEnabled())",
        ],
        TF_CPP_MIN_LOG_LEVEL="3",
        **env,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    onednn_on = completed.stdout.strip() == "True"
    warned = "TF_ENABLE_ONEDNN_OPTS=1" in completed.stderr
    assert warned == (not onednn_on and not env), completed.stderr[-3000:]
