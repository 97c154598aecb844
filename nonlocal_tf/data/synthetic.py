"""The colour-match task: its classes, palette and `SyntheticConfig`.

Generated videos whose class needs long-range space-time relations.

The "colour match" task: every video shows two coloured squares that are far
apart in space *and* time. The *first* appears in one corner during the first
frames, the *second* in the opposite corner during the last frames; between
them the middle frames show neither. The class says whether the two share a
colour (`same_colour`) or not (`different_colours`). Grey squares drifting
across the whole video and per-pixel noise are distractors.

Why it needs a non-local relation: each square on its own says nothing
(under both classes each square's colour is uniform over the palette), so
the model must relate two positions in opposite corners, `gap_frames` frames
apart. A C2D network without non-local blocks sees one frame at a time until
its global average pool, so its class score is a sum of a first-square term
and a second-square term. "Same colour" is an equality (an XOR for two
colours), not such a sum: the best such rule is right on at most
1/2 + 1/(2K) of the videos for K colours (75% for the default two, e.g.
"same if both are red"), and the C2D baseline trained like the demo's model
stays at chance (0.40-0.53 test top-1, seeds 0-2), while the same network with
non-local blocks, where a position of the second square can attend to the
first one, reaches 1.0.

This module holds the task's classes, palette and `SyntheticConfig`;
`generate_video` draws one video (and its ground truth), `write_video`
writes one file, and `make_dataset` writes a seeded data set of them (video
files, one `path,label` list per split and the label map). Everything
is seeded: `generate_video(label, seed=...)` always gives the same frames, and
`make_dataset(..., seed=s)` the same files (video `i` of a split depends only
on `(s, split, i)`). Videos are written with PyAV (MPEG-4 Part 2 at a fine
quantiser, no system FFmpeg needed).

Example:
    >>> from nonlocal_tf.data import synthetic
    >>> video = generate_video(1, seed=0)
    >>> video.frames.shape, video.class_name
    ((24, 64, 64, 3), 'same_colour')
    >>> data = make_dataset(
    ...     "demo/videos", {"train": 400, "test": 100}, seed=0
    ... )  # doctest: +SKIP
    >>> data.entries["train"][0].labels  # doctest: +SKIP
    ('same_colour',)
"""

import csv
import dataclasses
import io
import os
import zlib

import numpy as np
from tqdm import tqdm

from nonlocal_tf import fileio
from nonlocal_tf.data import annotations

try:
    import av
except ImportError:  # pragma: no cover - exercised only without the extra
    av = None

# The task: classes, palette, config.

DIFFERENT = "different_colours"
SAME = "same_colour"
CLASS_NAMES = (DIFFERENT, SAME)
LABEL_MAP = {name: index for index, name in enumerate(CLASS_NAMES)}

# Well separated hues (RGB); `colour_jitter` varies each shade a little.
PALETTE = {
    "red": (220, 40, 40),
    "green": (40, 190, 60),
    "blue": (50, 80, 235),
    "yellow": (235, 215, 40),
}
# The corner of the first square -> the opposite corner, for the second.
CORNERS = ("top_left", "top_right", "bottom_left", "bottom_right")
OPPOSITE = {
    "top_left": "bottom_right",
    "top_right": "bottom_left",
    "bottom_left": "top_right",
    "bottom_right": "top_left",
}


@dataclasses.dataclass(frozen=True)
class SyntheticConfig:
    """Size and difficulty of the generated videos.

    Attributes:
        num_frames: frames per video (F).
        height: frame height in pixels.
        width: frame width in pixels.
        fps: frame rate written in the file.
        object_size: (min, max) side of the coloured squares, inclusive.
        margin: (min, max) distance of a square from its corner's edges.
        first_frames: number of frames (from the start) showing the first
            square.
        last_frames: number of frames (up to the end) showing the second.
        num_distractors: grey squares drifting across the whole video.
        distractor_size: (min, max) side of the grey squares.
        distractor_shade: (min, max) grey level of the grey squares.
        noise_std: standard deviation of the per-pixel noise (0..255 scale).
        colour_jitter: each channel of a square's colour is moved by up to
            this much (uniform), so "same" means the same hue, not the same
            RGB triple.
        palette: names of the colours used (keys of `PALETTE`).
    """

    num_frames: int = 24
    height: int = 64
    width: int = 64
    fps: float = 12.0
    object_size: tuple = (20, 24)
    margin: tuple = (0, 4)
    first_frames: int = 10
    last_frames: int = 10
    num_distractors: int = 2
    distractor_size: tuple = (6, 10)
    distractor_shade: tuple = (30, 170)
    noise_std: float = 6.0
    colour_jitter: int = 12
    palette: tuple = ("red", "green")

    def __post_init__(self):
        if self.first_frames < 1 or self.last_frames < 1:
            raise ValueError(
                "first_frames and last_frames must be >= 1, got "
                f"{self.first_frames} and {self.last_frames}"
            )
        if self.first_frames + self.last_frames > self.num_frames:
            raise ValueError(
                f"first_frames + last_frames = "
                f"{self.first_frames + self.last_frames} exceeds num_frames="
                f"{self.num_frames}: the squares would overlap in time"
            )
        if len(self.palette) < 2:
            raise ValueError(
                f"palette needs at least 2 colours, got {self.palette}"
            )
        unknown = [c for c in self.palette if c not in PALETTE]
        if unknown:
            raise ValueError(
                f"unknown palette colours {unknown}; known: {sorted(PALETTE)}"
            )
        largest = self.object_size[1] + self.margin[1]
        if 2 * largest > min(self.height, self.width):
            raise ValueError(
                f"object_size {self.object_size} and margin {self.margin} "
                f"do not fit two opposite corners of {self.height}x"
                f"{self.width} frames"
            )

    @property
    def gap_frames(self):
        """Frames between the two squares (showing neither)."""
        return self.num_frames - self.first_frames - self.last_frames


# Drawing one video and its ground truth.


@dataclasses.dataclass(frozen=True)
class ColourSquare:
    """One coloured square: where, when and which colour.

    Attributes:
        colour: palette name.
        rgb: the drawn RGB (the palette colour plus jitter).
        corner: one of `CORNERS`.
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
        label: class index (`CLASS_NAMES`).
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
        return CLASS_NAMES[self.label]


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
    base = np.asarray(PALETTE[colour], np.int64)
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
        if label not in LABEL_MAP:
            raise ValueError(f"label must be one of {CLASS_NAMES}, got {label}")
        label = LABEL_MAP[label]
    label = int(label)
    if label not in (0, 1):
        raise ValueError(f"label must be 0 or 1, got {label}")
    return label


def _squares(rng, label, config):
    """The first and the second `ColourSquare` of a video of `label`."""
    palette = list(config.palette)
    first_colour = palette[rng.integers(len(palette))]
    if label == LABEL_MAP[SAME]:
        second_colour = first_colour
    else:
        others = [c for c in palette if c != first_colour]
        second_colour = others[rng.integers(len(others))]
    first_corner = CORNERS[rng.integers(len(CORNERS))]
    second_corner = OPPOSITE[first_corner]
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
        config: a `SyntheticConfig`; default `SyntheticConfig()`.

    Returns:
        A `SyntheticVideo`.

    Example:
        >>> video = generate_video("different_colours", seed=3)
        >>> video.first.colour != video.second.colour
        True
    """
    config = config or SyntheticConfig()
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


# Writing video files and a seeded, balanced data set of them.

LIST_HEADER = ("path", "label")


@dataclasses.dataclass
class SyntheticDataset:
    """What `make_dataset` wrote.

    Attributes:
        entries: {split: [VideoEntry]} in generation order.
        lists: {split: path of its `path,label` list}.
        label_map: {class name: index}.
        label_map_path: `label_map.json` beside the lists.
        config: the `SyntheticConfig` used.
    """

    entries: dict
    lists: dict
    label_map: dict
    label_map_path: str
    config: SyntheticConfig

    def counts(self):
        """{split: {class name: videos}}."""
        result = {}
        for split, entries in self.entries.items():
            counts = {name: 0 for name in CLASS_NAMES}
            for entry in entries:
                counts[entry.labels[0]] += 1
            result[split] = counts
        return result


def video_seed(seed, split, index):
    """The seed of video `index` of `split` (independent of split sizes).

    Example:
        >>> video_seed(0, "train", 3) == video_seed(0, "train", 3)
        True
    """
    return [int(seed), zlib.crc32(str(split).encode()), int(index)]


def write_video(path, frames, *, fps=12.0, qscale=2):
    """Writes uint8 RGB frames (F, H, W, 3) as an MPEG-4 file with PyAV.

    The file appears complete or not at all (temporary file, then rename).

    Args:
        path: output path; the container follows its extension (`.mp4`).
        frames: uint8 array (F, H, W, 3); H and W must be even (yuv420p).
        fps: frame rate.
        qscale: MPEG-4 quantiser, 2 (best) to 31.

    Returns:
        `path`.

    Example:
        >>> video = generate_video(1, seed=0)
        >>> write_video("square.mp4", video.frames)
        'square.mp4'
    """
    if av is None:
        raise ImportError(
            "Writing videos needs PyAV: pip install 'nonlocal-tf[video]'"
        )
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(
            f"frames for {path} must be uint8 (F, H, W, 3); got "
            f"{frames.dtype} {frames.shape}"
        )
    if frames.shape[1] % 2 or frames.shape[2] % 2:
        raise ValueError(
            f"frames for {path} need an even height and width (yuv420p); "
            f"got {frames.shape[1]}x{frames.shape[2]}"
        )
    path = os.fspath(path)
    with fileio.atomic_path(path) as temp:
        # The temporary name keeps the extension: it picks the container.
        with av.open(temp, "w") as output:
            stream = output.add_stream("mpeg4", rate=round(fps))
            stream.height, stream.width = frames.shape[1:3]
            stream.pix_fmt = "yuv420p"
            stream.codec_context.qmin = qscale
            stream.codec_context.qmax = qscale
            for frame in frames:
                packets = stream.encode(
                    av.VideoFrame.from_ndarray(frame, format="rgb24")
                )
                output.mux(packets)
            output.mux(stream.encode())
    return path


def _balanced_labels(count, seed, split):
    labels = np.arange(count) % len(CLASS_NAMES)
    rng = np.random.default_rng(video_seed(seed, split, -1)[:2] + [count])
    return rng.permutation(labels)


def _write_list(path, rows):
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(LIST_HEADER)
    writer.writerows(rows)
    fileio.atomic_write_text(path, buffer.getvalue())


def _progress_bar(total, progress):
    """A tqdm bar over `total` videos, or None without `progress`."""
    if not progress:
        return None
    return tqdm(total=total, desc="generate", unit="video")


def _write_split(output_dir, split, count, seed, config, bar):
    """Writes the videos and the list of one split.

    Returns:
        (path of the split's list, its `VideoEntry`s).
    """
    count = int(count)
    if count < 1:
        raise ValueError(f"split {split!r} needs at least 1 video, got {count}")
    os.makedirs(os.path.join(output_dir, split), exist_ok=True)
    labels = _balanced_labels(count, seed, split)
    rows, entries = [], []
    for index in range(count):
        video = generate_video(
            int(labels[index]),
            seed=video_seed(seed, split, index),
            config=config,
        )
        relative = os.path.join(split, f"{split}_{index:05d}.mp4")
        path = os.path.join(output_dir, relative)
        write_video(path, video.frames, fps=config.fps)
        rows.append((relative, video.class_name))
        entries.append(
            annotations.VideoEntry(
                path=path,
                video_id=os.path.splitext(relative)[0],
                labels=(video.class_name,),
            )
        )
        if bar is not None:
            bar.update(1)
    list_path = os.path.join(output_dir, f"{split}.csv")
    _write_list(list_path, rows)
    return list_path, entries


def make_dataset(
    output_dir, split_sizes, *, seed=0, config=None, progress=False
):
    """Writes a balanced, seeded data set of colour-match videos.

    Layout: `<output_dir>/<split>/<split>_<index:05d>.mp4`, one list per split
    `<output_dir>/<split>.csv` (`path,label`, paths relative to
    `output_dir`; read it with `nonlocal_tf.data.read_video_list`) and
    `<output_dir>/label_map.json` (`{"different_colours": 0,
    "same_colour": 1}`).

    Args:
        output_dir: folder to write into (created).
        split_sizes: {split name: number of videos}, e.g. `{"train": 400,
            "val": 100, "test": 100}`. Each split has as many videos of each
            class as possible (counts differ by at most one).
        seed: data set seed; video `i` of split `s` depends only on
            `(seed, s, i)` and `config`.
        config: a `SyntheticConfig`.
        progress: show a tqdm progress bar.

    Returns:
        A `SyntheticDataset` (the entries are ready for
        `nonlocal_tf.data.prepare_dataset`).

    Example:
        >>> data = make_dataset("videos", {"train": 8, "test": 4}, seed=1)
        >>> sorted(data.entries)
        ['test', 'train']
    """
    config = config or SyntheticConfig()
    output_dir = os.fspath(output_dir)
    os.makedirs(output_dir, exist_ok=True)
    total = sum(int(n) for n in split_sizes.values())
    bar = _progress_bar(total, progress)
    entries, lists = {}, {}
    try:
        for split, count in split_sizes.items():
            lists[split], entries[split] = _write_split(
                output_dir, split, count, seed, config, bar
            )
    finally:
        if bar is not None:
            bar.close()
    label_map_path = os.path.join(output_dir, "label_map.json")
    annotations.write_label_map(label_map_path, dict(LABEL_MAP))
    return SyntheticDataset(
        entries=entries,
        lists=lists,
        label_map=dict(LABEL_MAP),
        label_map_path=label_map_path,
        config=config,
    )
