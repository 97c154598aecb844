"""Why a video file cannot be used: `VideoDecodeError` and its `REASONS`.

A video that cannot be used raises `VideoDecodeError` whose `reason` is one of
`REASONS`; preparation reports its skipped videos by these reasons.
"""

MISSING = "missing"
EMPTY_FILE = "empty_file"
NOT_A_VIDEO = "not_a_video"
TRUNCATED = "truncated"
ZERO_FRAMES = "zero_frames"
DECODE_ERROR = "decode_error"
REASONS = (
    MISSING,
    EMPTY_FILE,
    NOT_A_VIDEO,
    TRUNCATED,
    ZERO_FRAMES,
    DECODE_ERROR,
)


class VideoDecodeError(Exception):
    """A video file that cannot be decoded.

    Attributes:
        path: the file.
        reason: one of `REASONS` (`"missing"`, `"empty_file"`,
            `"not_a_video"`, `"truncated"`, `"zero_frames"`,
            `"decode_error"`).
        detail: a human-readable explanation.
    """

    def __init__(self, path, reason, detail):
        super().__init__(f"{path}: {reason}: {detail}")
        self.path = str(path)
        self.reason = reason
        self.detail = detail

    def __reduce__(self):
        return (type(self), (self.path, self.reason, self.detail))
