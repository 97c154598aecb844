"""Attention figures: a query's non-local weights drawn over the clip.

NumPy only (no Keras, no TensorFlow): it draws what
`nonlocal_tf.models.attention.attention_maps` computed, so figures can be
made wherever the maps were saved.

Example:
    >>> from nonlocal_tf import visualization
    >>> from nonlocal_tf.models import attention
    >>> result = attention.attention_maps(model, clip, (4, 14, 14))
    >>> image = visualization.render_attention_grid(frames, result)
    >>> image.dtype, image.shape[-1]
    (dtype('uint8'), 3)
"""

import numpy as np

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
QUERY_COLOUR = (0, 255, 255)
MARK_COLOUR = (255, 255, 255)
# 3 x 5 pixel glyphs of the colour bar's labels (rows top to bottom).
_GLYPHS = {
    "0": ("111", "101", "101", "101", "111"),
    "1": ("010", "110", "010", "010", "111"),
    "2": ("111", "001", "111", "100", "111"),
    "3": ("111", "001", "111", "001", "111"),
    "4": ("101", "101", "111", "001", "001"),
    "5": ("111", "100", "111", "001", "111"),
    "6": ("111", "100", "111", "101", "111"),
    "7": ("111", "001", "010", "010", "010"),
    "8": ("111", "101", "111", "101", "111"),
    "9": ("111", "101", "111", "001", "111"),
    ".": ("000", "000", "000", "000", "010"),
    "-": ("000", "000", "111", "000", "000"),
    "+": ("000", "010", "111", "010", "000"),
    "e": ("000", "111", "111", "100", "111"),
    "u": ("000", "101", "101", "101", "111"),
    "=": ("000", "111", "000", "111", "000"),
    " ": ("000", "000", "000", "000", "000"),
}
_GLYPH_SCALE = 2
_CHAR_WIDTH = (3 + 1) * _GLYPH_SCALE
_TEXT_HEIGHT = 5 * _GLYPH_SCALE
_BAR_HEIGHT = 8
# Bar, its marks, two rows of labels, padding.
COLOUR_BAR_HEIGHT = _BAR_HEIGHT + 2 * (_TEXT_HEIGHT + 3) + 4


def colormap(values):
    """Maps values in [0, 1] to RGB floats in [0, 255] (inferno-like).

    Example:
        >>> colormap([0.0, 1.0]).round()
        array([[  0.,   0.,   4.],
               [252., 255., 164.]])
    """
    values = np.clip(np.asarray(values, np.float32), 0.0, 1.0)
    position = values * (len(_ANCHORS) - 1)
    low = np.minimum(np.floor(position).astype(int), len(_ANCHORS) - 2)
    weight = (position - low)[..., None]
    return _ANCHORS[low] * (1 - weight) + _ANCHORS[low + 1] * weight


def upsample_bilinear(grid, height, width):
    """Bilinear resize of a 2D array (half-pixel centres, edges clamped).

    Example:
        >>> upsample_bilinear([[0.0, 1.0]], 1, 4)
        array([[0.  , 0.25, 0.75, 1.  ]])
    """
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


def _text(image, text, top, left):
    """Writes `text` (characters of `_GLYPHS`) in place, clipped to `image`."""
    for i, char in enumerate(text):
        glyph = np.array([[c == "1" for c in row] for row in _GLYPHS[char]])
        glyph = np.kron(glyph, np.ones((_GLYPH_SCALE, _GLYPH_SCALE), bool))
        x = left + i * _CHAR_WIDTH
        if x < 0 or x + glyph.shape[1] > image.shape[1]:
            continue
        region = image[top : top + glyph.shape[0], x : x + glyph.shape[1]]
        region[glyph[: region.shape[0]]] = MARK_COLOUR


def _label(value):
    return f"{value:.3g}"


def colour_bar(width, low, high, uniform, *, padding=4):
    """The figure's scale: colours from `low` to `high`, uniform marked.

    A strip `COLOUR_BAR_HEIGHT` pixels high: the colour map from `low`
    (left) to `high` (right), `low` and `high` written under its ends, and a
    white mark at `uniform` (the weight of uniform attention, `1 / keys`;
    clamped to the nearer end when outside the range) labelled `u=<value>`.

    Example:
        >>> colour_bar(200, 0.0155, 0.0167, 1 / 64).shape
        (38, 200, 3)
    """
    strip = np.zeros((COLOUR_BAR_HEIGHT, width, 3), np.uint8)
    inner = width - 2 * padding
    bar = colormap(np.linspace(0.0, 1.0, inner))
    strip[2 : 2 + _BAR_HEIGHT, padding : padding + inner] = np.round(bar)
    scale = (high - low) or 1.0
    x = padding + int(
        round(np.clip((uniform - low) / scale, 0, 1) * (inner - 1))
    )
    strip[: _BAR_HEIGHT + 4, max(0, x - 1) : x + 1] = MARK_COLOUR
    row = _BAR_HEIGHT + 5
    _text(strip, _label(low), row, padding)
    high_text = _label(high)
    _text(strip, high_text, row, width - padding - len(high_text) * _CHAR_WIDTH)
    uniform_text = "u=" + _label(uniform)
    left = x - len(uniform_text) * _CHAR_WIDTH // 2
    left = int(np.clip(left, 0, width - len(uniform_text) * _CHAR_WIDTH))
    _text(strip, uniform_text, row + _TEXT_HEIGHT + 3, left)
    return strip


def _outline(panel, centre, half_side):
    """Draws a square outline (in place) around `centre` = (row, column)."""
    height, width = panel.shape[:2]
    y, x = centre
    top, left = max(0, y - half_side), max(0, x - half_side)
    bottom = min(height - 1, y + half_side)
    right = min(width - 1, x + half_side)
    for edge in (
        (slice(top, bottom + 1), left),
        (slice(top, bottom + 1), right),
        (top, slice(left, right + 1)),
        (bottom, slice(left, right + 1)),
    ):
        panel[edge] = QUERY_COLOUR


def render_attention_grid(
    frames,
    result,
    *,
    query_pixel=None,
    columns=None,
    alpha=0.6,
    padding=4,
    scale_bar=True,
):
    """Draws each frame of the clip with the query's attention over it.

    Frame `t` of `T_clip` shows key time step `floor(t * T' / T_clip)`,
    upsampled (bilinear) to the frame, coloured on one scale for the whole
    clip (its smallest weight darkest, its largest brightest) and blended
    over the frame. The query is marked by a cyan square outline on the
    frames of its time step. Near-uniform attention still shows its
    structure on that stretched scale, so the colour bar under the grid
    (`colour_bar`) writes the scale's ends and marks the weight of uniform
    attention (`1 / keys`).

    Args:
        frames: uint8 `(T_clip, S_h, S_w, 3)`, the clip as RGB.
        result: the `AttentionMaps` of that clip (`maps`, `query`,
            `input_grid`, `key_grid`).
        query_pixel: `(row, column)` of the marker; default the centre of
            the query's grid cell.
        columns: frames per row of the grid; default `min(T_clip, 8)`.
        alpha: opacity of the heat map.
        padding: pixels of black between and around the frames.
        scale_bar: add the colour bar under the grid.

    Returns:
        A uint8 image `(rows * (S_h + padding) + padding
        [+ COLOUR_BAR_HEIGHT], columns * (S_w + padding) + padding, 3)`.

    Raises:
        ValueError: `frames` is not `(T, H, W, 3)`.

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
            _outline(panel, query_pixel, marker)
        r, c = divmod(t, columns)
        y0 = padding + r * (height + padding)
        x0 = padding + c * (width + padding)
        image[y0 : y0 + height, x0 : x0 + width] = np.clip(
            np.round(panel), 0, 255
        ).astype(np.uint8)
    if not scale_bar:
        return image
    uniform = 1.0 / result.maps.size
    bar = colour_bar(image.shape[1], low, high, uniform, padding=padding)
    return np.concatenate([image, bar], axis=0)
