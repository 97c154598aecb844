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
`synthetic_video.generate_video` draws one video, and
`synthetic_dataset.make_dataset` writes a seeded data set of them. Everything
is seeded: `generate_video(label, seed=...)` always gives the same frames, and
`make_dataset(..., seed=s)` the same files (video `i` of a split depends only
on `(s, split, i)`). Videos are written with PyAV (MPEG-4 Part 2 at a fine
quantiser, no system FFmpeg needed).

Example:
    >>> from nonlocal_tf.data import synthetic_video
    >>> video = synthetic_video.generate_video(1, seed=0)
    >>> video.frames.shape, video.class_name
    ((24, 64, 64, 3), 'same_colour')
    >>> from nonlocal_tf.data import synthetic_dataset
    >>> data = synthetic_dataset.make_dataset(
    ...     "demo/videos", {"train": 400, "test": 100}, seed=0
    ... )  # doctest: +SKIP
    >>> data.entries["train"][0].labels  # doctest: +SKIP
    ('same_colour',)
"""

import dataclasses

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
