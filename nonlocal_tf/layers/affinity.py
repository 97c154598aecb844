"""Pairwise affinity and aggregation of the non-local operation.

Given flattened queries (B, N, Dq), keys (B, N', Dq) and values (B, N', Dv),
computes `y_i = sum_j w(x_i, x_j) g_j` where `w` is the normalised pairwise
function of docs/reference.md §1:

* `pairwise="dot"`: `f_ij = q_i . k_j` (Gaussian, embedded Gaussian and dot
  product instantiations);
* `pairwise="concat_relu"`: `f_ij = relu(q_i + k_j)` on scalar queries and
  keys (B, N, 1) / (B, N', 1): the concatenation instantiation, whose
  `w_f^T [theta_i, phi_j]` splits into `w_theta^T theta_i + w_phi^T phi_j`;
* `normalizer="softmax"`: softmax over keys (after multiplying by `scale`);
  `normalizer="count"`: divide by the key count N'.

`instantiation_function` names the pairwise function and normaliser of each
instantiation of the paper (§3.2), and `split_concatenation` gives the scalar
query and key terms of the concatenation one.

Everything here runs in float32 whatever the inputs' dtype, so the logits and
the softmax never overflow under mixed precision. Two implementations:

* `"full"` materialises the (B, N, N') weights once: fastest when they fit.
* `"chunked"` walks over blocks of `chunk_size` queries, one after the
  other (`nonlocal_tf.layers.chunked`): forward and backward memory is
  O(B * chunk_size * N') instead of O(B * N * N').
"""

import keras  # noqa: F401 (the examples use it)
from keras import ops

from nonlocal_tf.layers import chunked

PAIRWISE = ("dot", "concat_relu")
NORMALIZERS = ("softmax", "count")
IMPLEMENTATIONS = ("full", "chunked")


def instantiation_function(instantiation, inner_dim, use_scale=True):
    """`(pairwise, normalizer, scale)` of a non-local instantiation.

    Args:
        instantiation: `"embedded_gaussian"`, `"gaussian"`, `"dot_product"`
            or `"concatenation"` (paper §3.2).
        inner_dim: channels of `theta` and `phi`.
        use_scale: scale the embedded Gaussian logits by `inner_dim**-0.5`
            (official code).

    Returns:
        The `pairwise`, `normalizer` and `scale` arguments of `aggregate`.

    Example:

    >>> instantiation_function("dot_product", 256)
    ('dot', 'count', None)
    """
    if instantiation in ("embedded_gaussian", "gaussian"):
        scale = None
        if instantiation == "embedded_gaussian" and use_scale:
            scale = float(inner_dim) ** -0.5
        return "dot", "softmax", scale
    if instantiation == "dot_product":
        return "dot", "count", None
    return "concat_relu", "count", None


def split_concatenation(query, key, kernel):
    """Splits `w_f^T [theta_i, phi_j]` into scalar query and key terms.

    Args:
        query: (B, N, D) `theta` features.
        key: (B, N', D) `phi` features.
        kernel: (2 * D, 1) `w_f`: its first D rows multiply `theta`, the
            rest `phi`.

    Returns:
        float32 `(query, key)` of shapes (B, N, 1) and (B, N', 1), the inputs
        of `pairwise="concat_relu"`.

    Example:

    >>> q, k = split_concatenation(
    ...     keras.random.normal((1, 6, 4)), keras.random.normal((1, 3, 4)),
    ...     keras.random.normal((8, 1)))
    >>> tuple(q.shape), tuple(k.shape)
    ((1, 6, 1), (1, 3, 1))
    """
    kernel = ops.cast(kernel, "float32")
    depth = kernel.shape[0] // 2
    query = ops.matmul(ops.cast(query, "float32"), kernel[:depth])
    key = ops.matmul(ops.cast(key, "float32"), kernel[depth:])
    return query, key


def pairwise_weights(
    query, key, pairwise="dot", normalizer="softmax", scale=None
):
    """Normalised pairwise weights `w_ij`, float32, shape (B, N, N').

    Args:
        query: (B, N, Dq) tensor (Dq = 1 for `"concat_relu"`).
        key: (B, N', Dq) tensor.
        pairwise: `"dot"` or `"concat_relu"`.
        normalizer: `"softmax"` (over keys) or `"count"` (divide by N').
        scale: optional multiplier of the logits before the softmax.

    Returns:
        The float32 weights; rows sum to 1 for `"softmax"`.

    Example:

    >>> q = keras.random.normal((2, 6, 4))
    >>> w = pairwise_weights(q, q[:, :3])
    >>> tuple(w.shape)
    (2, 6, 3)
    """
    query = ops.cast(query, "float32")
    key = ops.cast(key, "float32")
    if pairwise == "dot":
        logits = ops.matmul(query, ops.transpose(key, (0, 2, 1)))
    elif pairwise == "concat_relu":
        logits = ops.relu(query + ops.transpose(key, (0, 2, 1)))
    else:
        raise ValueError(
            f"Unknown pairwise function {pairwise!r}; expected one of "
            f"{PAIRWISE}."
        )
    if normalizer == "softmax":
        if scale is not None:
            logits = logits * scale
        return ops.softmax(logits, axis=-1)
    if normalizer == "count":
        num_keys = ops.cast(ops.shape(key)[1], "float32")
        return logits / num_keys
    raise ValueError(
        f"Unknown normalizer {normalizer!r}; expected one of {NORMALIZERS}."
    )


def aggregate(
    query,
    key,
    value,
    pairwise="dot",
    normalizer="softmax",
    scale=None,
    implementation="full",
    chunk_size=1024,
):
    """`y = w(query, key) @ value` in float32, shape (B, N, Dv).

    Args:
        query: (B, N, Dq) tensor.
        key: (B, N', Dq) tensor.
        value: (B, N', Dv) tensor.
        pairwise: see `pairwise_weights`.
        normalizer: see `pairwise_weights`.
        scale: see `pairwise_weights`.
        implementation: `"full"` or `"chunked"` (bounded memory, see the
            module docstring).
        chunk_size: queries per block for `"chunked"`.

    Returns:
        The float32 aggregated values.

    Example:

    >>> q = keras.random.normal((1, 10, 4))
    >>> v = keras.random.normal((1, 5, 8))
    >>> y = aggregate(q, q[:, :5], v, implementation="chunked", chunk_size=4)
    >>> tuple(y.shape)
    (1, 10, 8)
    """
    value = ops.cast(value, "float32")

    def block(q, k, v):
        return ops.matmul(
            pairwise_weights(q, k, pairwise, normalizer, scale), v
        )

    if implementation == "full":
        return block(query, key, value)
    if implementation != "chunked":
        raise ValueError(
            f"Unknown implementation {implementation!r}; expected one of "
            f"{IMPLEMENTATIONS}."
        )
    num_queries = query.shape[1]
    if num_queries is not None and num_queries <= chunk_size:
        return block(query, key, value)
    if pairwise == "dot" and normalizer == "softmax":
        return chunked.softmax_attention(
            ops.cast(query, "float32"),
            ops.cast(key, "float32"),
            value,
            scale=scale,
            chunk_size=chunk_size,
        )
    return chunked.rematerialized(block, query, key, value, chunk_size)
