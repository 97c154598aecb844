"""`ClipSpec`: validation, strict (de)serialisation, overrides (its light
import: tests/light_imports_test.py)."""

import dataclasses
import json

import pytest

from nonlocal_tf.clip_spec import ClipSpec


def test_defaults_are_the_official_protocol():
    spec = ClipSpec()
    assert spec.train_input_shape == (8, 224, 224, 3)
    assert spec.test_input_shape == (8, 256, 256, 3)
    assert spec.num_test_views == 30
    assert spec.mean == (114.75,) * 3 and spec.std == (57.375,) * 3
    assert (spec.temporal_sampling, spec.test_head) == (
        "caffe2",
        "fully_convolutional",
    )
    assert spec.jpeg_dct_method == "INTEGER_ACCURATE"


def test_round_trip_through_json():
    spec = ClipSpec(
        num_frames=32,
        sampling_rate=2,
        temporal_sampling="pyslowfast",
        jitter_scales=[240, 300],
        mean=[100, 110, 120],
        test_head="global_average",
    )
    text = json.dumps(spec.to_dict())
    again = ClipSpec.from_dict(json.loads(text))
    assert again == spec and again.jitter_scales == (240, 300)
    assert ClipSpec.from_json(spec.to_json()) == spec
    # Every field is in the dict (a complete contract).
    assert set(spec.to_dict()) == {f.name for f in dataclasses.fields(spec)}


def test_unknown_keys_are_refused_by_name():
    with pytest.raises(ValueError, match=r"Unknown clip spec keys \['frames'"):
        ClipSpec.from_dict({"frames": 8, "num_frames": 8})
    with pytest.raises(ValueError, match="fields .'crop'."):
        ClipSpec().override(crop=3)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"num_frames": 0}, "num_frames must be a positive int"),
        ({"sampling_rate": 2.5}, "sampling_rate must be a positive int"),
        ({"temporal_sampling": "random"}, "temporal_sampling must be one of"),
        ({"num_test_crops": 2}, "num_test_crops must be one of"),
        ({"crop_size": 300}, "crop_size <= min <= max"),
        ({"jitter_scales": (320, 256)}, "crop_size <= min <= max"),
        ({"jitter_scales": (256,)}, "needs .min, max."),
        ({"mean": (1, 2)}, "mean needs 3 values"),
        ({"std": (1, 0, 1)}, "std must be positive"),
        ({"test_head": "avg"}, "test_head must be one of"),
        ({"jpeg_dct_method": "FAST"}, "jpeg_dct_method must be one of"),
    ],
)
def test_invalid_values_name_the_field(values, message):
    with pytest.raises(ValueError, match=message):
        ClipSpec(**values)


def test_override_ignores_unset_values_and_reports_changes():
    spec = ClipSpec()
    new, changes = spec.override(
        num_frames=16, sampling_rate=8, crop_size=None, test_crop_size=256
    )
    assert new.num_frames == 16 and new.crop_size == 224
    assert changes == {"num_frames": (8, 16)}  # 8 and 256 were the model's
    assert spec.num_frames == 8  # frozen: the original is unchanged
