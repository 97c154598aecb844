"""Independent NumPy non-local block (docs/reference.md §1).

Written from the formulas, not from `nonlocal_tf`: explicit einsums, the
concatenation instantiation through the explicit (N, N', 2 * inner_dim) pair
tensor, max-pooling by reshaping, BN in inference mode from moving statistics
(or in training mode from batch statistics), temporal groups folded into the
batch.
"""

import numpy as np


def max_pool(x, pool_size):
    """Valid max-pooling of (B, *S, C) with kernel = stride = pool_size."""
    if pool_size is None:
        return x
    spatial = x.shape[1:-1]
    kept = tuple(s // p * p for s, p in zip(spatial, pool_size, strict=True))
    x = x[(slice(None),) + tuple(slice(0, k) for k in kept)]
    shape = [x.shape[0]]
    for k, p in zip(kept, pool_size, strict=True):
        shape += [k // p, p]
    x = x.reshape(shape + [x.shape[-1]])
    return x.max(axis=tuple(range(2, 2 * len(spatial) + 1, 2)))


def conv1x1(x, kernel, bias):
    """A 1x1(x1) conv: kernel (1, ..., 1, C_in, C_out), channels last."""
    kernel = kernel.reshape(kernel.shape[-2:])
    return np.einsum("...c,cd->...d", x, kernel) + bias


def batch_norm(x, gamma, beta, mean, variance, epsilon, training=False):
    if training:
        axes = tuple(range(x.ndim - 1))
        mean, variance = x.mean(axis=axes), x.var(axis=axes)
    return (x - mean) / np.sqrt(variance + epsilon) * gamma + beta


def softmax(logits):
    logits = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=-1, keepdims=True)


def non_local(
    x,
    params,
    instantiation="embedded_gaussian",
    pool_size=(1, 2, 2),
    position="before",
    use_scale=True,
    groups=1,
    epsilon=1e-5,
    training=False,
):
    """z = x + BN(W_z y) for x of shape (B, *S, C), float64 throughout.

    Args:
        x: NumPy input, channels last.
        params: dict with `theta`, `phi`, `g`, `out` -> (kernel, bias);
            `bn` -> (gamma, beta, moving_mean, moving_variance) or None;
            `w_f` -> (2 * inner_dim, 1) for concatenation.
        instantiation, pool_size, position, use_scale, groups, epsilon:
            as the block's arguments (pool_size None: no subsampling).
        training: BN from batch statistics instead of moving statistics.

    Returns:
        (z, attention), attention of shape (B * groups, N, N').
    """
    x = x.astype(np.float64)
    shape = x.shape
    if groups > 1:
        b, t = shape[:2]
        x = x.reshape((b * groups, t // groups) + shape[2:])
    batch = x.shape[0]

    pool = lambda t: max_pool(t, pool_size)  # noqa: E731
    if instantiation == "gaussian":
        theta, phi = x, pool(x)
    elif position == "before":
        theta = conv1x1(x, *params["theta"])
        phi = conv1x1(pool(x), *params["phi"])
    else:
        theta = conv1x1(x, *params["theta"])
        phi = pool(conv1x1(x, *params["phi"]))
    if position == "before":
        g = conv1x1(pool(x), *params["g"])
    else:
        g = pool(conv1x1(x, *params["g"]))

    q = theta.reshape(batch, -1, theta.shape[-1])
    k = phi.reshape(batch, -1, phi.shape[-1])
    v = g.reshape(batch, -1, g.shape[-1])
    num_keys = k.shape[1]
    if instantiation in ("gaussian", "embedded_gaussian"):
        logits = np.einsum("bnd,bmd->bnm", q, k)
        if instantiation == "embedded_gaussian" and use_scale:
            logits = logits / np.sqrt(q.shape[-1])
        attention = softmax(logits)
    elif instantiation == "dot_product":
        attention = np.einsum("bnd,bmd->bnm", q, k) / num_keys
    elif instantiation == "concatenation":
        n, d = q.shape[1], q.shape[2]
        pairs = np.concatenate(
            [
                np.broadcast_to(q[:, :, None, :], (batch, n, num_keys, d)),
                np.broadcast_to(k[:, None, :, :], (batch, n, num_keys, d)),
            ],
            axis=-1,
        )
        logits = np.einsum("bnmc,c->bnm", pairs, params["w_f"][:, 0])
        attention = np.maximum(logits, 0.0) / num_keys
    else:
        raise ValueError(instantiation)

    y = np.einsum("bnm,bmd->bnd", attention, v)
    y = y.reshape(theta.shape[:-1] + (v.shape[-1],))
    out = conv1x1(y, *params["out"])
    if params.get("bn") is not None:
        out = batch_norm(out, *params["bn"], epsilon=epsilon, training=training)
    z = (x + out).reshape(shape)
    return z, attention
