"""SequenceExample keys, write and parse."""

import numpy as np
import tensorflow as tf

from nonlocal_tf.data import features


def test_keys_are_the_dmvr_model_garden_ones():
    assert features.IMAGE_KEY == "image/encoded"
    assert features.LABEL_INDEX_KEY == "clip/label/index"
    assert features.LABEL_TEXT_KEY == "clip/label/text"
    assert features.VIDEO_ID_KEY == "video/id"
    assert features.FPS_KEY == "video/fps"
    assert features.NUM_FRAMES_KEY == "video/num_frames"


def test_write_then_parse():
    example = features.make_sequence_example(
        [b"\xff\xd8a", b"\xff\xd8bb", b"\xff\xd8ccc"],
        video_id="vid",
        label_indices=[3, 7],
        label_texts=["abseiling", "zumba"],
        fps=29.97,
    )
    # The proto itself, read field by field (not through our parser).
    context = example.context.feature
    assert list(context["clip/label/index"].int64_list.value) == [3, 7]
    assert list(context["video/num_frames"].int64_list.value) == [3]
    frames = example.feature_lists.feature_list["image/encoded"].feature
    assert [f.bytes_list.value[0] for f in frames] == [
        b"\xff\xd8a",
        b"\xff\xd8bb",
        b"\xff\xd8ccc",
    ]
    parsed = features.parse_sequence_example(example.SerializeToString())
    assert parsed["frames"].numpy().tolist() == [
        b"\xff\xd8a",
        b"\xff\xd8bb",
        b"\xff\xd8ccc",
    ]
    assert parsed["label_index"].numpy().tolist() == [3, 7]
    assert parsed["label_text"].numpy().tolist() == [b"abseiling", b"zumba"]
    assert parsed["video_id"].numpy() == b"vid"
    np.testing.assert_allclose(parsed["fps"].numpy(), 29.97, rtol=1e-6)
    assert parsed["num_frames"].numpy() == 3


def test_parse_a_dmvr_style_record_without_our_optional_keys():
    example = tf.train.SequenceExample()
    example.context.feature["clip/label/index"].int64_list.value.append(5)
    frames = example.feature_lists.feature_list["image/encoded"]
    frames.feature.add().bytes_list.value.append(b"jpeg")
    parsed = features.parse_sequence_example(example.SerializeToString())
    assert parsed["label_index"].numpy().tolist() == [5]
    assert parsed["video_id"].numpy() == b""
    assert parsed["fps"].numpy() == 0.0
    assert parsed["num_frames"].numpy() == -1
    assert parsed["frames"].numpy().tolist() == [b"jpeg"]


def test_unlabelled_video_and_mismatched_texts():
    example = features.make_sequence_example([b"x"], video_id="v")
    parsed = features.parse_sequence_example(example.SerializeToString())
    assert parsed["label_index"].numpy().tolist() == []
    try:
        features.make_sequence_example(
            [b"x"], video_id="v", label_indices=[1], label_texts=["a", "b"]
        )
    except ValueError as e:
        assert "'v'" in str(e)
    else:
        raise AssertionError("mismatched label texts were accepted")
