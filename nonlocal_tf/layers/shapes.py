"""What NonLocalBlock accepts, and the shapes that follow from it.

The constructor's argument checks, the input-shape checks run at build and
call time, the max-pool window of the key/value subsampling per input rank
(official code's defaults, docs/reference.md §1) and the shape of the
attention weights `return_attention=True` gives. Error messages name the
block and where the check ran (`build` or `call`).
"""

# Default max-pool of the keys/values per input rank (official code).
DEFAULT_POOL = {3: (2,), 4: (2, 2), 5: (1, 2, 2)}
# The input layouts by rank, for messages; also the ranks accepted.
LAYOUT = {3: "(B, L, C)", 4: "(B, H, W, C)", 5: "(B, T, H, W, C)"}


def check_choice(name, value, choices):
    """Raises `ValueError` unless `value` is one of `choices`."""
    if value not in choices:
        raise ValueError(
            f"Unknown {name} {value!r}; expected one of {choices}. "
            f"Received: {name}={value!r}"
        )


def is_positive_int(value):
    """True for an `int` (not a `bool`) above 0."""
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def check_positive_int(name, value, or_none=False):
    """Raises `ValueError` unless `value` is a positive int (or None)."""
    if or_none and value is None:
        return
    if not is_positive_int(value):
        allowed = "a positive integer" + (" or None" if or_none else "")
        raise ValueError(
            f"{name} must be {allowed}. Received: {name}={value!r}"
        )


def check_subsample(subsample):
    """Raises `ValueError` for a `subsample` argument of the wrong type."""
    if subsample is None or isinstance(subsample, bool):
        return
    if is_positive_int(subsample):
        return
    if isinstance(subsample, (tuple, list)) and all(
        is_positive_int(s) for s in subsample
    ):
        return
    raise ValueError(
        "subsample must be True, False, None, a positive int or a tuple of "
        f"positive ints. Received: subsample={subsample!r}"
    )


def pool_size(subsample, rank):
    """The subsampling max-pool window for inputs of `rank`, or None.

    Args:
        subsample: the block's `subsample` argument (checked).
        rank: the input rank, 3, 4 or 5.

    Returns:
        A tuple with one size per non-channel axis, or None when off.

    Example:

    >>> pool_size(True, 5)
    (1, 2, 2)
    """
    if subsample is None or subsample is False:
        return None
    if subsample is True:
        return DEFAULT_POOL[rank]
    if isinstance(subsample, int):
        return (subsample,) * (rank - 2)
    if len(subsample) != rank - 2:
        raise ValueError(
            f"subsample must give one pool size per non-channel axis of "
            f"a {LAYOUT[rank]} input ({rank - 2}). "
            f"Received: subsample={subsample!r}"
        )
    return tuple(subsample)


def check_input_shape(shape, where, *, name, subsample, groups, built=None):
    """Raises `ValueError` for an input the block cannot take.

    Checks the rank, a known channel axis, the rank and channels the block
    was built for, `groups` dividing T and every known size against the
    subsampling pool; `None` sizes pass.

    Args:
        shape: the input shape, a tuple.
        where: `"build"` or `"call"`, for the message.
        name: the block's name, for the message.
        subsample: the block's `subsample` argument.
        groups: the block's temporal groups.
        built: `(rank, channels)` the block was built for, None before.
    """
    rank = len(shape)
    if rank not in LAYOUT:
        raise ValueError(
            f"NonLocalBlock '{name}' expects an input of rank 3 "
            "(B, L, C), 4 (B, H, W, C) or 5 (B, T, H, W, C). "
            f"Received at {where}: rank {rank}, shape {tuple(shape)}"
        )
    channels = shape[-1]
    if channels is None:
        raise ValueError(
            f"NonLocalBlock '{name}' needs a known channel axis. "
            f"Received at {where}: shape {tuple(shape)}"
        )
    if built is not None and (rank, channels) != tuple(built):
        raise ValueError(
            f"NonLocalBlock '{name}' was built for inputs of rank "
            f"{built[0]} with {built[1]} channels. Received at "
            f"{where}: shape {tuple(shape)}"
        )
    _check_groups(shape, where, groups)
    _check_pool(shape, where, pool_size(subsample, rank))


def _check_groups(shape, where, groups):
    if groups == 1:
        return
    if len(shape) != 5:
        raise ValueError(
            f"groups={groups} splits the temporal axis and needs "
            f"a (B, T, H, W, C) input. Received at {where}: shape "
            f"{tuple(shape)}"
        )
    if shape[1] is not None and shape[1] % groups:
        raise ValueError(
            f"groups={groups} must divide T. Received at {where}:"
            f" T={shape[1]} (shape {tuple(shape)})"
        )


def _check_pool(shape, where, pool):
    if pool is None:
        return
    for axis, (size, window) in enumerate(
        zip(shape[1:-1], pool, strict=True), start=1
    ):
        if size is not None and size < window:
            raise ValueError(
                f"The subsample pool {pool} is larger than the "
                f"input along axis {axis}. Received at {where}: "
                f"shape {tuple(shape)}"
            )


def attention_shape(shape, groups, pool):
    """The (B, N, N') shape of the attention weights for an input `shape`.

    With `groups > 1` it is (B * groups, N / groups, N' / groups); unknown
    sizes give `None`.

    Args:
        shape: the input shape, a tuple of rank 3, 4 or 5.
        groups: the block's temporal groups.
        pool: the subsampling pool window, or None.

    Example:

    >>> attention_shape((2, 4, 14, 14, 64), 1, (1, 2, 2))
    (2, 784, 196)
    """
    positions = shape[1:-1]
    if groups > 1 and shape[1] is not None:
        positions = (shape[1] // groups,) + positions[1:]
    pool = pool or (1,) * len(positions)
    keys = tuple(
        None if n is None else n // p
        for n, p in zip(positions, pool, strict=True)
    )
    batch = shape[0] * groups if shape[0] is not None else None
    return (batch, _product(positions), _product(keys))


def _product(sizes):
    result = 1
    for size in sizes:
        if size is None:
            return None
        result *= size
    return result
