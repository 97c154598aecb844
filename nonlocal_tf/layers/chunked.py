"""Bounded-memory aggregation: the non-local operation over query blocks.

The full path materialises the (B, N, N') weights; these functions walk over
blocks of at most `chunk_size` queries, one after the other, so forward and
backward memory is O(B * chunk_size * N') instead of O(B * N * N').

* `softmax_attention` (the Gaussian and embedded Gaussian instantiations)
  has a hand-written backward: it recomputes a block's weights only (one
  matmul and a softmax, not the block's output as well) and takes the
  softmax gradient's row sums from `dy . y`, as FlashAttention does. That
  is five matmuls per block in the backward, against four for the full
  path and six for recomputing the whole block.
* `rematerialized` (the count-normalised instantiations) wraps any block
  function in `keras.remat`: the backward recomputes the block.

Both return float32 (B, N, Dv) and equal the full path to float32 rounding.
"""

import keras
from keras import ops


def softmax_attention(query, key, value, scale=None, chunk_size=1024):
    """`softmax(scale * query @ key^T) @ value`, `chunk_size` queries at a time.

    Args:
        query: (B, N, D) float32 tensor.
        key: (B, N', D) float32 tensor.
        value: (B, N', Dv) float32 tensor.
        scale: optional multiplier of the logits.
        chunk_size: queries per block.

    Returns:
        The (B, N, Dv) float32 result.

    Example:

    >>> q = keras.random.normal((1, 10, 4))
    >>> v = keras.random.normal((1, 5, 8))
    >>> tuple(softmax_attention(q, q[:, :5], v, chunk_size=4).shape)
    (1, 10, 8)
    """
    scale = 1.0 if scale is None else float(scale)

    @ops.custom_gradient
    def attend(query, key, value):
        blocks = _query_blocks(query, chunk_size)
        # The scale goes into the keys once instead of every block's logits.
        scaled_key = key * scale

        def weights_of(q):
            return ops.softmax(_matmul_t(q, scaled_key), axis=-1)

        def forward(carry, q):
            return carry, ops.matmul(weights_of(q), value)

        _, y_blocks = _scan(forward, (), blocks)

        def grad(*args, upstream=None):
            upstream = args[0] if upstream is None else upstream
            dy_blocks = _query_blocks(ops.cast(upstream, "float32"), chunk_size)

            # [dy, -r] . [v, 1]^T = dy . v^T - r: one pass less over the
            # (B, chunk, N') weights.
            value_1 = ops.pad(
                value, [[0, 0], [0, 0], [0, 1]], constant_values=1.0
            )

            def backward(carry, block):
                d_key, d_value = carry
                q, dy, y = block
                weights = weights_of(q)
                d_value = d_value + _t_matmul(weights, dy)
                # Softmax backward: w * (dw - r), r_i = sum_j w_ij dw_ij,
                # which is dy_i . y_i.
                row = ops.sum(dy * y, axis=-1, keepdims=True)
                dy_row = ops.concatenate([dy, -row], axis=-1)
                d_logits = weights * _matmul_t(dy_row, value_1)
                d_key = d_key + _t_matmul(d_logits, q)
                return (d_key, d_value), ops.matmul(d_logits, scaled_key)

            init = (ops.zeros_like(key), ops.zeros_like(value))
            (d_key, d_value), dq_blocks = _scan(
                backward, init, (blocks, dy_blocks, y_blocks)
            )
            d_query = _from_blocks(dq_blocks, ops.shape(query)[1])
            return d_query, d_key * scale, d_value

        return _from_blocks(y_blocks, ops.shape(query)[1]), grad

    return attend(query, key, value)


def rematerialized(block, query, key, value, chunk_size=1024):
    """`block(query, key, value)` over query blocks, recomputed in backward.

    Args:
        block: `(q, k, v) -> (B, n, Dv)` float32, row-wise in the queries.
        query: (B, N, Dq) tensor.
        key: (B, N', Dq) tensor.
        value: (B, N', Dv) float32 tensor.
        chunk_size: queries per block.

    Returns:
        The (B, N, Dv) float32 result.

    Example:

    >>> q = keras.random.normal((1, 10, 4))
    >>> y = rematerialized(lambda q, k, v: q @ ops.transpose(k, (0, 2, 1)) @ v,
    ...                    q, q, q, chunk_size=4)
    >>> tuple(y.shape)
    (1, 10, 4)
    """
    blocks = _query_blocks(query, chunk_size)
    recomputed = keras.remat(block)

    def step(carry, q):
        # key and value are explicit arguments of the rematerialised function
        # so that gradients reach them on every backend.
        y = recomputed(q, key, value)
        return carry, y

    _, outputs = _scan(step, (), blocks)
    return _from_blocks(outputs, ops.shape(query)[1])


def _matmul_t(a, b):
    """`a @ b^T` over the last two axes (batched)."""
    return ops.einsum("bik,bjk->bij", a, b)


def _t_matmul(a, b):
    """`a^T @ b` over the last two axes (batched)."""
    return ops.einsum("bki,bkj->bij", a, b)


def _query_blocks(x, chunk_size):
    """(B, N, D) -> (num_blocks, B, block_size, D), zero-padded rows last."""
    shape = ops.shape(x)
    batch, num_queries, depth = shape[0], shape[1], shape[2]
    num_blocks = (num_queries + chunk_size - 1) // chunk_size
    # Balanced blocks (at most chunk_size each) keep the padding small.
    block_size = (num_queries + num_blocks - 1) // num_blocks
    padding = num_blocks * block_size - num_queries
    # Padded query rows give finite junk rows that are sliced off; their
    # upstream gradient is zero, so they add nothing to the keys' gradients.
    x = ops.pad(x, [[0, 0], [0, padding], [0, 0]])
    x = ops.reshape(x, (batch, num_blocks, block_size, depth))
    return ops.transpose(x, (1, 0, 2, 3))


def _from_blocks(blocks, num_queries):
    """The inverse of `_query_blocks`: (B, N, D) without the padded rows."""
    shape = ops.shape(blocks)
    x = ops.transpose(blocks, (1, 0, 2, 3))
    x = ops.reshape(x, (shape[1], shape[0] * shape[2], shape[3]))
    return x[:, :num_queries]


def _scan(step, init, xs):
    """`keras.ops.scan` that runs one block at a time on every backend.

    `step(carry, x) -> (carry, y)`; the carry and `y` may differ in
    structure (Keras's TensorFlow scan wants them alike, so TensorFlow gets
    its own loop). Returns `(carry, stacked y)`.
    """
    if keras.backend.backend() != "tensorflow":
        return ops.scan(step, init, xs)
    import tensorflow as tf

    xs_flat = tf.nest.flatten(xs)
    length = tf.shape(xs_flat[0])[0]
    inputs = [
        tf.TensorArray(x.dtype, size=length, element_shape=x.shape[1:]).unstack(
            x
        )
        for x in xs_flat
    ]
    # The first block runs before the loop: its outputs give the output
    # arrays' dtypes and shapes, and the loop, which takes those arrays,
    # starts only when it is done.
    carry, first = step(
        init, tf.nest.pack_sequence_as(xs, [x.read(0) for x in inputs])
    )
    outputs = [
        tf.TensorArray(y.dtype, size=length, element_shape=y.shape).write(0, y)
        for y in tf.nest.flatten(first)
    ]

    def body(i, carry, outputs):
        x = tf.nest.pack_sequence_as(xs, [t.read(i) for t in inputs])
        carry, y = step(carry, x)
        outputs = [
            t.write(i, v)
            for t, v in zip(outputs, tf.nest.flatten(y), strict=True)
        ]
        return i + 1, carry, outputs

    # parallel_iterations=1: at most one block's weights are alive.
    _, carry, outputs = tf.while_loop(
        lambda i, *_: i < length,
        body,
        (1, carry, outputs),
        parallel_iterations=1,
    )
    stacked = [t.stack() for t in outputs]
    return carry, tf.nest.pack_sequence_as(first, stacked)
