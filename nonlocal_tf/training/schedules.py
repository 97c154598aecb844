"""Learning-rate schedules of the paper's recipe, as serialisable Keras objects.

Both schedules take the optimizer's 0-based step (the number of updates done
before this one) and are `keras.optimizers.schedules.LearningRateSchedule`s,
so they round-trip through `get_config` / `keras.saving`.
"""

import math

import keras
from keras import ops


def _with_linear_warmup(step, rate, warmup_steps, start, target):
    """`rate`, replaced before `warmup_steps` by a ramp from start to target."""
    fraction = ops.divide(step, float(max(warmup_steps, 1)))
    warm = ops.add(start, ops.multiply(ops.subtract(target, start), fraction))
    return ops.where(ops.less(step, float(warmup_steps)), warm, rate)


@keras.saving.register_keras_serializable(package="nonlocal_tf")
class StepSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Piecewise-constant decay: `base * factor ** (boundaries passed)`.

    The paper's Kinetics recipe (lr 0.01, divided by 10 every 150k of 400k
    iterations) is `StepSchedule(0.01, boundaries=[150000, 300000])`.
    From step `b` on (0-based), the rate includes the decay of boundary `b`.
    An optional linear warm-up goes from `warmup_start_learning_rate` at step
    0 to the step schedule's value at `warmup_steps`.

    Args:
        base_learning_rate: Rate before the first boundary.
        boundaries: Increasing step numbers at which the rate is multiplied by
            `factor`.
        factor: Multiplier applied at each boundary.
        warmup_steps: Length of the linear warm-up (0: none).
        warmup_start_learning_rate: Rate at step 0 when warming up.

    Example:
        >>> schedule = StepSchedule(0.01, boundaries=[150000, 300000])
        >>> float(schedule(200000))  # 0.001
    """

    def __init__(
        self,
        base_learning_rate,
        boundaries=(),
        factor=0.1,
        warmup_steps=0,
        warmup_start_learning_rate=0.0,
    ):
        boundaries = [int(b) for b in boundaries]
        if any(b <= 0 for b in boundaries) or boundaries != sorted(
            set(boundaries)
        ):
            raise ValueError(
                "`boundaries` must be strictly increasing positive step "
                f"numbers. Received: boundaries={boundaries}"
            )
        if base_learning_rate <= 0 or factor <= 0:
            raise ValueError(
                "`base_learning_rate` and `factor` must be > 0. Received: "
                f"base_learning_rate={base_learning_rate}, factor={factor}"
            )
        if warmup_steps < 0:
            raise ValueError(f"`warmup_steps` must be >= 0, got {warmup_steps}")
        self.base_learning_rate = float(base_learning_rate)
        self.boundaries = boundaries
        self.factor = float(factor)
        self.warmup_steps = int(warmup_steps)
        self.warmup_start_learning_rate = float(warmup_start_learning_rate)

    def _decayed(self, step):
        rate = ops.convert_to_tensor(self.base_learning_rate, "float32")
        for boundary in self.boundaries:
            rate = ops.where(
                ops.greater_equal(step, float(boundary)),
                ops.multiply(rate, self.factor),
                rate,
            )
        return rate

    def __call__(self, step):
        step = ops.cast(step, "float32")
        rate = self._decayed(step)
        if self.warmup_steps:
            rate = _with_linear_warmup(
                step,
                rate,
                self.warmup_steps,
                self.warmup_start_learning_rate,
                self._decayed(float(self.warmup_steps)),
            )
        return rate

    def get_config(self):
        return {
            "base_learning_rate": self.base_learning_rate,
            "boundaries": list(self.boundaries),
            "factor": self.factor,
            "warmup_steps": self.warmup_steps,
            "warmup_start_learning_rate": self.warmup_start_learning_rate,
        }


@keras.saving.register_keras_serializable(package="nonlocal_tf")
class WarmupCosineSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up, then half-cosine decay from the base rate to `end`.

    For step `s` (0-based) with `w = warmup_steps`, `T = total_steps`:
    `s < w`: `start + (base - start) * s / w`;
    `s >= w`: `end + (base - end) * (1 + cos(pi * (s - w) / (T - w))) / 2`
    (constant `end` after `T`).

    Args:
        base_learning_rate: Peak rate, reached at the end of the warm-up.
        total_steps: Step at which the cosine reaches `end_learning_rate`.
        warmup_steps: Length of the linear warm-up (0: none).
        warmup_start_learning_rate: Rate at step 0.
        end_learning_rate: Final rate.

    Example:
        >>> schedule = WarmupCosineSchedule(0.1, total_steps=1000,
        ...                                 warmup_steps=100)
        >>> float(schedule(100))  # 0.1
    """

    def __init__(
        self,
        base_learning_rate,
        total_steps,
        warmup_steps=0,
        warmup_start_learning_rate=0.0,
        end_learning_rate=0.0,
    ):
        if not 0 <= warmup_steps < total_steps:
            raise ValueError(
                "Need 0 <= warmup_steps < total_steps. Received: "
                f"warmup_steps={warmup_steps}, total_steps={total_steps}"
            )
        if base_learning_rate <= 0:
            raise ValueError(
                f"`base_learning_rate` must be > 0, got {base_learning_rate}"
            )
        self.base_learning_rate = float(base_learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.warmup_start_learning_rate = float(warmup_start_learning_rate)
        self.end_learning_rate = float(end_learning_rate)

    def __call__(self, step):
        step = ops.cast(step, "float32")
        decay_steps = float(self.total_steps - self.warmup_steps)
        progress = ops.clip(
            ops.divide(ops.subtract(step, self.warmup_steps), decay_steps),
            0.0,
            1.0,
        )
        cosine = ops.multiply(0.5, ops.add(1.0, ops.cos(math.pi * progress)))
        rate = ops.add(
            self.end_learning_rate,
            ops.multiply(
                self.base_learning_rate - self.end_learning_rate, cosine
            ),
        )
        if self.warmup_steps:
            rate = _with_linear_warmup(
                step,
                rate,
                self.warmup_steps,
                self.warmup_start_learning_rate,
                self.base_learning_rate,
            )
        return rate

    def get_config(self):
        return {
            "base_learning_rate": self.base_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "warmup_start_learning_rate": self.warmup_start_learning_rate,
            "end_learning_rate": self.end_learning_rate,
        }


def build_schedule(
    name,
    *,
    base_learning_rate,
    total_steps,
    boundaries=(),
    factor=0.1,
    warmup_steps=0,
    warmup_start_learning_rate=0.0,
    end_learning_rate=0.0,
):
    """Returns the schedule called `name` (`"step"`, `"cosine"`, `"constant"`).

    Example:
        >>> build_schedule("step", base_learning_rate=0.01,
        ...                total_steps=400000, boundaries=[150000, 300000])
    """
    if name == "step":
        return StepSchedule(
            base_learning_rate,
            boundaries=boundaries,
            factor=factor,
            warmup_steps=warmup_steps,
            warmup_start_learning_rate=warmup_start_learning_rate,
        )
    if name == "constant":
        return StepSchedule(
            base_learning_rate,
            warmup_steps=warmup_steps,
            warmup_start_learning_rate=warmup_start_learning_rate,
        )
    if name == "cosine":
        return WarmupCosineSchedule(
            base_learning_rate,
            total_steps=total_steps,
            warmup_steps=warmup_steps,
            warmup_start_learning_rate=warmup_start_learning_rate,
            end_learning_rate=end_learning_rate,
        )
    raise ValueError(
        "Unknown learning-rate schedule "
        f"{name!r}; expected 'step', 'cosine' or 'constant'."
    )
