"""Record keys and `tf.train.SequenceExample` write/parse.

The keys are those of DMVR and TF Model Garden, so records written here read
in those libraries, and theirs read here (missing optional keys get
defaults):

- feature list `image/encoded`: one JPEG per frame;
- context `clip/label/index` (int64, one per label, several for
  multi-label), `clip/label/text` (bytes, same order), `video/id` (bytes),
  `video/fps` (float), `video/num_frames` (int64).
"""

import tensorflow as tf

# `integrity`, which imports no other data module, checks that records hold
# frames under this key, so it defines the key.
from nonlocal_tf.data.integrity import IMAGE_KEY

LABEL_INDEX_KEY = "clip/label/index"
LABEL_TEXT_KEY = "clip/label/text"
VIDEO_ID_KEY = "video/id"
FPS_KEY = "video/fps"
NUM_FRAMES_KEY = "video/num_frames"


def _bytes(value):
    return value.encode("utf-8") if isinstance(value, str) else bytes(value)


def make_context(
    num_frames, *, video_id, label_indices=(), label_texts=(), fps=0.0
):
    """The context of a video's record (`make_sequence_example`'s).

    Preparation streams a long video's record: this context, then the
    frames it spooled (`prepare.spool`).

    Args:
        num_frames: the number of frames the record holds.
        video_id: str, a unique name of the video.
        label_indices: class indices (ints); several for multi-label.
        label_texts: class names, same order as `label_indices`.
        fps: frame rate of the frames.

    Returns:
        A `tf.train.Features`.

    Example:
        >>> context = make_context(250, video_id="abc", fps=25.0)
        >>> context.feature[NUM_FRAMES_KEY].int64_list.value[0]
        250
    """
    label_indices = [int(i) for i in label_indices]
    label_texts = [_bytes(t) for t in label_texts]
    if label_texts and len(label_texts) != len(label_indices):
        raise ValueError(
            f"video {video_id!r}: {len(label_indices)} label indices but "
            f"{len(label_texts)} label texts"
        )
    context = tf.train.Features()
    feature = context.feature
    feature[LABEL_INDEX_KEY].int64_list.value.extend(label_indices)
    feature[LABEL_TEXT_KEY].bytes_list.value.extend(label_texts)
    feature[VIDEO_ID_KEY].bytes_list.value.append(_bytes(video_id))
    feature[FPS_KEY].float_list.value.append(float(fps))
    feature[NUM_FRAMES_KEY].int64_list.value.append(int(num_frames))
    return context


def make_sequence_example(
    frames, *, video_id, label_indices=(), label_texts=(), fps=0.0
):
    """Builds the record of one video.

    Args:
        frames: sequence of JPEG-encoded frames (bytes).
        video_id: str, a unique name of the video.
        label_indices: class indices (ints); several for multi-label.
        label_texts: class names, same order as `label_indices`.
        fps: frame rate of `frames`.

    Returns:
        A `tf.train.SequenceExample`.

    Example:
        >>> example = make_sequence_example(
        ...     [jpeg0, jpeg1], video_id="abc", label_indices=[3],
        ...     label_texts=["archery"], fps=30.0)  # doctest: +SKIP
        >>> serialized = example.SerializeToString()  # doctest: +SKIP
    """
    example = tf.train.SequenceExample()
    example.context.CopyFrom(
        make_context(
            len(frames),
            video_id=video_id,
            label_indices=label_indices,
            label_texts=label_texts,
            fps=fps,
        )
    )
    images = example.feature_lists.feature_list[IMAGE_KEY]
    for frame in frames:
        images.feature.add().bytes_list.value.append(bytes(frame))
    return example


def parse_sequence_example(serialized):
    """Parses one serialized record (in a `tf.data` map or eagerly).

    Args:
        serialized: scalar string tensor.

    Returns:
        A dict of tensors: `frames` (string, (N,)), `label_index` (int64,
        (L,)), `label_text` (string, (L,) or (0,)), `video_id` (string, ()),
        `fps` (float32, (), 0 when absent) and `num_frames` (int64, (),
        -1 when absent).

    Example:
        >>> parsed = parse_sequence_example(serialized)  # doctest: +SKIP
        >>> parsed["frames"].shape  # doctest: +SKIP
        TensorShape([250])
    """
    context, sequence = tf.io.parse_single_sequence_example(
        serialized,
        context_features={
            LABEL_INDEX_KEY: tf.io.VarLenFeature(tf.int64),
            LABEL_TEXT_KEY: tf.io.VarLenFeature(tf.string),
            VIDEO_ID_KEY: tf.io.FixedLenFeature([], tf.string, ""),
            FPS_KEY: tf.io.FixedLenFeature([], tf.float32, 0.0),
            NUM_FRAMES_KEY: tf.io.FixedLenFeature([], tf.int64, -1),
        },
        sequence_features={
            IMAGE_KEY: tf.io.FixedLenSequenceFeature([], tf.string),
        },
    )
    return {
        "frames": sequence[IMAGE_KEY],
        "label_index": context[LABEL_INDEX_KEY].values,
        "label_text": context[LABEL_TEXT_KEY].values,
        "video_id": context[VIDEO_ID_KEY],
        "fps": context[FPS_KEY],
        "num_frames": context[NUM_FRAMES_KEY],
    }
