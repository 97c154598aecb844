"""Momentum SGD of the reference code and the learning-rate schedules it runs.

The official Caffe2 code (video-nonlocal-net) adds `weight_decay * w` to the
gradient of every non-BN parameter before its `MomentumSGDUpdate` (Nesterov,
`SCALE_MOMENTUM`: the velocity is rescaled when the rate changes, so it holds
gradients, not rate-scaled steps). `MomentumSGD` does exactly that:

    g' = g + weight_decay * w          (decayed variables only)
    v  = momentum * v + g'
    w  = w - lr * (g' + momentum * v)  (Nesterov)   or   w - lr * v

which is also `torch.optim.SGD(nesterov=True, weight_decay=...)` (PySlowFast).
Two differences from `keras.optimizers.SGD(weight_decay=...)` make it a
separate class: Keras decays decoupled (`w -= lr * wd * w`, not through the
velocity) and keeps `lr` inside the velocity (at a step of the schedule the
old rate keeps acting for ~1/(1-momentum) steps).

The schedules of the paper's recipe (`StepSchedule`, `WarmupCosineSchedule`)
take the optimizer's 0-based step (the number of updates done before this
one) and are `keras.optimizers.schedules.LearningRateSchedule`s, so they
round-trip through `get_config` / `keras.saving`.
"""

import math

import keras
import tensorflow as tf
from keras import ops

NORMALIZATION_LAYERS = (
    keras.layers.BatchNormalization,
    keras.layers.LayerNormalization,
    keras.layers.GroupNormalization,
)


@keras.saving.register_keras_serializable(package="nonlocal_tf")
class MomentumSGD(keras.optimizers.Optimizer):
    """SGD with (Nesterov) momentum and coupled L2 weight decay (Caffe2 form).

    Variables passed to `exclude_from_weight_decay` get no decay (use
    `weight_decay_exclusions(model)` for BN parameters and biases).

    Args:
        learning_rate: Float or `LearningRateSchedule`.
        momentum: Momentum coefficient in [0, 1).
        nesterov: Nesterov momentum (the reference recipe uses it).
        weight_decay: L2 coefficient added to the gradient (`g + wd * w`).
        name: Optimizer name.
        **kwargs: Other `keras.optimizers.Optimizer` arguments (clipnorm, ...).

    Example:
        >>> optimizer = MomentumSGD(StepSchedule(0.01, [150000, 300000]),
        ...                         momentum=0.9, weight_decay=1e-4)
        >>> optimizer.exclude_from_weight_decay(
        ...     var_list=weight_decay_exclusions(model))
    """

    def __init__(
        self,
        learning_rate=0.01,
        momentum=0.9,
        nesterov=True,
        weight_decay=1e-4,
        name="momentum_sgd",
        **kwargs,
    ):
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"`momentum` must be in [0, 1), got {momentum}")
        if weight_decay is not None and weight_decay < 0:
            raise ValueError(f"`weight_decay` must be >= 0, got {weight_decay}")
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            name=name,
            **kwargs,
        )
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self._rate_multipliers = {}

    def set_learning_rate_multiplier(self, var_list, multiplier):
        """Scales the learning rate of `var_list` by `multiplier`.

        Call before the first step (fine-tuning: a faster new head).

        Example:
            >>> optimizer.set_learning_rate_multiplier(head_variables, 10.0)
        """
        for variable in var_list:
            self._rate_multipliers[self._var_key(variable)] = float(multiplier)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.momentums = []
        if self.momentum:
            self.momentums = self.add_optimizer_variables(variables, "momentum")

    def _apply_weight_decay(self, variables):
        # Decay is coupled (added to the gradient in update_step), not the
        # decoupled `w -= lr * wd * w` of the Keras base class.
        return

    def update_step(self, gradient, variable, learning_rate):
        multiplier = self._rate_multipliers.get(self._var_key(variable), 1.0)
        if multiplier != 1.0:
            learning_rate = ops.multiply(learning_rate, multiplier)
        learning_rate = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        if self.weight_decay and self._use_weight_decay(variable):
            decay = ops.cast(self.weight_decay, variable.dtype)
            gradient = ops.add(gradient, ops.multiply(decay, variable))
        if isinstance(variable, tf.Variable) and not isinstance(
            gradient, tf.IndexedSlices
        ):
            self._fused_update(gradient, variable, learning_rate)
            return
        if not self.momentum:
            self.assign_sub(variable, ops.multiply(learning_rate, gradient))
            return
        momentum = ops.cast(self.momentum, variable.dtype)
        velocity = self.momentums[self._get_variable_index(variable)]
        new_velocity = ops.add(ops.multiply(momentum, velocity), gradient)
        self.assign(velocity, new_velocity)
        if self.nesterov:
            step = ops.add(gradient, ops.multiply(momentum, new_velocity))
        else:
            step = new_velocity
        self.assign_sub(variable, ops.multiply(learning_rate, step))

    def _fused_update(self, gradient, variable, learning_rate):
        # One TensorFlow kernel per variable (velocity and weight together)
        # instead of five element-wise passes; the same formulas
        # (`accum = m * accum + g; w -= lr * g + lr * m * accum`).
        if not self.momentum:
            tf.raw_ops.ResourceApplyGradientDescent(
                var=variable.handle, alpha=learning_rate, delta=gradient
            )
            return
        velocity = self.momentums[self._get_variable_index(variable)]
        tf.raw_ops.ResourceApplyMomentum(
            var=variable.handle,
            accum=velocity.value.handle,
            lr=learning_rate,
            grad=gradient,
            momentum=ops.cast(self.momentum, variable.dtype),
            use_nesterov=self.nesterov,
        )

    def get_config(self):
        config = super().get_config()
        config.update({"momentum": self.momentum, "nesterov": self.nesterov})
        return config


def _sublayers(model):
    # Keras has no public recursive layer walk; `_flatten_layers` is the one
    # Keras itself uses for weights and summaries.
    return list(model._flatten_layers(include_self=True, recursive=True))


def weight_decay_exclusions(model, *, exclude_norm=True, exclude_bias=True):
    """The trainable variables that get no weight decay.

    Args:
        model: A built Keras model.
        exclude_norm: Exclude all variables of normalization layers (BN
            gamma/beta, as the reference's `WEIGHT_DECAY_BN 0.0`).
        exclude_bias: Exclude variables named `bias`.

    Returns:
        A list of variables (a subset of `model.trainable_variables`).

    Example:
        >>> excluded = weight_decay_exclusions(model)
        >>> sorted(v.path for v in excluded)
    """
    excluded = {}
    if exclude_norm:
        for layer in _sublayers(model):
            if isinstance(layer, NORMALIZATION_LAYERS):
                for variable in layer.trainable_variables:
                    excluded[id(variable)] = variable
    if exclude_bias:
        for variable in model.trainable_variables:
            if variable.name == "bias":
                excluded[id(variable)] = variable
    return [v for v in model.trainable_variables if id(v) in excluded]


def build_optimizer(
    model,
    learning_rate,
    *,
    momentum=0.9,
    nesterov=True,
    weight_decay=1e-4,
    decay_norm=False,
    decay_bias=False,
    loss_scaling=False,
    head_variables=(),
    head_learning_rate_multiplier=1.0,
):
    """Builds `MomentumSGD` for `model` with BN/bias exclusions applied.

    Call inside the strategy's scope. The optimizer is built on the model's
    trainable variables (its slots exist before a checkpoint is restored).

    Args:
        model: A built Keras model.
        learning_rate: Float or `LearningRateSchedule`.
        momentum: Momentum coefficient.
        nesterov: Nesterov momentum.
        weight_decay: L2 coefficient (`0` or `None`: no decay).
        decay_norm: Also decay normalization parameters.
        decay_bias: Also decay biases.
        loss_scaling: Wrap in `keras.optimizers.LossScaleOptimizer` (dynamic
            loss scaling, for `mixed_float16`).
        head_variables: the classifier's variables (fine-tuning).
        head_learning_rate_multiplier: their learning rate, relative.

    Returns:
        The optimizer (a `LossScaleOptimizer` around `MomentumSGD` when
        `loss_scaling`).

    Example:
        >>> optimizer = build_optimizer(model, 0.01, weight_decay=1e-4)
    """
    optimizer = MomentumSGD(
        learning_rate,
        momentum=momentum,
        nesterov=nesterov,
        weight_decay=weight_decay or None,
    )
    optimizer.exclude_from_weight_decay(
        var_list=weight_decay_exclusions(
            model, exclude_norm=not decay_norm, exclude_bias=not decay_bias
        )
    )
    if head_learning_rate_multiplier != 1.0:
        optimizer.set_learning_rate_multiplier(
            head_variables, head_learning_rate_multiplier
        )
    if loss_scaling:
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    optimizer.build(model.trainable_variables)
    return optimizer


# ---------------------------------------------------------------- schedules


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
