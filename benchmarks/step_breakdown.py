r"""Where a training step's time goes: the trainer's step taken apart.

Builds a zoo model and the step `scripts/train.py` runs
(`trainer.build_training_step`: Caffe2 momentum SGD, Nesterov, weight
decay off BN and biases) on random clips held in memory, then times, in
interleaved rounds (median per part):

  input       the step's input hand-off alone (iterator, per-replica values)
  forward     forward pass (training=True) and loss, plain tf.function
  fwd+bwd     forward, loss and gradients (GradientTape), plain tf.function
  update      the optimizer's weight-decay + momentum update on fixed
              gradients
  update+ls   the same through a LossScaleOptimizer (what mixed_float16
              adds; not built when loss scaling is off)
  fwd+bwd+upd forward, backward and update in one plain tf.function
  step        the trainer's step (input, strategy.run, reduce)
  step+host   the step and the per-step host work of the training loop
              (the results converted to floats)
  keras       `model.train_on_batch` with the same optimizer and loss

and derives backward (fwd+bwd - forward) and the distribution and input
overhead (step - fwd+bwd+upd). Rounds alternate their order (the order of
PARTS, then reversed) and record the CPU time stolen from the machine
during each call (Linux). With both `step+host` and `keras` timed, the
trainer's speed over `train_on_batch` is also given as the median of the
per-round ratios with a bootstrap 95% interval, over all rounds and over the
quiet ones (`paired_timing`). Prints a table and writes JSON:

  python -m benchmarks.step_breakdown --model=C2D_8x8_R50 \
      --batch_size=2 --output=benchmarks/step_breakdown.json

  python -m benchmarks.step_breakdown --model=I3D_NLN_8x8_R50 \
      --batch_size=4 --parts=step+host,keras --rounds=12
"""

import operator
import platform
import statistics

from absl import flags

from benchmarks import paired_timing
from nonlocal_tf import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "C2D_8x8_R50", "Zoo model name or alias.")
flags.DEFINE_integer("batch_size", 2, "Clips per step (per replica).")
flags.DEFINE_enum(
    "strategy", "default", ["default", "mirrored"], "Distribution strategy."
)
flags.DEFINE_boolean("jit_compile", False, "XLA for the trainer's step.")
flags.DEFINE_integer("rounds", 3, "Timed rounds (median per part).")
flags.DEFINE_list(
    "input_shape", None, "T,H,W of the clips; default the entry's (8,224,224)."
)
flags.DEFINE_integer("width_per_group", 64, "64: the published width.")
flags.DEFINE_string("output", "benchmarks/step_breakdown.json", "JSON out.")

PARTS = (
    "input",
    "forward",
    "fwd+bwd",
    "update",
    "update+ls",
    "fwd+bwd+upd",
    "step",
    "step+host",
    "keras",
)
flags.DEFINE_list("parts", list(PARTS), f"Parts timed, of {', '.join(PARTS)}.")

# name: (part a, part b, how a and b's medians combine)
DERIVED = {
    "backward": ("fwd+bwd", "forward", operator.sub),
    "distribution_and_input": ("step", "fwd+bwd+upd", operator.sub),
    "host_work": ("step+host", "step", operator.sub),
    "loss_scaling": ("update+ls", "update", operator.sub),
    "step_over_keras_speed": ("keras", "step", operator.truediv),
    "update_share_of_step": ("update", "step", operator.truediv),
}


def _parts(config, built, strategy, clips, labels):
    """`{part: call}` of the breakdown (see the module docstring)."""
    import keras
    import tensorflow as tf

    from benchmarks import trainer_timing
    from nonlocal_tf.training import optimizer as optimizer_lib
    from nonlocal_tf.training import step as step_lib

    model, optimizer = built.model, built.optimizer
    variables = model.trainable_variables
    x, y = tf.constant(clips), tf.constant(labels)
    batch = built.global_batch_size

    def loss_of():
        return step_lib.replica_loss(config, model, x, y, batch)[0]

    @tf.function
    def forward():
        return loss_of()

    @tf.function
    def forward_backward():
        with tf.GradientTape() as tape:
            loss = loss_of()
        return tape.gradient(loss, variables)

    @tf.function
    def fused():
        with tf.GradientTape() as tape:
            loss = loss_of()
        optimizer.apply(tape.gradient(loss, variables), variables)
        return loss

    @tf.function
    def input_only():
        values = built.data.distributed_next(strategy)
        return strategy.experimental_local_results(values)[0][1]

    gradients = forward_backward()
    with strategy.scope():
        scaled = optimizer_lib.build_optimizer(
            model, built.schedule, loss_scaling=True
        )
        model.compile(
            optimizer=trainer_timing.keras_optimizer(model),
            loss=keras.losses.SparseCategoricalCrossentropy(),
        )

    @tf.function
    def update():
        optimizer.apply(gradients, variables)

    @tf.function
    def update_scaled():
        scaled.apply(gradients, variables)

    return {
        "input": input_only,
        "forward": forward,
        "fwd+bwd": forward_backward,
        "update": update,
        "update+ls": update_scaled,
        "fwd+bwd+upd": fused,
        "step": built.step,
        "step+host": lambda: trainer_timing.run_steps_host_work(built.step),
        "keras": lambda: model.train_on_batch(clips, labels),
    }


def breakdown(name, batch_size, *, strategy_name="default", jit_compile=False,
              rounds=3, input_shape=None, width_per_group=64,
              parts=PARTS):  # fmt: skip
    """Times the parts of the trainer's step on zoo model `name`.

    Args:
        name: Zoo model name or alias (random weights).
        batch_size: Clips per replica per step.
        strategy_name: `"default"` or `"mirrored"` (one replica on CPU).
        jit_compile: XLA for the trainer's step.
        rounds: Timed rounds, each part once per round (after one warm-up
            call of each).
        input_shape: `(T, H, W, 3)`; default the entry's.
        width_per_group: 64 for the published width.
        parts: The parts timed (names from `PARTS`).

    Returns:
        A dict: the setting, `parts` (`{part: median seconds}`), `times_s`
        and `steal_s` (every round), `derived` (backward, distribution
        overhead, host work, ratios, where their parts were timed) and
        `paired` (`paired_timing.paired_ratio` of `keras` over `step+host`,
        or None).
    """
    unknown = sorted(set(parts) - set(PARTS))
    if unknown or not parts:
        raise ValueError(
            f"--parts: unknown or none {unknown or list(parts)}; choose from "
            f"{', '.join(PARTS)}"
        )
    from benchmarks import model_timing
    from benchmarks import trainer_timing
    from nonlocal_tf import zoo
    from nonlocal_tf.training import strategy as strategy_lib

    shape = tuple(input_shape or zoo.get_entry(name).input_shape)
    strategy = strategy_lib.create_strategy(strategy_name)
    model_fn = trainer_timing.zoo_model_fn(name, shape, width_per_group)
    config = trainer_timing.train_config(
        batch_size, strategy=strategy_name, jit_compile=jit_compile
    )
    clips, labels = model_timing.random_inputs(
        batch_size, shape, zoo.get_entry(name).num_classes
    )
    built = trainer_timing.build_trainer_step(
        config, model_fn, clips, labels, strategy
    )
    every = _parts(config, built, strategy, clips, labels)
    calls = {part: every[part] for part in PARTS if part in parts}
    times, steals = _time_rounds(calls, rounds)
    medians = {part: statistics.median(t) for part, t in times.items()}
    paired = None
    if "keras" in calls and "step+host" in calls:
        paired = paired_timing.paired_ratio(
            times["keras"],
            times["step+host"],
            steals["keras"],
            steals["step+host"],
        )
    return {
        "model": zoo.get_entry(name).name,
        "batch_size": batch_size,
        "strategy": strategy_name,
        "jit_compile": jit_compile,
        "input_shape": list(shape),
        "width_per_group": width_per_group,
        "rounds": rounds,
        "machine": platform.machine(),
        "parts": medians,
        "times_s": times,
        "steal_s": steals,
        "derived": {
            name: combine(medians[a], medians[b])
            for name, (a, b, combine) in DERIVED.items()
            if a in medians and b in medians
        },
        "paired": paired,
    }


def _time_rounds(calls, rounds):
    """`(times, steals)`: `{part: [seconds per round]}` each.

    One untimed call of each part first; then each round calls every part
    once, in `calls`' order in even rounds and reversed in odd ones.
    """
    for call in calls.values():
        call()
    times = {part: [] for part in calls}
    steals = {part: [] for part in calls}
    order = list(calls)
    for round_index in range(rounds):
        for part in order if round_index % 2 == 0 else order[::-1]:
            wall, stolen = paired_timing.timed_call(calls[part])
            times[part].append(wall)
            steals[part].append(stolen)
    return times, steals


def format_breakdown(result):
    """The breakdown as a fixed-width table."""
    parts, derived = result["parts"], result["derived"]
    reference = next(p for p in ("step", "step+host", *parts) if p in parts)
    step = parts[reference]
    lines = [
        f"{result['model']} batch {result['batch_size']} "
        f"strategy {result['strategy']} jit_compile {result['jit_compile']} "
        f"({result['rounds']} rounds, median)",
        f"{'part':22} {'seconds':>8} {'% of ' + reference:>14}",
        "-" * 46,
    ]
    rows = list(parts.items()) + [
        (f"= {k}", v) for k, v in derived.items() if not k.endswith(
            ("speed", "share_of_step")
        )
    ]  # fmt: skip
    for part, seconds in rows:
        share = 100 * seconds / step
        lines.append(f"{part:22} {seconds:>8.3f} {share:>13.1f}%")
    if "step_over_keras_speed" in derived:
        lines.append(
            "trainer step speed / train_on_batch speed (medians): "
            f"{derived['step_over_keras_speed']:.3f}"
        )
    paired = result.get("paired")
    if paired:
        low, high = paired["interval_95"]
        lines.append(
            "step+host speed / train_on_batch speed, paired rounds: median "
            f"{paired['median']:.3f} (95% interval {low:.3f}-{high:.3f})"
        )
        quiet = len(paired["quiet_rounds"])
        if paired["quiet_median"] is not None:
            low, high = paired["quiet_interval_95"]
            lines.append(
                f"  quiet rounds ({quiet} of {result['rounds']}): median "
                f"{paired['quiet_median']:.3f} (95% interval "
                f"{low:.3f}-{high:.3f})"
            )
        else:
            lines.append(
                f"  quiet rounds: {quiet} of {result['rounds']} (too few)"
            )
    return "\n".join(lines)


def main(argv):
    del argv
    from nonlocal_tf import fileio

    shape = FLAGS.input_shape and [int(s) for s in FLAGS.input_shape] + [3]
    result = breakdown(
        FLAGS.model,
        FLAGS.batch_size,
        strategy_name=FLAGS.strategy,
        jit_compile=FLAGS.jit_compile,
        rounds=FLAGS.rounds,
        input_shape=shape,
        width_per_group=FLAGS.width_per_group,
        parts=FLAGS.parts,
    )
    print(format_breakdown(result))
    fileio.atomic_write_json(FLAGS.output, result)
    print(f"wrote {FLAGS.output}")


if __name__ == "__main__":
    cli.run(main)
