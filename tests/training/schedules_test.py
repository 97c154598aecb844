"""Learning-rate schedules against hand-computed values."""

import math

import keras
import numpy as np
import pytest

from nonlocal_tf.training import optimizer as optimizer_lib


def _values(schedule, steps):
    return [float(schedule(step)) for step in steps]


def test_step_schedule_matches_paper_recipe():
    # lr 0.01, divided by 10 at 150k and 300k of 400k iterations.
    schedule = optimizer_lib.StepSchedule(0.01, boundaries=[150000, 300000])
    steps = [0, 149999, 150000, 299999, 300000, 399999]
    expected = [0.01, 0.01, 0.001, 0.001, 0.0001, 0.0001]
    np.testing.assert_allclose(_values(schedule, steps), expected, rtol=1e-6)


def test_step_schedule_with_linear_warmup():
    schedule = optimizer_lib.StepSchedule(
        0.1,
        boundaries=[10],
        factor=0.5,
        warmup_steps=4,
        warmup_start_learning_rate=0.02,
    )
    steps = [0, 1, 2, 3, 4, 9, 10, 50]
    expected = [0.02, 0.04, 0.06, 0.08, 0.1, 0.1, 0.05, 0.05]
    np.testing.assert_allclose(_values(schedule, steps), expected, rtol=1e-6)


def test_warmup_cosine_schedule():
    schedule = optimizer_lib.WarmupCosineSchedule(
        0.1, total_steps=110, warmup_steps=10, end_learning_rate=0.001
    )
    steps = [0, 5, 10, 35, 60, 110, 200]
    expected = [
        0.0,
        0.05,
        0.1,
        0.001 + 0.099 * (1 + math.cos(math.pi / 4)) / 2,
        0.001 + 0.099 * 0.5,
        0.001,
        0.001,
    ]
    np.testing.assert_allclose(
        _values(schedule, steps), expected, rtol=1e-6, atol=1e-9
    )


def test_cosine_without_warmup_starts_at_base():
    schedule = optimizer_lib.WarmupCosineSchedule(0.4, total_steps=100)
    np.testing.assert_allclose(
        _values(schedule, [0, 50, 100]), [0.4, 0.2, 0.0], atol=1e-7
    )


@pytest.mark.parametrize(
    "schedule",
    [
        optimizer_lib.StepSchedule(0.01, [5, 9], factor=0.2, warmup_steps=2),
        optimizer_lib.WarmupCosineSchedule(0.1, 50, warmup_steps=5),
    ],
    ids=["step", "cosine"],
)
def test_schedules_round_trip_through_keras_serialization(schedule):
    restored = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(schedule)
    )
    assert type(restored) is type(schedule)
    assert restored.get_config() == schedule.get_config()
    steps = [0, 1, 3, 5, 8, 9, 30, 60]
    np.testing.assert_allclose(
        _values(restored, steps), _values(schedule, steps)
    )


def test_build_schedule_names():
    step = optimizer_lib.build_schedule(
        "step", base_learning_rate=0.1, total_steps=10, boundaries=[5]
    )
    assert float(step(5)) == pytest.approx(0.01)
    constant = optimizer_lib.build_schedule(
        "constant", base_learning_rate=0.3, total_steps=10
    )
    assert float(constant(9)) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="Unknown learning-rate schedule"):
        optimizer_lib.build_schedule(
            "linear", base_learning_rate=0.1, total_steps=1
        )


def test_bad_boundaries_are_rejected():
    with pytest.raises(ValueError, match="strictly increasing"):
        optimizer_lib.StepSchedule(0.1, boundaries=[10, 5])
    with pytest.raises(ValueError, match="warmup_steps < total_steps"):
        optimizer_lib.WarmupCosineSchedule(0.1, total_steps=10, warmup_steps=10)
