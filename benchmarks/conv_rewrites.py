r"""The video ResNets' 3D ops against their 2D rewrites, one op at a time.

At the shapes of I3D_NLN_8x8_R50 (full width, 8 x 224 x 224, batch 2) each
3D op the backbone runs is timed as Keras's plain 3D op and as each exact
rewrite with 2D ops only, forward and forward + backward, compiled on the
current Keras backend (`tf.function` / `jax.jit`):

- `stem`: conv1, (5, 7, 7) / (1, 2, 2) on the padded clip;
- `res2_0` .. `res5_1`: the (3, 1, 1) convolutions of the bottlenecks
  (branch2a), on their padded inputs;
- `pool2`: the (2, 1, 1) / (2, 1, 1) max pool after res2;
- `res2_b`, `res4_b`, `pool1`: (1, 3, 3) convs and pool1, which
  `FrameConv3D` / `FrameMaxPooling3D` already run frame by frame.

Each round times every implementation of one op back to back, in an order
that rotates from round to round, so that one round's calls share the
machine's load; the ratio `3D time / rewrite time` (above 1: the rewrite is
faster) is the median over rounds with a bootstrap 95% interval
(`paired_timing`). `nonlocal_tf.layers.frame_conv` uses the rewrites this
shows to pay on each backend; the others are defined here only.

    python -m benchmarks.conv_rewrites --output=benchmarks/results/conv_tf.json
    KERAS_BACKEND=jax python -m benchmarks.conv_rewrites --rounds=9
    python -m benchmarks.conv_rewrites --ops=stem,pool2 --modes=forward
    python -m benchmarks.conv_rewrites --quick   # seconds: checks it works
"""

import importlib
import os
import platform
import statistics

from absl import app
from absl import flags

from benchmarks import machine
from benchmarks import paired_timing

# op -> (kind, input shape (B, T, H, W, C) as the layer sees it, i.e. after
# its ZeroPadding3D, output channels, strides). The (3, 1, 1) convs of
# I3D_NLN_8x8_R50 (res2 at 56x56, pool2 halving T, the spatial stride in
# the 3x3 conv after branch2a); res2_1 stands for res2_1 and res2_2, res4_2
# for res4_2 and res4_4.
OPS = {
    "stem": ("conv", (2, 12, 230, 230, 3), (5, 7, 7), 64, (1, 2, 2)),
    "res2_0": ("conv", (2, 10, 56, 56, 64), (3, 1, 1), 64, (1, 1, 1)),
    "res2_1": ("conv", (2, 10, 56, 56, 256), (3, 1, 1), 64, (1, 1, 1)),
    "res3_0": ("conv", (2, 6, 56, 56, 256), (3, 1, 1), 128, (1, 1, 1)),
    "res3_2": ("conv", (2, 6, 28, 28, 512), (3, 1, 1), 128, (1, 1, 1)),
    "res4_0": ("conv", (2, 6, 28, 28, 512), (3, 1, 1), 256, (1, 1, 1)),
    "res4_2": ("conv", (2, 6, 14, 14, 1024), (3, 1, 1), 256, (1, 1, 1)),
    "res5_1": ("conv", (2, 6, 7, 7, 2048), (3, 1, 1), 512, (1, 1, 1)),
    "pool2": ("pool", (2, 8, 56, 56, 256), (2, 1, 1), None, (2, 1, 1)),
    # FrameConv3D's and FrameMaxPooling3D's earlier rewrites: the 3x3 convs
    # (branch2b) of res2 and res4, pool1 after its (0, 1, 1) padding.
    "res2_b": ("conv", (2, 8, 58, 58, 64), (1, 3, 3), 64, (1, 1, 1)),
    "res4_b": ("conv", (2, 4, 16, 16, 256), (1, 3, 3), 256, (1, 1, 1)),
    "pool1": ("pool", (2, 8, 114, 114, 64), (1, 3, 3), None, (1, 2, 2)),
}
QUICK_OPS = {
    "stem": ("conv", (1, 6, 20, 20, 3), (5, 7, 7), 8, (1, 2, 2)),
    "res2_0": ("conv", (1, 6, 9, 9, 8), (3, 1, 1), 8, (1, 1, 1)),
    "pool2": ("pool", (1, 5, 9, 9, 8), (2, 1, 1), None, (2, 1, 1)),
}
MODES = ("forward", "forward_backward")

FLAGS = flags.FLAGS
flags.DEFINE_list("ops", list(OPS), f"Ops among {list(OPS)}.")
flags.DEFINE_list("modes", list(MODES), f"Among {list(MODES)}.")
flags.DEFINE_integer("rounds", 7, "Paired rounds per (op, mode).")
flags.DEFINE_integer("warmup", 1, "Untimed calls of each implementation.")
flags.DEFINE_bool("quick", False, "Tiny shapes, 2 rounds: a smoke run.")
flags.DEFINE_string("output", None, "Write the results as JSON here.")


# === Implementations: fn(x, kernel) for convs, fn(x) for pools ===


def _conv3d(strides):
    from keras import ops

    return lambda x, k: ops.conv(x, k, strides=strides, padding="valid")


def _frame_conv(strides):
    """What `FrameConv3D` runs on this backend (rewrite or 3D op)."""
    from nonlocal_tf.layers import frame_conv

    return lambda x, k: frame_conv.conv3d(x, k, strides, "valid", (1, 1, 1))


def _per_frame(strides):
    from nonlocal_tf.layers import frame_conv

    return lambda x, k: frame_conv.per_frame_conv(
        x, k, strides, "valid", (1, 1, 1)
    )


def _time_by_space(strides):
    from nonlocal_tf.layers import frame_conv

    return lambda x, k: frame_conv.time_by_space_conv(
        x, k, strides, "valid", (1, 1, 1)
    )


def _stacked_frames(strides):
    from nonlocal_tf.layers import frame_conv

    return lambda x, k: frame_conv.stacked_frames_conv(
        x, k, strides, "valid", (1, 1, 1)
    )


def _shifted_frames(strides):
    """The sum over kT of 2D convs of shifted frames (valid, dilation 1)."""
    from keras import ops

    def conv(x, kernel):
        kt = kernel.shape[0]
        steps = ops.shape(x)[1] - kt + 1
        total = None
        for k in range(kt):
            frames = x[:, k : k + steps]
            shape = ops.shape(frames)
            frames = ops.reshape(frames, (-1, shape[2], shape[3], shape[4]))
            y = ops.conv(frames, kernel[k], strides=strides[1:])
            total = y if total is None else total + y
        out = ops.shape(total)
        return ops.reshape(total, (shape[0], steps, out[1], out[2], out[3]))

    return conv


def _max_pool3d(pool, strides):
    from keras import ops

    return lambda x: ops.max_pool(x, pool, strides, padding="valid")


def _frame_max_pool(pool, strides):
    from nonlocal_tf.layers.pooling import frame_max_pool

    return lambda x: frame_max_pool(x, pool, strides, "valid")


def _reshape_max(pool, strides):
    """(k, 1, 1) / (k, 1, 1): whole windows as a new axis, then its max."""
    from keras import ops

    def fn(x):
        k = pool[0]
        shape = ops.shape(x)
        steps = shape[1] // k
        x = ops.reshape(
            x[:, : steps * k],
            (shape[0], steps, k, shape[2], shape[3], shape[4]),
        )
        return ops.max(x, axis=2)

    return fn


def _pairwise_maximum(pool, strides):
    """(2, 1, 1) / (2, 1, 1) as the maximum of even and odd frames."""
    from keras import ops

    def fn(x):
        steps = ops.shape(x)[1] // 2
        return ops.maximum(x[:, 0 : 2 * steps : 2], x[:, 1 : 2 * steps : 2])

    return fn


def _pairwise_select(pool, strides):
    """(2, 1, 1) / (2, 1, 1) by selection, as FrameMaxPooling3D on JAX.

    `where(a >= b, a, b)` sends an output's gradient to one maximum (the
    first, as the 2D pools do), where `maximum` splits it at ties (JAX).
    """
    from nonlocal_tf.layers import pooling

    return lambda x: pooling._window_select_max(x, pool[0])


CONV_IMPLEMENTATIONS = {
    "conv3d": _conv3d,
    "frame_conv3d": _frame_conv,
    "per_frame": _per_frame,
    "time_by_space": _time_by_space,
    "stacked_frames": _stacked_frames,
    "shifted_frames": _shifted_frames,
}
POOL_IMPLEMENTATIONS = {
    "max_pool3d": _max_pool3d,
    "frame_max_pool": _frame_max_pool,
    "reshape_max": _reshape_max,
    "pairwise_maximum": _pairwise_maximum,
    "pairwise_select": _pairwise_select,
}


def implementations(kind, kernel):
    """Names of the implementations timed for an op (3D first)."""
    if kind == "pool":
        if kernel[0] == 1:
            return ["max_pool3d", "frame_max_pool"]
        return list(POOL_IMPLEMENTATIONS)
    if kernel[0] == 1:
        return ["conv3d", "per_frame"]
    names = ["conv3d", "stacked_frames", "shifted_frames"]
    if kernel[1:] == (1, 1):
        names[1:1] = ["time_by_space"]
    # What FrameConv3D runs on this backend (one of the above).
    return names + ["frame_conv3d"]


# === Compiled steps ===


def compiled_step(fn, arrays, mode, grad_argnums):
    """A zero-argument call running `fn(*arrays)` (and its gradients).

    Args:
        fn: A function of backend tensors.
        arrays: NumPy inputs.
        mode: "forward" or "forward_backward" (gradients of the summed
            output with respect to `arrays[i]` for i in `grad_argnums`).
        grad_argnums: Which inputs get gradients (a training step needs
            none for the clip entering conv1).

    Returns:
        The step; it returns once its outputs are computed.
    """
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tensors = [tf.convert_to_tensor(a) for a in arrays]
        if mode == "forward":
            function = tf.function(fn)
        else:

            @tf.function
            def function(*args):
                with tf.GradientTape() as tape:
                    for i in grad_argnums:
                        tape.watch(args[i])
                    loss = tf.reduce_sum(fn(*args))
                return tape.gradient(loss, [args[i] for i in grad_argnums])

        # TF runs a function synchronously on CPU.
        return lambda: function(*tensors)
    if backend == "jax":
        import jax

        tensors = [jax.numpy.asarray(a) for a in arrays]
        if mode == "forward":
            function = jax.jit(fn)
        else:
            function = jax.jit(
                jax.grad(lambda *a: fn(*a).sum(), argnums=tuple(grad_argnums))
            )
        return lambda: jax.block_until_ready(function(*tensors))
    raise ValueError(
        f"benchmarks.conv_rewrites runs on tensorflow or jax, not {backend}"
    )


def measure(op, spec, mode, rounds, warmup):
    """Paired rounds of every implementation of `op`; ratios to the 3D op."""
    import numpy as np

    kind, shape, window, filters, strides = spec
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype("float32")
    names = implementations(kind, window)
    if kind == "pool":
        table = POOL_IMPLEMENTATIONS
        steps = {
            n: compiled_step(table[n](window, strides), [x], mode, (0,))
            for n in names
        }
    else:
        kernel = rng.standard_normal(window + (shape[-1], filters))
        kernel = (kernel / np.sqrt(np.prod(kernel.shape[:-1]))).astype(
            "float32"
        )
        # conv1's input is the clip: a training step needs no gradient of it.
        argnums = (1,) if op == "stem" else (0, 1)
        steps = {
            n: compiled_step(
                CONV_IMPLEMENTATIONS[n](strides), [x, kernel], mode, argnums
            )
            for n in names
        }
    for step in steps.values():
        for _ in range(warmup):
            step()
    times = {n: [] for n in names}
    steals = {n: [] for n in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        if r % 2:
            order = order[::-1]
        for name in order:
            wall, stolen = paired_timing.timed_call(steps[name])
            times[name].append(wall)
            steals[name].append(stolen)
    reference = names[0]
    results = []
    for name in names:
        ratio = paired_timing.paired_ratio(
            times[reference], times[name], steals[reference], steals[name]
        )
        results.append(
            {
                "op": op,
                "mode": mode,
                "implementation": name,
                "shape": list(shape),
                "window": list(window),
                "median_s": statistics.median(times[name]),
                "times_s": times[name],
                "ratio_to_3d": ratio["median"],
                "interval_95": list(ratio["interval_95"]),
                "quiet_rounds": len(ratio["quiet_rounds"]),
            }
        )
    return results


def cpu_description():
    """The CPU's model name and vector flags (Linux `/proc/cpuinfo`)."""
    model, cpu_flags = None, set()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                if key.strip() == "model name" and model is None:
                    model = value.strip()
                elif key.strip() == "flags" and not cpu_flags:
                    cpu_flags = set(value.split())
    except OSError:
        pass
    vector = sorted(f for f in cpu_flags if f.startswith(("avx", "amx", "fma")))
    return {"model": model, "cpus": os.cpu_count(), "flags": vector}


def print_header():
    print(
        f"{'op':8} {'mode':17} {'implementation':17} {'median ms':>10} "
        f"{'3D / it':>8}  95% interval",
        flush=True,
    )


def print_rows(results):
    for r in results:
        low, high = r["interval_95"]
        print(
            f"{r['op']:8} {r['mode']:17} {r['implementation']:17} "
            f"{1e3 * r['median_s']:10.2f} {r['ratio_to_3d']:8.2f}  "
            f"[{low:.2f}, {high:.2f}]",
            flush=True,
        )


def main(argv):
    del argv
    # Before Keras: its CPU kernel defaults (TF_ENABLE_ONEDNN_OPTS), as a
    # user importing it gets them.
    importlib.import_module("nonlocal_tf")
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")  # one function per implementation

    ops_table = QUICK_OPS if FLAGS.quick else OPS
    names = list(QUICK_OPS) if FLAGS.quick else FLAGS.ops
    unknown = [n for n in names if n not in ops_table]
    if unknown:
        raise app.UsageError(
            f"--ops: unknown {unknown}; expected some of {list(ops_table)}"
        )
    rounds = 2 if FLAGS.quick else FLAGS.rounds
    payload = {
        "backend": keras.backend.backend(),
        "keras_version": keras.__version__,
        "tf_enable_onednn_opts": os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA"),
        "cpu": cpu_description(),
        "python": platform.python_version(),
        "rounds": rounds,
        "results": [],
    }
    cpu = payload["cpu"]
    print(
        f"backend {payload['backend']}, CPU {cpu['model']} ({cpu['cpus']} "
        f"logical), {' '.join(cpu['flags'])}; TF_ENABLE_ONEDNN_OPTS="
        f"{payload['tf_enable_onednn_opts']}, ONEDNN_MAX_CPU_ISA="
        f"{payload['onednn_max_cpu_isa']}; {rounds} paired rounds"
    )
    print_header()
    for name in names:
        for mode in FLAGS.modes:
            results = measure(name, ops_table[name], mode, rounds, FLAGS.warmup)
            print_rows(results)
            payload["results"].extend(results)
    if FLAGS.output:
        machine.write_json(FLAGS.output, payload)


if __name__ == "__main__":
    app.run(main)
