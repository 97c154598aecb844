"""Names, aliases and input contracts of the registry."""

import pytest

from nonlocal_tf import zoo
from nonlocal_tf.zoo import entries
from nonlocal_tf.zoo.registry import ModelEntry
from nonlocal_tf.zoo.registry import Registry

# docs/reference.md §8: (file name, frames, rate, frozen BN, top-1, top-5).
OFFICIAL = [
    ("c2d_baseline_32x2_IN_pretrain_400k", 32, 2, False, 72.0, 90.0),
    ("c2d_nonlocal_32x2_IN_pretrain_400k", 32, 2, False, 73.9, 91.0),
    ("i3d_baseline_32x2_IN_pretrain_400k", 32, 2, False, 73.6, 90.8),
    ("i3d_nonlocal_32x2_IN_pretrain_400k", 32, 2, False, 74.9, 91.6),
    ("i3d_baseline_128x1_I3D_pretrain_400k", 128, 1, True, 75.2, 92.0),
    ("i3d_nonlocal_128x1_I3D_pretrain_400k", 128, 1, True, 76.5, 92.7),
    ("c2d_baseline_8x8_IN_pretrain_400k", 8, 8, False, 71.9, 90.0),
    ("c2d_nonlocal_8x8_IN_pretrain_400k", 8, 8, False, 74.4, 91.4),
    ("i3d_baseline_8x8_IN_pretrain_400k", 8, 8, False, 73.4, 90.9),
    ("i3d_nonlocal_8x8_IN_pretrain_400k", 8, 8, False, 74.7, 91.6),
    ("i3d_baseline_32x4_I3D_pretrain_400k", 32, 4, True, 75.5, 92.0),
    ("i3d_nonlocal_32x4_I3D_pretrain_400k", 32, 4, True, 76.5, 92.6),
    ("i3d_baseline_8x8_IN_pretrain_300k", 8, 8, False, 73.2, 90.8),
    ("i3d_baseline_8x8_IN_pretrain_600k_4gpu", 8, 8, False, 73.0, 90.4),
    ("i3d_baseline_8x8_IN_pretrain_300k_4gpu", 8, 8, False, 72.0, 90.1),
]


@pytest.mark.parametrize("file_name,frames,rate,frozen,top1,top5", OFFICIAL)
def test_official_rows(file_name, frames, rate, frozen, top1, top5):
    entry = zoo.get_entry(file_name)
    spec = entry.clip_spec
    assert (spec.num_frames, spec.sampling_rate) == (frames, rate)
    assert bool(entry.architecture.get("frozen_bn")) == frozen
    assert entry.architecture["arch"] == file_name[:3]
    assert bool(any(entry.architecture["nonlocal_locations"])) == (
        "nonlocal" in file_name
    )
    stem = "caffe2_org" if (frames, rate) in ((32, 2), (128, 1)) else "caffe2"
    assert entry.architecture["stem"] == stem
    source = entry.weights["kinetics400"]
    assert source.file_name == f"{file_name}.pkl"
    assert source.url == (
        f"https://dl.fbaipublicfiles.com/video-nonlocal/{file_name}.pkl"
    )
    assert (source.accuracy.top1, source.accuracy.top5) == (top1, top5)
    # video-nonlocal-net's protocol: docs/reference.md §4.
    assert spec.mean == (114.75,) * 3 and spec.std == (57.375,) * 3
    assert spec.temporal_sampling == "caffe2"
    assert spec.jitter_scales == (256, 320) and spec.crop_size == 224
    assert (spec.test_crop_size, spec.num_test_clips) == (256, 10)
    assert spec.num_test_crops == 3
    assert spec.test_head == "fully_convolutional"
    assert entry.input_shape == (frames, 224, 224, 3)


def test_frozen_nonlocal_entries_use_groups_and_no_bn():
    for name in ("i3d_nl5_r50_32x4", "i3d_nl5_r50_128x1"):
        arch = zoo.get_entry(name).architecture
        assert arch["nonlocal_use_bn"] is False
        assert arch["nonlocal_groups"] == (1, 4, 1, 1)


PYSLOWFAST = {
    "C2D_8x8_R50": ("c2d", 50, ((), (), (), ()), None),
    "C2D_NLN_8x8_R50": ("c2d", 50, ((), (1, 3), (1, 3, 5), ()), None),
    "I3D_8x8_R50": ("i3d", 50, ((), (), (), ()), (73.5, 90.8)),
    "I3D_NLN_8x8_R50": ("i3d", 50, ((), (1, 3), (1, 3, 5), ()), (74.0, 91.1)),
    "I3D_8x8_R101": ("i3d", 101, ((), (), (), ()), None),
    "I3D_NLN_8x8_R101": ("i3d", 101, ((), (1, 3), (1, 3, 5), ()), None),
    "C2D_NOPOOL_8x8_R50": ("c2d", 50, ((), (), (), ()), (67.2, 87.8)),
}


@pytest.mark.parametrize("config", sorted(PYSLOWFAST))
def test_pyslowfast_aliases(config):
    arch, depth, locations, accuracy = PYSLOWFAST[config]
    entry = zoo.get_entry(config)
    assert entry.architecture["stem"] == "pyslowfast"
    assert entry.architecture["arch"] == arch
    assert entry.architecture["depth"] == depth
    assert entry.architecture["nonlocal_locations"] == locations
    assert entry.architecture["pool2"] == ("NOPOOL" not in config)
    spec = entry.clip_spec
    assert (spec.num_frames, spec.sampling_rate) == (8, 8)
    assert spec.temporal_sampling == "pyslowfast"
    assert spec.test_head == "fully_convolutional"
    assert (spec.test_crop_size, spec.num_test_views) == (256, 30)
    if accuracy:
        source = entry.weights["kinetics400"]
        assert source.url == (
            "https://dl.fbaipublicfiles.com/pyslowfast/model_zoo/"
            f"kinetics400/{config}.pkl"
        )
        assert (source.accuracy.top1, source.accuracy.top5) == accuracy
    else:
        assert not entry.weights


def test_aliases_resolve_case_insensitively_and_with_paths():
    target = "i3d_nl5_r50_8x8_pyslowfast"
    for alias in (
        "I3D_NLN_8x8_R50",
        "i3d_nln_8x8_r50",
        "configs/Kinetics/c2/I3D_NLN_8x8_R50.yaml",
        "I3D_NLN_8x8_R50.pkl",
        target,
    ):
        assert zoo.get_entry(alias).name == target
    assert zoo.get_entry("i3d_nonlocal_8x8_IN_pretrain_400k").name == (
        "i3d_nl5_r50_8x8"
    )


def test_unknown_names_suggest_close_matches():
    with pytest.raises(ValueError, match="Unknown model 'I3D_NLN_8x8_R5'") as e:
        zoo.get_model("I3D_NLN_8x8_R5")
    assert "I3D_NLN_8x8_R50 -> i3d_nl5_r50_8x8_pyslowfast" in str(e.value)
    with pytest.raises(ValueError, match="list_models"):
        zoo.get_entry("resnet")


def test_duplicate_names_and_aliases_are_refused():
    registry = Registry()
    entry = entries.OFFICIAL[0]
    registry.register(entry)
    with pytest.raises(ValueError, match="already used by 'c2d_r50_32x2'"):
        registry.register(entry)
    clash = ModelEntry(
        name="mine",
        description="",
        architecture=entry.architecture,
        clip_spec=entry.clip_spec,
        aliases=("C2D_BASELINE_32x2_IN_pretrain_400k",),
    )
    with pytest.raises(ValueError, match="already used"):
        registry.register(clash)
    assert registry.names() == ["c2d_r50_32x2"]


def test_catalogue():
    names = zoo.list_models()
    assert len(names) == len(set(names)) == 30
    assert len(zoo.list_models(with_weights=True)) == 18
    for name in names:
        entry = zoo.get_entry(name)
        assert entry.description
        if entry.weights:
            assert entry.reported is not None
    # Paper configurations (no released weights) report the paper's table.
    assert zoo.get_entry("c2d_nl10_r50_32x2").reported.top1 == 74.3
    assert "UNCONFIRMED" in zoo.get_entry("c2d_nl10_r101_32x2").notes


def test_weights_argument_is_checked(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file.*kinetics400"):
        zoo.get_model("i3d_r50_8x8", weights="imagenet", width_per_group=2)
    with pytest.raises(FileNotFoundError, match="has no published weights"):
        zoo.get_model("c2d_r101_32x2", weights="kinetics400")
    with pytest.raises(ValueError, match="full-width"):
        zoo.get_model("i3d_r50_8x8", weights="kinetics400", width_per_group=8)


def test_named_weights_are_fetched_from_the_entry_url(monkeypatch):
    calls = []

    def fake_fetch(url, file_name, **kwargs):
        calls.append((url, file_name, kwargs))
        return "/cache/" + file_name

    monkeypatch.setattr(zoo.downloads, "fetch", fake_fetch)
    path = zoo.weights_path("i3d_nonlocal_8x8_IN_pretrain_400k")
    assert path == "/cache/i3d_nonlocal_8x8_IN_pretrain_400k.pkl"
    assert calls == [
        (
            "https://dl.fbaipublicfiles.com/video-nonlocal/"
            "i3d_nonlocal_8x8_IN_pretrain_400k.pkl",
            "i3d_nonlocal_8x8_IN_pretrain_400k.pkl",
            {"file_hash": None},
        )
    ]
    with pytest.raises(ValueError, match="no weight source 'imagenet'"):
        zoo.weights_path("i3d_nl5_r50_8x8", "imagenet")
