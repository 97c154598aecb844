"""The measured steps of `benchmark_nonlocal`, and the memory readings.

One step is a zero-argument function that runs a whole forward (or forward
and backward) pass to completion: a compiled `NonLocalBlock` step on the
chosen Keras backend (`tf.function` / `jax.jit`; torch runs eagerly),
PySlowFast's Nonlocal op order in plain PyTorch (docs/reference.md §1), or
PySlowFast's own `Nonlocal` module read from a SlowFast checkout.
Memory is read from the process's `/proc/self/status` (Linux): the peak
resident set (VmHWM) is reset before the timed calls and read after them.
"""

import importlib.util
import os

# Where a SlowFast checkout keeps the Nonlocal module.
PYSLOWFAST_MODULE = os.path.join("slowfast", "models", "nonlocal_helper.py")


def memory_mib(field):
    """The `field` of `/proc/self/status` (`"VmRSS"`, `"VmHWM"`) in MiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"/proc/self/status has no {field}")


def reset_peak_memory():
    """Resets the process's peak resident set (VmHWM) to its current one."""
    # Writing 5 to clear_refs resets VmHWM to the current VmRSS (Linux).
    with open("/proc/self/clear_refs", "w") as clear_refs:
        clear_refs.write("5")


def compiled_step(backend, layer, x, mode):
    """A zero-argument function running one compiled step to completion.

    Args:
        backend: the Keras backend in use (`"tensorflow"`, `"jax"`,
            `"torch"`).
        layer: a built `NonLocalBlock`.
        x: the NumPy input, float32.
        mode: `"forward"` (inference) or `"forward_backward"` (gradients of
            the summed output with respect to the input and the weights).

    Returns:
        The step function.
    """
    if backend == "tensorflow":
        return _tensorflow_step(layer, x, mode)
    if backend == "jax":
        return _jax_step(layer, x, mode)
    return _torch_step(layer, x, mode)


def _tensorflow_step(layer, x, mode):
    import tensorflow as tf

    x = tf.convert_to_tensor(x)
    if mode == "forward":
        function = tf.function(lambda x: layer(x, training=False))
    else:

        @tf.function
        def function(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(layer(x, training=True))
            return tape.gradient(loss, [x] + layer.trainable_variables)

    # TF runs a function synchronously on CPU: outputs are computed when it
    # returns.
    return lambda: function(x)


def _jax_step(layer, x, mode):
    import jax

    trainable = [v.value for v in layer.trainable_variables]
    non_trainable = [v.value for v in layer.non_trainable_variables]

    def loss(x, trainable):
        z, _ = layer.stateless_call(
            trainable, non_trainable, x, training=mode != "forward"
        )
        return z.sum() if mode != "forward" else z

    if mode == "forward":
        function = jax.jit(loss)
    else:
        function = jax.jit(jax.grad(loss, argnums=(0, 1)))
    return lambda: jax.block_until_ready(function(x, trainable))


def _torch_step(layer, x, mode):
    import torch

    return _torch_autograd_step(
        lambda x, training: layer(x, training=training),
        torch.as_tensor(x),
        mode,
        layer.zero_grad,
    )


def _torch_autograd_step(function, x, mode, zero_grad):
    """`function(x, training)` without gradients, or its sum's backward."""
    import torch

    if mode == "forward":

        def step():
            with torch.no_grad():
                return function(x, False)

        return step
    x.requires_grad_(True)

    def step():
        zero_grad()
        x.grad = None
        function(x, True).sum().backward()

    return step


def pytorch_reference_step(shape, mode, use_bn=True):
    """PySlowFast's Nonlocal op order in plain PyTorch (NCTHW), one step.

    Args:
        shape: `(batch, (T, H, W, C))`, as the benchmark's configs.
        mode: `"forward"` or `"forward_backward"`.
        use_bn: BN after the output conv, as the measured block's `use_bn`.

    Returns:
        The step function, on a random input of that shape.
    """
    import torch

    batch, (time_, height, width, channels) = shape
    inner = channels // 2
    theta, phi, g = (torch.nn.Conv3d(channels, inner, 1) for _ in range(3))
    out = torch.nn.Conv3d(inner, channels, 1)
    bn = torch.nn.BatchNorm3d(channels, eps=1e-5, momentum=0.1)
    if not use_bn:
        bn = torch.nn.Identity()
    pool = torch.nn.MaxPool3d((1, 2, 2), (1, 2, 2))
    modules = torch.nn.ModuleList([theta, phi, g, out, bn])

    def block(x):
        b = x.shape[0]
        t = theta(x).view(b, inner, -1)
        pooled = pool(x)
        p = phi(pooled).view(b, inner, -1)
        v = g(pooled).view(b, inner, -1)
        weights = torch.einsum("nct,ncp->ntp", t, p) * inner**-0.5
        weights = weights.softmax(dim=2)
        y = torch.einsum("ntp,ncp->nct", weights, v)
        y = y.view(b, inner, *x.shape[2:])
        return x + bn(out(y))

    x = torch.randn(batch, channels, time_, height, width)
    modules.train(mode != "forward")
    return _torch_autograd_step(
        lambda x, training: block(x), x, mode, modules.zero_grad
    )


def pyslowfast_module_path(checkout):
    """`nonlocal_helper.py` of a SlowFast checkout; a clear error if absent."""
    path = os.path.join(checkout, PYSLOWFAST_MODULE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{checkout!r} has no {PYSLOWFAST_MODULE}: pass a clone of "
            "https://github.com/facebookresearch/SlowFast"
        )
    return path


def pyslowfast_step(shape, mode, checkout, use_bn=True):
    """PySlowFast's own `Nonlocal` block (NCTHW), one step.

    Only its `nonlocal_helper.py` is loaded (it needs nothing but torch), as
    the Kinetics configs build it: inner dim C / 2, (1, 2, 2) max-pooling.

    Args:
        shape: `(batch, (T, H, W, C))`, as the benchmark's configs.
        mode: `"forward"` or `"forward_backward"`.
        checkout: a clone of facebookresearch/SlowFast.
        use_bn: keep the block's BN (False: replaced by an identity).

    Returns:
        The step function, on a random input of that shape.
    """
    import torch

    spec = importlib.util.spec_from_file_location(
        "pyslowfast_nonlocal_helper", pyslowfast_module_path(checkout)
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    batch, (time_, height, width, channels) = shape
    block = module.Nonlocal(channels, channels // 2, pool_size=[1, 2, 2])
    if not use_bn:
        block.bn = torch.nn.Identity()
    block.train(mode != "forward")
    x = torch.randn(batch, channels, time_, height, width)
    return _torch_autograd_step(
        lambda x, training: block(x), x, mode, block.zero_grad
    )
