"""train.py's flags: one per `TrainConfig` field, with its default and
choices, each passed through to the run's config."""

import dataclasses
import json
import subprocess
import sys

import pytest

from nonlocal_tf.training import config as config_lib
from nonlocal_tf.training import peers
from nonlocal_tf.training import strategy as strategy_lib
from tests.scripts import helpers

# Parses train's flags from the command line, prints its flags and config.
_PROBE = """
import json, sys
from absl import flags
from nonlocal_tf.programs import train
flags.FLAGS(["train", *sys.argv[1:]])
print(json.dumps({
    "names": list(flags.FLAGS),
    "flags": {
        f.name: {
            "default": f.default,
            "type": f.flag_type(),
            "choices": getattr(f.parser, "enum_values", None),
        }
        for f in flags.FLAGS.get_key_flags_for_module(train)
    },
    "config": train.make_config(1, {"x": 1}).to_dict(),
}))
"""
REQUIRED = ["--model=C2D_8x8_R50", "--train_records=x", "--model_dir=/tmp/r"]
# train's own defaults where TrainConfig has none or another.
PROGRAM_DEFAULTS = {
    "model_dir": None,
    "batch_size_per_replica": 8,
    "log_every_steps": 50,
}
FLAG_TYPES = {
    int: "int",
    int | None: "int",
    float: "float",
    bool: "bool",
    str: "string",
    list: "comma separated list of strings",
}
CHOICES = {
    "schedule": config_lib.SCHEDULES,
    "mixed_precision": config_lib.PRECISION_POLICIES,
    "strategy": strategy_lib.STRATEGIES,
}


def probe(*args):
    completed = subprocess.run(
        [sys.executable, "-c", _PROBE, *REQUIRED, *args],
        cwd=helpers.REPO_ROOT,
        env=helpers.script_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout)


@pytest.fixture(scope="module")
def defaults():
    return probe("--train_steps=10")


def _fields():
    fields = dataclasses.fields(config_lib.TrainConfig)
    return [f for f in fields if f.name != "extra"]


def test_every_config_field_is_a_flag_with_its_default(defaults):
    for field in _fields():
        flag = defaults["flags"][field.name]
        if field.name in PROGRAM_DEFAULTS:
            expected = PROGRAM_DEFAULTS[field.name]
        elif field.default_factory is not dataclasses.MISSING:
            expected = field.default_factory()
        else:
            expected = field.default
        assert flag["default"] == expected, field.name
        if field.name in CHOICES:
            assert flag["choices"] == list(CHOICES[field.name]), field.name
        else:
            assert flag["type"] == FLAG_TYPES[field.type], field.name


def test_peer_timeout_defaults_to_the_library_default(defaults):
    flag = defaults["flags"]["peer_timeout_seconds"]
    assert flag["default"] == peers.DEFAULT_PEER_TIMEOUT_SECONDS


def test_the_old_aliases_are_gone(defaults):
    for old in ("base_lr", "lr_schedule", "warmup_start_lr", "end_lr"):
        assert old not in defaults["names"]


def test_default_config(defaults):
    expected = config_lib.TrainConfig(
        model_dir="/tmp/r",
        batch_size_per_replica=8,
        train_steps=10,
        log_every_steps=50,
        extra={"x": 1},
    )
    assert defaults["config"] == expected.to_dict()


def test_every_flag_reaches_the_config():
    config = probe(
        "--batch_size_per_replica=3",
        "--train_steps=12",
        "--epochs=3",
        "--steps_per_epoch=4",
        "--schedule=cosine",
        "--base_learning_rate=0.5",
        "--lr_boundaries=2,4",
        "--lr_factor=0.5",
        "--warmup_steps=2",
        "--warmup_start_learning_rate=0.01",
        "--end_learning_rate=0.001",
        "--momentum=0.8",
        "--nonesterov",
        "--weight_decay=0.001",
        "--decay_norm",
        "--decay_bias",
        "--freeze=bn",
        "--head_learning_rate_multiplier=10",
        "--label_smoothing=0.1",
        "--multi_label",
        "--from_logits",
        "--mixed_precision=mixed_bfloat16",
        "--strategy=mirrored",
        "--seed=3",
        "--deterministic",
        "--jit_compile",
        "--checkpoint_every_steps=5",
        "--max_checkpoints=2",
        "--log_every_steps=7",
        "--noprogress_bar",
    )["config"]
    expected = config_lib.TrainConfig(
        model_dir="/tmp/r",
        batch_size_per_replica=3,
        train_steps=12,
        epochs=3,
        steps_per_epoch=4,
        schedule="cosine",
        base_learning_rate=0.5,
        lr_boundaries=[2, 4],
        lr_factor=0.5,
        warmup_steps=2,
        warmup_start_learning_rate=0.01,
        end_learning_rate=0.001,
        momentum=0.8,
        nesterov=False,
        weight_decay=0.001,
        decay_norm=True,
        decay_bias=True,
        freeze="bn",
        head_learning_rate_multiplier=10.0,
        label_smoothing=0.1,
        multi_label=True,
        from_logits=True,
        mixed_precision="mixed_bfloat16",
        strategy="mirrored",
        seed=3,
        deterministic=True,
        jit_compile=True,
        checkpoint_every_steps=5,
        max_checkpoints=2,
        log_every_steps=7,
        progress_bar=False,
        extra={"x": 1},
    )
    assert config == expected.to_dict()
    assert {f.name for f in _fields()} <= set(config)


def test_epoch_settings_become_steps():
    config = probe(
        "--steps_per_epoch=4",
        "--epochs=3",
        "--lr_boundary_epochs=1,2.5",
        "--warmup_epochs=0.5",
    )["config"]
    assert config["train_steps"] == 12
    assert config["lr_boundaries"] == [4, 10]
    assert config["warmup_steps"] == 2
