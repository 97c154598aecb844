"""Drawing one colour-match video (`generate_video`) and its ground truth.

The task, its classes and `SyntheticConfig` are `synthetic`'s.
"""

import dataclasses

import numpy as np

from nonlocal_tf.data import synthetic


@dataclasses.dataclass(frozen=True)
class ColourSquare:
    """One coloured square: where, when and which colour.

    Attributes:
        colour: palette name.
        rgb: the drawn RGB (the palette colour plus jitter).
        corner: one of `synthetic.CORNERS`.
        top, left: pixel position of its top-left corner.
        size: side in pixels.
        frames: (start, stop) frame range it is visible in.
    """

    colour: str
    rgb: tuple
    corner: str
    top: int
    left: int
    size: int
    frames: tuple

    @property
    def center(self):
        """(row, column) of the square's central pixel."""
        return (self.top + self.size // 2, self.left + self.size // 2)


@dataclasses.dataclass(frozen=True)
class SyntheticVideo:
    """A generated video and its ground truth.

    Attributes:
        frames: uint8 RGB (F, H, W, 3).
        label: class index (`synthetic.CLASS_NAMES`).
        first: the early `ColourSquare`.
        second: the late `ColourSquare`.
        fps: frame rate.
    """

    frames: np.ndarray
    label: int
    first: ColourSquare
    second: ColourSquare
    fps: float

    @property
    def class_name(self):
        return synthetic.CLASS_NAMES[self.label]


def _square(rng, corner, size, config):
    top_margin, left_margin = rng.integers(
        config.margin[0], config.margin[1] + 1, size=2
    )
    top = (
        int(top_margin)
        if corner.startswith("top")
        else config.height - size - int(top_margin)
    )
    left = (
        int(left_margin)
        if corner.endswith("left")
        else config.width - size - int(left_margin)
    )
    return top, left


def _jittered(rng, colour, config):
    base = np.asarray(synthetic.PALETTE[colour], np.int64)
    jitter = rng.integers(
        -config.colour_jitter, config.colour_jitter + 1, size=3
    )
    return tuple(int(v) for v in np.clip(base + jitter, 0, 255))


def _background(rng, config):
    """A smooth grey gradient, different per video."""
    rows = np.linspace(0.0, 1.0, config.height)[:, None]
    cols = np.linspace(0.0, 1.0, config.width)[None, :]
    low, high = sorted(rng.uniform(50, 130, size=2))
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * rows + np.sin(angle) * cols
    ramp = (ramp - ramp.min()) / max(np.ptp(ramp), 1e-9)
    grey = low + (high - low) * ramp
    return np.repeat(grey[..., None], 3, axis=-1)


def _label_index(label):
    """The class index of `label` (an index or a class name), checked."""
    if isinstance(label, str):
        if label not in synthetic.LABEL_MAP:
            raise ValueError(
                f"label must be one of {synthetic.CLASS_NAMES}, got {label}"
            )
        label = synthetic.LABEL_MAP[label]
    label = int(label)
    if label not in (0, 1):
        raise ValueError(f"label must be 0 or 1, got {label}")
    return label


def _squares(rng, label, config):
    """The first and the second `ColourSquare` of a video of `label`."""
    palette = list(config.palette)
    first_colour = palette[rng.integers(len(palette))]
    if label == synthetic.LABEL_MAP[synthetic.SAME]:
        second_colour = first_colour
    else:
        others = [c for c in palette if c != first_colour]
        second_colour = others[rng.integers(len(others))]
    first_corner = synthetic.CORNERS[rng.integers(len(synthetic.CORNERS))]
    second_corner = synthetic.OPPOSITE[first_corner]
    squares = []
    for colour, corner, frames in (
        (first_colour, first_corner, (0, config.first_frames)),
        (
            second_colour,
            second_corner,
            (config.num_frames - config.last_frames, config.num_frames),
        ),
    ):
        size = int(
            rng.integers(config.object_size[0], config.object_size[1] + 1)
        )
        top, left = _square(rng, corner, size, config)
        squares.append(
            ColourSquare(
                colour=colour,
                rgb=_jittered(rng, colour, config),
                corner=corner,
                top=top,
                left=left,
                size=size,
                frames=frames,
            )
        )
    return squares


def _distractors(rng, config):
    """(size, start, end, shade) of each grey square drifting across."""
    distractors = []
    for _ in range(config.num_distractors):
        size = int(
            rng.integers(
                config.distractor_size[0], config.distractor_size[1] + 1
            )
        )
        start = rng.uniform(0, [config.height - size, config.width - size])
        end = rng.uniform(0, [config.height - size, config.width - size])
        shade = float(rng.uniform(*config.distractor_shade))
        distractors.append((size, start, end, shade))
    return distractors


def _render(rng, background, distractors, squares, config):
    """The uint8 frames: background, distractors, squares, then noise."""
    frames = np.empty(
        (config.num_frames, config.height, config.width, 3), np.float32
    )
    for t in range(config.num_frames):
        frame = background.copy()
        phase = t / max(config.num_frames - 1, 1)
        for size, start, end, shade in distractors:
            top, left = np.round(start + phase * (end - start)).astype(int)
            frame[top : top + size, left : left + size] = shade
        for square in squares:
            if square.frames[0] <= t < square.frames[1]:
                frame[
                    square.top : square.top + square.size,
                    square.left : square.left + square.size,
                ] = square.rgb
        frames[t] = frame
    if config.noise_std:
        noise = rng.standard_normal(size=frames.shape, dtype=np.float32)
        frames += np.float32(config.noise_std) * noise
    return np.clip(np.round(frames), 0, 255).astype(np.uint8)


def generate_video(label, *, seed=None, rng=None, config=None):
    """Draws one video of class `label`.

    Args:
        label: class index (0 `different_colours`, 1 `same_colour`) or name.
        seed: seed of a fresh `np.random.default_rng` (int or sequence).
        rng: a `np.random.Generator` to draw from instead of `seed`.
        config: a `synthetic.SyntheticConfig`; default `SyntheticConfig()`.

    Returns:
        A `SyntheticVideo`.

    Example:
        >>> video = generate_video("different_colours", seed=3)
        >>> video.first.colour != video.second.colour
        True
    """
    config = config or synthetic.SyntheticConfig()
    label = _label_index(label)
    if rng is None:
        rng = np.random.default_rng(seed)
    squares = _squares(rng, label, config)
    background = _background(rng, config)
    distractors = _distractors(rng, config)
    return SyntheticVideo(
        frames=_render(rng, background, distractors, squares, config),
        label=label,
        first=squares[0],
        second=squares[1],
        fps=config.fps,
    )
