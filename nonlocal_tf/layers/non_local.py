"""The non-local block (Wang et al., "Non-local Neural Networks", CVPR 2018)."""

import keras
from keras import ops

from nonlocal_tf.layers import affinity
from nonlocal_tf.layers import shapes
from nonlocal_tf.layers.batch_norm import FusedBatchNormalization
from nonlocal_tf.layers.pooling import frame_max_pool

INSTANTIATIONS = (
    "embedded_gaussian",
    "gaussian",
    "dot_product",
    "concatenation",
)
IMPLEMENTATIONS = ("full", "chunked")
SUBSAMPLE_POSITIONS = ("before", "after")

_CONV = {3: keras.layers.Conv1D, 4: keras.layers.Conv2D, 5: keras.layers.Conv3D}


@keras.saving.register_keras_serializable(package="nonlocal_tf")
class NonLocalBlock(keras.layers.Layer):
    """Non-local block: `z = x + BN(W_z y)`, `y_i = sum_j f_ij g_j / C(x)`.

    Works on sequences `(B, L, C)`, images `(B, H, W, C)` and videos
    `(B, T, H, W, C)` (channels last); any of L/H/W/T may be `None`. Defaults
    follow the official Caffe2 code the released weights were trained with
    (docs/reference.md §1): embedded Gaussian, `inner_dim = C // 2`, max-pool
    (1, 2, 2) of `x` before `phi` and `g`, logits scaled by
    `inner_dim**-0.5`, 1x1 convs with bias initialised N(0, 0.01), and BN
    after the output conv with gamma initialised to 0, so that the block is an
    exact identity at initialisation.

    Instantiations (paper §3.2), with N' the number of (pooled) keys:

    * `"embedded_gaussian"`: `softmax_j(theta_i . phi_j [* inner_dim**-0.5])`;
    * `"gaussian"`: `softmax_j(x_i . x_j)` on raw features (`theta` and `phi`
      are `None`, `use_scale` is ignored);
    * `"dot_product"`: `theta_i . phi_j / N'`;
    * `"concatenation"`: `relu(w_f . [theta_i, phi_j]) / N'`, with
      `w_f` the kernel (2 * inner_dim, 1) of `concat_project` (first
      `inner_dim` rows multiply `theta`, the rest `phi`).

    Sub-layers, created in `build()` and public so that weights can be read
    and set (e.g. by the checkpoint converters): `theta`, `phi`, `g`, `out`
    (1x1 `Conv1D`/`Conv2D`/`Conv3D` by rank, with bias), `bn`
    (`FusedBatchNormalization`, a Keras `BatchNormalization`; `None` when
    `use_bn=False`) and `concat_project`
    (`Dense(1)` without bias, concatenation only). The subsampling max-pool
    has no weights (`keras.ops.max_pool`, 2D pools for videos).

    Memory: the full path materialises B x N x N' float32 weights (several
    copies in the backward pass). For long clips or high resolutions, e.g.
    16x56x56 positions (N = 50176, N' = 12544: 2.5 GB per copy per clip),
    use `implementation="chunked"`: it processes `chunk_size` queries at a
    time, one block after the other, and recomputes each block's weights in
    the backward pass instead of storing them, so peak memory is
    O(B * chunk_size * N') and the result equals the full path to float32
    rounding. The price is one more affinity forward in the backward pass.
    On the 2-core CPU machine (`scripts/benchmark_nonlocal.py`, TF) that
    16x56x56x256 clip trained forward+backward in about 0.6 GiB instead of
    8 GiB at the same speed, and the res3/res4 shapes of the 8x8 models
    (N x N' = 3136 x 784, 784 x 196: small, use `"full"`) ran within about
    20% of the full path. N need not be known when tracing.
    `return_attention=True` always materialises the full weights.

    Mixed precision: logits, softmax / division and the aggregation
    `w @ g` run in float32. For the softmax instantiations `y` (a convex
    combination of `g`) is cast back to the compute dtype before `out`; for
    `"dot_product"` and `"concatenation"` `y` is not bounded by `g` (it
    overflows float16 for large activations), so `out` and `bn` compute in
    float32 there and only their result is cast to the compute dtype.

    Args:
        instantiation: pairwise function, one of `"embedded_gaussian"`,
            `"gaussian"`, `"dot_product"`, `"concatenation"`.
        inner_dim: channels of `theta`, `phi`, `g`; default `C // 2`.
        subsample: max-pool of the keys and values. `True`: (2,) for
            sequences, (2, 2) for images, (1, 2, 2) for videos; `False` or
            `None`: off; an int (same size along every axis, as Keras pooling
            layers: `2` on a video pools T too) or a tuple with one size per
            non-channel axis. Pool size = stride, `valid` padding (floor).
        subsample_position: `"before"` pools `x` before `phi` and `g`
            (official code, the released weights); `"after"` pools `phi(x)`
            and `g(x)` (paper, mmcv).
        use_scale: multiply the embedded Gaussian logits by
            `inner_dim**-0.5` (official code); `False` as the paper.
        use_bn: BN after `out` with gamma initialised to 0. `False` (frozen-BN
            models): no BN and `out` is initialised to zero.
        groups: temporal groups for videos: T is split into `groups`
            contiguous groups and attention stays within each group (Caffe2
            `add_nonlocal_group`, PySlowFast `NONLOCAL.GROUP`). Must divide T.
        implementation: `"full"` or `"chunked"` (bounded memory, see above).
        chunk_size: queries per block for `"chunked"`.
        kernel_initializer: initializer of the conv kernels; `None` means
            `RandomNormal(0, 0.01)` (official code). Each sub-layer gets its
            own copy, so unseeded initializers draw different values.
        bias_initializer: initializer of the conv biases.
        bn_epsilon: BN epsilon (Caffe2: 1e-5).
        bn_momentum: BN moving-average momentum (Caffe2 convention 0.9).
        **kwargs: `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: tensor of rank 3, 4 or 5, channels last.
        training: BN mode.
        return_attention: also return the normalised pairwise weights,
            float32 of shape (B, N, N') with positions flattened in (T, H, W)
            order; with `groups > 1` the shape is
            (B * groups, N / groups, N' / groups), group-major.

    Static checks (channels, rank, pool larger than the input, `groups`
    dividing T) run at build time and again at call time for every size known
    then (always on JAX and torch, and in eager TensorFlow). Inside a
    TensorFlow graph traced with `None` sizes these checks cannot run; there
    an input smaller than the pool, or a T not divisible by `groups`, fails
    at run time inside the pooling op or the reshape, with TensorFlow's
    message.

    Example:

    >>> x = keras.Input((4, 14, 14, 64))
    >>> z = NonLocalBlock()(x)
    >>> tuple(z.shape)
    (None, 4, 14, 14, 64)

    Reference: Wang, Girshick, Gupta, He, "Non-local Neural Networks",
    CVPR 2018, https://arxiv.org/abs/1711.07971.
    """

    def __init__(
        self,
        instantiation="embedded_gaussian",
        inner_dim=None,
        subsample=True,
        subsample_position="before",
        use_scale=True,
        use_bn=True,
        groups=1,
        implementation="full",
        chunk_size=1024,
        kernel_initializer=None,
        bias_initializer="zeros",
        bn_epsilon=1e-5,
        bn_momentum=0.9,
        **kwargs,
    ):
        super().__init__(**kwargs)
        shapes.check_choice("instantiation", instantiation, INSTANTIATIONS)
        shapes.check_choice("implementation", implementation, IMPLEMENTATIONS)
        shapes.check_choice(
            "subsample_position", subsample_position, SUBSAMPLE_POSITIONS
        )
        shapes.check_positive_int("inner_dim", inner_dim, or_none=True)
        shapes.check_positive_int("groups", groups)
        shapes.check_positive_int("chunk_size", chunk_size)
        shapes.check_subsample(subsample)
        if kernel_initializer is None:
            kernel_initializer = keras.initializers.RandomNormal(0.0, 0.01)
        self.instantiation = instantiation
        self.inner_dim = inner_dim
        self.subsample = (
            tuple(subsample) if isinstance(subsample, list) else subsample
        )
        self.subsample_position = subsample_position
        self.use_scale = use_scale
        self.use_bn = use_bn
        self.groups = groups
        self.implementation = implementation
        self.chunk_size = chunk_size
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.bn_epsilon = bn_epsilon
        self.bn_momentum = bn_momentum
        self.theta = self.phi = self.g = self.out = None
        self.bn = self.concat_project = None

    # --- shapes and checks -------------------------------------------------

    @property
    def pool_size(self):
        """The max-pool window of the phi/g subsampling, e.g. `(1, 2, 2)`.

        None when the block does not subsample. Known once the block is
        built (it depends on the input rank).
        """
        if not self.built:
            raise ValueError(
                f"NonLocalBlock '{self.name}' is not built: its pool_size "
                "depends on the input rank"
            )
        return self._pool_size(self._rank)

    def _pool_size(self, rank):
        return shapes.pool_size(self.subsample, rank)

    def _check_shape(self, shape, where):
        shapes.check_input_shape(
            shape,
            where,
            name=self.name,
            subsample=self.subsample,
            groups=self.groups,
            built=(self._rank, self._channels) if self.built else None,
        )

    def build(self, input_shape):
        input_shape = tuple(input_shape)
        self._check_shape(input_shape, "build")
        rank, channels = len(input_shape), input_shape[-1]
        inner_dim = self.inner_dim or channels // 2
        if inner_dim <= 0:
            raise ValueError(
                f"inner_dim defaults to C // 2, which is 0 for C={channels}; "
                f"pass inner_dim explicitly. Received: shape {input_shape}"
            )
        self._rank, self._channels, self._inner_dim = rank, channels, inner_dim
        self._pool = self._pool_size(rank)
        # Created in this order (their unseeded initializers draw in it),
        # then built.
        self._make_embeddings(inner_dim)
        self._make_output(channels)
        self._make_concat_project()
        inner_shape = input_shape[:-1] + (inner_dim,)
        for layer in (self.theta, self.phi, self.g):
            if layer is not None:
                layer.build(input_shape)
        self.out.build(inner_shape)
        if self.bn is not None:
            self.bn.build(input_shape)
        if self.concat_project is not None:
            self.concat_project.build((None, 2 * inner_dim))

    def _conv(self, name, filters, zero_init=False, dtype=None):
        """A 1x1 conv of the input's rank, with bias."""
        return _CONV[self._rank](
            filters,
            (1,) * (self._rank - 2),
            use_bias=True,
            kernel_initializer=(
                "zeros" if zero_init else _fresh(self.kernel_initializer)
            ),
            bias_initializer=(
                "zeros" if zero_init else _fresh(self.bias_initializer)
            ),
            dtype=dtype or self.dtype_policy,
            name=name,
        )

    def _make_embeddings(self, inner_dim):
        """`theta` and `phi` (none for the Gaussian), `g`."""
        if self.instantiation != "gaussian":
            self.theta = self._conv("theta", inner_dim)
            self.phi = self._conv("phi", inner_dim)
        self.g = self._conv("g", inner_dim)

    def _make_output(self, channels):
        """`out` and `bn`: zero at initialisation, so the block is identity."""
        # y of the count-normalised instantiations is not bounded by g: keep
        # it, `out` and `bn` in float32 under mixed precision.
        output_dtype = self.dtype_policy
        if self.instantiation in ("dot_product", "concatenation"):
            output_dtype = keras.DTypePolicy(self.dtype_policy.variable_dtype)
        # Without BN the block is an identity at init through a zero `out`.
        self.out = self._conv(
            "out", channels, zero_init=not self.use_bn, dtype=output_dtype
        )
        if self.use_bn:
            self.bn = FusedBatchNormalization(
                epsilon=self.bn_epsilon,
                momentum=self.bn_momentum,
                gamma_initializer="zeros",
                dtype=output_dtype,
                name="bn",
            )

    def _make_concat_project(self):
        """`concat_project`, the `w_f` of the concatenation instantiation."""
        if self.instantiation == "concatenation":
            self.concat_project = keras.layers.Dense(
                1,
                use_bias=False,
                kernel_initializer=_fresh(self.kernel_initializer),
                dtype=self.dtype_policy,
                name="concat_project",
            )

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def compute_output_spec(
        self, inputs, training=None, return_attention=False
    ):
        self._check_shape(tuple(inputs.shape), "call")
        output = keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)
        if not return_attention:
            return output
        shape = tuple(inputs.shape)
        attention_shape = shapes.attention_shape(
            shape, self.groups, self._pool_size(len(shape))
        )
        return output, keras.KerasTensor(attention_shape, dtype="float32")

    # --- forward -----------------------------------------------------------

    def call(self, inputs, training=None, return_attention=False):
        self._check_shape(tuple(inputs.shape), "call")
        x = inputs
        shape = ops.shape(x)
        if self.groups > 1:
            batch, frames = shape[0], shape[1]
            x = ops.reshape(
                x, (batch * self.groups, frames // self.groups) + shape[2:]
            )
        query, key, value = self._embed(x)
        folded_shape = ops.shape(query)[:-1]
        query, key, value = (
            ops.reshape(t, (ops.shape(t)[0], -1, ops.shape(t)[-1]))
            for t in (query, key, value)
        )
        pairwise, normalizer, scale = affinity.instantiation_function(
            self.instantiation, self._inner_dim, self.use_scale
        )
        if self.instantiation == "concatenation":
            query, key = affinity.split_concatenation(
                query, key, self.concat_project.kernel
            )

        if return_attention:
            attention = affinity.pairwise_weights(
                query, key, pairwise, normalizer, scale
            )
            y = ops.matmul(attention, ops.cast(value, "float32"))
        else:
            y = affinity.aggregate(
                query,
                key,
                value,
                pairwise=pairwise,
                normalizer=normalizer,
                scale=scale,
                implementation=self.implementation,
                chunk_size=self.chunk_size,
            )
        y = ops.cast(y, self.out.compute_dtype)
        y = ops.reshape(y, folded_shape + (self._inner_dim,))
        z = self.out(y)
        if self.bn is not None:
            z = self.bn(z, training=training)
        z = x + ops.cast(z, x.dtype)
        if self.groups > 1:
            z = ops.reshape(z, shape)
        if return_attention:
            return z, attention
        return z

    def _embed(self, x):
        """theta(x), phi(x_hat), g(x_hat) with the configured subsampling."""

        def pool(t):
            return _max_pool(t, self._pool)

        if self.subsample_position == "before":
            pooled = pool(x)
            value = self.g(pooled)
            key = pooled if self.phi is None else self.phi(pooled)
        else:
            value = pool(self.g(x))
            key = pool(x if self.phi is None else self.phi(x))
        query = x if self.theta is None else self.theta(x)
        return query, key, value

    # --- config ------------------------------------------------------------

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "instantiation": self.instantiation,
                "inner_dim": self.inner_dim,
                "subsample": (
                    list(self.subsample)
                    if isinstance(self.subsample, tuple)
                    else self.subsample
                ),
                "subsample_position": self.subsample_position,
                "use_scale": self.use_scale,
                "use_bn": self.use_bn,
                "groups": self.groups,
                "implementation": self.implementation,
                "chunk_size": self.chunk_size,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(
                    self.bias_initializer
                ),
                "bn_epsilon": self.bn_epsilon,
                "bn_momentum": self.bn_momentum,
            }
        )
        return config


def _max_pool(x, pool_size):
    """Valid max-pooling with kernel = stride = `pool_size` (floor sizes).

    Videos are pooled with 2D pools (`frame_max_pool`, exact): LiteRT's
    builtin ops have no 3D pooling, and TensorFlow's CPU MaxPool3D has no
    float16 kernel, where its 1D/2D pools have one (so no float32 detour).
    """
    if pool_size is None or all(p == 1 for p in pool_size):
        return x
    if len(pool_size) == 3:
        return frame_max_pool(x, pool_size, pool_size, padding="valid")
    return ops.max_pool(x, pool_size, pool_size, padding="valid")


def _fresh(initializer):
    """A new instance, so unseeded random initializers draw new values."""
    return initializer.__class__.from_config(initializer.get_config())
