"""Non-local attention maps of a model, for figures like the paper's Fig. 3.

For one query position of a chosen `NonLocalBlock`, the block's normalised
pairwise weights `f(x_i, x_j) / C(x)` over every key position `j` of the clip
are read with the layer's `return_attention=True` and laid out on the key
grid `(T', H', W')` (the block's input grid after its subsampling pool).
`render_attention_grid` draws them over the clip's frames (NumPy only).

Positions:
- the *input grid* `(T, H, W)` is the block's input (e.g. res3: 8 x 28 x 28
  for an 8 x 224 x 224 C2D clip, 4 x 28 x 28 after a temporal pool2);
- *pixels* are `(frame, row, column)` of the clip fed to the model; pixel
  `p` of a side of `S` pixels falls in grid cell `floor(p * H / S)`, frame
  `t` of `T_clip` in grid step `floor(t * T / T_clip)`.
"""

import dataclasses

import keras
import numpy as np

from nonlocal_tf.layers import NonLocalBlock


@dataclasses.dataclass
class AttentionMaps:
    """The attention of one query over the whole clip.

    Attributes:
        block: name of the non-local block.
        maps: float32 `(T', H', W')`, the query's weights over the key grid;
            they sum to 1 for the softmax instantiations. With temporal
            `groups`, frames outside the query's group are 0.
        query: `(t, y, x)` on the block's input grid.
        input_grid: `(T, H, W)` of the block's input.
        key_grid: `(T', H', W')`.
        row: the query's attention row as the layer returned it (flat keys
            in (T', H', W') order, the query's temporal group only).
    """

    block: str
    maps: np.ndarray
    query: tuple
    input_grid: tuple
    key_grid: tuple
    row: np.ndarray


def nonlocal_block_names(model):
    """Names of the model's `NonLocalBlock` layers, in graph order.

    Example:
        >>> nonlocal_block_names(zoo.get_model("C2D_NLN_8x8_R50"))[:2]
        ['nonlocal_conv3_1', 'nonlocal_conv3_3']
    """
    return [
        layer.name for layer in model.layers if isinstance(layer, NonLocalBlock)
    ]


def _block(model, block):
    names = nonlocal_block_names(model)
    if not names:
        raise ValueError(f"Model '{model.name}' has no NonLocalBlock layer.")
    if isinstance(block, int) or (isinstance(block, str) and block.isdigit()):
        index = int(block)
        if not 0 <= index < len(names):
            raise ValueError(
                f"Block index {index} is out of range: model '{model.name}' "
                f"has {len(names)} non-local blocks ({', '.join(names)})."
            )
        block = names[index]
    if block not in names:
        raise ValueError(
            f"Model '{model.name}' has no non-local block {block!r}; it has "
            f"{', '.join(names)}."
        )
    return model.get_layer(block)


def _key_grid(layer, input_grid):
    """The input grid after the block's subsampling pool (floor)."""
    pool = layer.pool_size or (1,) * len(input_grid)
    return tuple(size // p for size, p in zip(input_grid, pool, strict=True))


def pixel_to_grid(query, clip_shape, input_grid):
    """Maps `(frame, row, column)` pixels of the clip to the input grid.

    Args:
        query: `(t, y, x)` in frames and pixels of the clip.
        clip_shape: `(T_clip, S_h, S_w)`.
        input_grid: `(T, H, W)` of the block's input.

    Example:
        >>> pixel_to_grid((5, 100, 30), (8, 224, 224), (4, 28, 28))
        (2, 12, 3)
    """
    out = []
    for value, size, grid, name in zip(
        query, clip_shape, input_grid, ("frame", "row", "column"), strict=True
    ):
        if not 0 <= value < size:
            raise ValueError(
                f"Query {name} {value} is outside the clip's 0..{size - 1}."
            )
        out.append(int(value) * int(grid) // int(size))
    return tuple(out)


def attention_maps(model, clip, query, *, block=0, units="grid"):
    """The attention of `query` over all key positions of `clip`.

    A sub-model computes the block's input; the block itself is then called
    on it with `return_attention=True` (inference mode).

    Args:
        model: a functional Keras model with non-local blocks (e.g. a zoo
            model), taking normalised clips `(B, T_clip, S, S, 3)`.
        clip: one normalised clip `(T_clip, S_h, S_w, 3)`.
        query: `(t, y, x)` on the block's input grid (`units="grid"`) or in
            frames and pixels of the clip (`units="pixels"`); None: the
            centre of the input grid.
        block: the block's name or index among `nonlocal_block_names`.
        units: `"grid"` or `"pixels"`.

    Returns:
        An `AttentionMaps`.

    Raises:
        ValueError: no such block, or a query outside the grid / clip.

    Example:
        >>> result = attention_maps(model, views[0], (4, 14, 14), block=0)
        >>> result.maps.shape
        (8, 14, 14)
    """
    layer = _block(model, block)
    clip = np.asarray(clip, dtype="float32")
    if clip.ndim != 4:
        raise ValueError(
            f"clip must be one clip (T, H, W, 3); got shape {clip.shape}"
        )
    if units not in ("grid", "pixels"):
        raise ValueError(f"units must be 'grid' or 'pixels'; got {units!r}")
    to_block = keras.Model(model.input, layer.input)
    x = to_block(clip[None], training=False)
    if len(x.shape) != 5:
        raise ValueError(
            f"Block {layer.name!r} has input shape {tuple(x.shape)}; attention "
            "maps need a video block (B, T, H, W, C)."
        )
    _, attention = layer(x, training=False, return_attention=True)
    attention = keras.ops.convert_to_numpy(attention)
    input_grid = tuple(int(s) for s in x.shape[1:4])
    key_grid = _key_grid(layer, input_grid)
    if query is None:
        query = tuple(size // 2 for size in input_grid)
    elif units == "pixels":
        query = pixel_to_grid(query, clip.shape[:3], input_grid)
    query = tuple(int(q) for q in query)
    for value, size, name in zip(
        query, input_grid, ("t", "y", "x"), strict=True
    ):
        if not 0 <= value < size:
            raise ValueError(
                f"Query {name}={value} is outside block {layer.name!r}'s "
                f"input grid {input_grid} (T, H, W)."
            )
    groups = layer.groups
    t, y, x_ = query
    frames_per_group = input_grid[0] // groups
    keys_per_group = key_grid[0] // groups
    group = t // frames_per_group
    row_index = np.ravel_multi_index(
        (t - group * frames_per_group, y, x_),
        (frames_per_group,) + input_grid[1:],
    )
    row = attention[group, row_index]
    expected = keys_per_group * key_grid[1] * key_grid[2]
    if row.shape != (expected,):
        raise ValueError(
            f"Block {layer.name!r} returned {row.shape[0]} keys per query, "
            f"expected {expected} for the key grid {key_grid}."
        )
    maps = np.zeros(key_grid, np.float32)
    start = group * keys_per_group
    maps[start : start + keys_per_group] = row.reshape(
        (keys_per_group,) + key_grid[1:]
    )
    return AttentionMaps(
        block=layer.name,
        maps=maps,
        query=query,
        input_grid=input_grid,
        key_grid=key_grid,
        row=row,
    )


# Perceptually ordered anchors (black, purple, red, orange, yellow, white):
# an approximation of the "inferno" colour map.
_ANCHORS = np.array(
    [
        [0, 0, 4],
        [87, 16, 110],
        [188, 55, 84],
        [249, 142, 9],
        [252, 255, 164],
    ],
    np.float32,
)


def colormap(values):
    """Maps values in [0, 1] to RGB float32 in [0, 255] (inferno-like)."""
    values = np.clip(np.asarray(values, np.float32), 0.0, 1.0)
    position = values * (len(_ANCHORS) - 1)
    low = np.minimum(np.floor(position).astype(int), len(_ANCHORS) - 2)
    weight = (position - low)[..., None]
    return _ANCHORS[low] * (1 - weight) + _ANCHORS[low + 1] * weight


def upsample_bilinear(grid, height, width):
    """Bilinear resize of a 2D array (half-pixel centres, edges clamped)."""
    grid = np.asarray(grid, np.float32)

    def coordinates(out_size, in_size):
        centres = (np.arange(out_size) + 0.5) * in_size / out_size - 0.5
        centres = np.clip(centres, 0, in_size - 1)
        low = np.floor(centres).astype(int)
        high = np.minimum(low + 1, in_size - 1)
        return low, high, centres - low

    y0, y1, wy = coordinates(height, grid.shape[0])
    x0, x1, wx = coordinates(width, grid.shape[1])
    rows = grid[y0] * (1 - wy)[:, None] + grid[y1] * wy[:, None]
    return rows[:, x0] * (1 - wx) + rows[:, x1] * wx


def render_attention_grid(
    frames,
    result,
    *,
    query_pixel=None,
    columns=None,
    alpha=0.6,
    padding=4,
):
    """Draws each frame of the clip with the query's attention over it.

    Frame `t` of `T_clip` shows key time step `floor(t * T' / T_clip)`,
    upsampled (bilinear) to the frame, coloured on one scale for the whole
    clip (its smallest weight darkest, its largest brightest: near-uniform
    attention still shows its structure, so read the values from `result`)
    and blended over the frame. The
    query is marked by a cyan square outline on the frames of its time step.

    Args:
        frames: uint8 `(T_clip, S_h, S_w, 3)`, the clip as RGB.
        result: `AttentionMaps` of that clip.
        query_pixel: `(row, column)` of the marker; default the centre of
            the query's grid cell.
        columns: frames per row of the grid; default `min(T_clip, 8)`.
        alpha: opacity of the heat map.
        padding: pixels of black between and around the frames.

    Returns:
        A uint8 image `(rows * (S_h + padding) + padding,
        columns * (S_w + padding) + padding, 3)`.

    Example:
        >>> image = render_attention_grid(frames, attention_maps(...))
    """
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (T, H, W, 3); got {frames.shape}")
    num_frames, height, width, _ = frames.shape
    key_t = result.key_grid[0]
    in_t, in_h, in_w = result.input_grid
    columns = columns or min(num_frames, 8)
    rows = -(-num_frames // columns)
    image = np.zeros(
        (
            rows * (height + padding) + padding,
            columns * (width + padding) + padding,
            3,
        ),
        np.uint8,
    )
    low, high = float(result.maps.min()), float(result.maps.max())
    scale = (high - low) or 1.0
    qt, qy, qx = result.query
    if query_pixel is None:
        query_pixel = (
            int((qy + 0.5) * height / in_h),
            int((qx + 0.5) * width / in_w),
        )
    marker = max(2, min(height, width) // 32)
    for t in range(num_frames):
        heat = upsample_bilinear(
            (result.maps[t * key_t // num_frames] - low) / scale,
            height,
            width,
        )
        panel = frames[t].astype(np.float32) * (1 - alpha)
        panel += colormap(heat) * alpha
        if t * in_t // num_frames == qt:
            y, x = query_pixel
            top, left = max(0, y - marker), max(0, x - marker)
            bottom = min(height - 1, y + marker)
            right = min(width - 1, x + marker)
            for edge in (
                (slice(top, bottom + 1), left),
                (slice(top, bottom + 1), right),
                (top, slice(left, right + 1)),
                (bottom, slice(left, right + 1)),
            ):
                panel[edge] = (0, 255, 255)
        r, c = divmod(t, columns)
        y0 = padding + r * (height + padding)
        x0 = padding + c * (width + padding)
        image[y0 : y0 + height, x0 : x0 + width] = np.clip(
            np.round(panel), 0, 255
        ).astype(np.uint8)
    return image
