"""Writing a seeded, balanced data set of colour-match videos to files.

Video files (PyAV, `write_video`), one `path,label` list per split and the
label map (`make_dataset`); the videos are `synthetic_video.generate_video`'s.
"""

import csv
import dataclasses
import io
import os
import zlib

import numpy as np

from nonlocal_tf import fileio
from nonlocal_tf.data import synthetic
from nonlocal_tf.data import synthetic_video

try:
    import av
except ImportError:  # pragma: no cover - exercised only without the extra
    av = None

LIST_HEADER = ("path", "label")


@dataclasses.dataclass
class SyntheticDataset:
    """What `make_dataset` wrote.

    Attributes:
        entries: {split: [VideoEntry]} in generation order.
        lists: {split: path of its `path,label` list}.
        label_map: {class name: index}.
        label_map_path: `label_map.json` beside the lists.
        config: the `synthetic.SyntheticConfig` used.
    """

    entries: dict
    lists: dict
    label_map: dict
    label_map_path: str
    config: synthetic.SyntheticConfig

    def counts(self):
        """{split: {class name: videos}}."""
        result = {}
        for split, entries in self.entries.items():
            counts = {name: 0 for name in synthetic.CLASS_NAMES}
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
        >>> video = synthetic_video.generate_video(1, seed=0)
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
    labels = np.arange(count) % len(synthetic.CLASS_NAMES)
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
    from tqdm import tqdm

    return tqdm(total=total, desc="generate", unit="video")


def _write_split(output_dir, split, count, seed, config, bar):
    """Writes the videos and the list of one split.

    Returns:
        (path of the split's list, its `VideoEntry`s).
    """
    from nonlocal_tf.data import annotations

    count = int(count)
    if count < 1:
        raise ValueError(f"split {split!r} needs at least 1 video, got {count}")
    os.makedirs(os.path.join(output_dir, split), exist_ok=True)
    labels = _balanced_labels(count, seed, split)
    rows, entries = [], []
    for index in range(count):
        video = synthetic_video.generate_video(
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
        config: a `synthetic.SyntheticConfig`.
        progress: show a tqdm progress bar.

    Returns:
        A `SyntheticDataset` (the entries are ready for
        `nonlocal_tf.data.prepare_dataset`).

    Example:
        >>> data = make_dataset("videos", {"train": 8, "test": 4}, seed=1)
        >>> sorted(data.entries)
        ['test', 'train']
    """
    from nonlocal_tf.data import label_maps

    config = config or synthetic.SyntheticConfig()
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
    label_maps.write_label_map(label_map_path, dict(synthetic.LABEL_MAP))
    return SyntheticDataset(
        entries=entries,
        lists=lists,
        label_map=dict(synthetic.LABEL_MAP),
        label_map_path=label_map_path,
        config=config,
    )
