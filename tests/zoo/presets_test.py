"""Presets: KerasHub round trips, zoo names downloaded and cached, new heads.

The zoo-name tests serve the PySlowFast fixture checkpoint from a local HTTP
server and compare the converted preset with PySlowFast's own logits.
"""

import dataclasses
import hashlib
import http.server
import os
import threading
import types

import keras
import keras_hub
import numpy as np
import pytest

from nonlocal_tf import zoo
from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.models import VideoClassifier
from nonlocal_tf.models import VideoResNetBackbone
from nonlocal_tf.models import VideoResNetVideoConverter
from tests.fixtures import PYSLOWFAST
from tests.testing import randomise_batch_norms
from tests.testing import to_numpy

SPEC = ClipSpec(
    num_frames=4,
    sampling_rate=2,
    temporal_sampling="pyslowfast",
    crop_size=64,
    jitter_scales=(64, 80),
    test_crop_size=64,
    num_test_clips=1,
    num_test_crops=1,
)
NL = [[], [1], [1], []]
FAMILIES = {
    "c2d": {"arch": "c2d"},
    "c2d_nl": {"arch": "c2d", "nonlocal_locations": NL},
    "i3d": {"arch": "i3d"},
    "i3d_nl": {"arch": "i3d", "nonlocal_locations": NL},
}
CLIP = np.random.default_rng(0).normal(size=(2, 4, 64, 64, 3)).astype("f4")
FIXTURE = "c2d_nln_r50_w8_caffe2.pkl"


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_preset_round_trip_through_our_classes_and_keras_hub(family, tmp_path):
    model = VideoClassifier(
        depth=50,
        width_per_group=2,
        num_classes=5,
        clip_spec=SPEC,
        name=f"tiny_{family}",
        **FAMILIES[family],
    )
    randomise_batch_norms(model)
    expected = to_numpy(model(CLIP))
    assert np.all(np.isfinite(expected)) and np.ptp(expected) > 1e-3
    preset = str(tmp_path / family)
    model.save_to_preset(preset)
    for name in (
        "config.json",
        "task.json",
        "model.weights.h5",
        "task.weights.h5",
        "preprocessor.json",
        "video_converter.json",
        "metadata.json",
        "README.md",
    ):
        assert os.path.isfile(os.path.join(preset, name)), name
    card = open(os.path.join(preset, "README.md")).read()
    for weights in ("model.weights.h5", "task.weights.h5"):
        digest = hashlib.sha256(
            open(os.path.join(preset, weights), "rb").read()
        ).hexdigest()
        assert f"| {weights} | {digest} |" in card

    loaded = VideoClassifier.from_preset(preset)
    assert type(loaded) is VideoClassifier
    assert (
        loaded.clip_spec == SPEC and loaded.architecture == model.architecture
    )
    np.testing.assert_allclose(to_numpy(loaded(CLIP)), expected, atol=1e-6)

    backbone = keras_hub.models.Backbone.from_preset(preset)
    assert type(backbone) is VideoResNetBackbone
    np.testing.assert_allclose(
        to_numpy(backbone(CLIP)), to_numpy(model.backbone(CLIP)), atol=1e-6
    )
    converter = keras_hub.layers.VideoConverter.from_preset(preset)
    assert type(converter) is VideoResNetVideoConverter
    assert (
        converter.get_config()
        == model.preprocessor.video_converter.get_config()
    )


def test_another_class_count_keeps_the_backbone_and_makes_a_new_head(
    tmp_path,
):
    model = VideoClassifier(
        depth=50, width_per_group=2, num_classes=5, clip_spec=SPEC
    )
    randomise_batch_norms(model)
    preset = str(tmp_path / "preset")
    model.save_to_preset(preset)
    for source in (preset, _keras_file(model, tmp_path)):
        three = VideoClassifier.from_preset(source, num_classes=3)
        assert three.output_shape == (None, 3)
        np.testing.assert_allclose(
            to_numpy(three.backbone(CLIP)),
            to_numpy(model.backbone(CLIP)),
            atol=1e-6,
        )
        kernel = to_numpy(three.get_layer("pred").kernel)
        assert kernel.shape == (64, 3)
        assert np.std(kernel) < 0.02  # N(0, 0.01^2): fresh, not copied


def test_class_names_travel_with_the_preset_and_a_new_head_drops_them(
    tmp_path,
):
    import json

    names = ["archery", "bowling", "cooking", "dancing", "eating"]
    model = VideoClassifier(
        depth=50,
        width_per_group=2,
        num_classes=5,
        clip_spec=SPEC,
        class_names=names,
    )
    preset = str(tmp_path / "named")
    model.save_to_preset(preset)
    assert json.load(open(os.path.join(preset, "labels.json"))) == names
    assert "archery, bowling" in open(os.path.join(preset, "README.md")).read()
    assert VideoClassifier.from_preset(preset).class_names == names
    assert (
        VideoClassifier.from_preset(preset, num_classes=3).class_names is None
    )
    with pytest.raises(ValueError, match="class_names has 2 names"):
        VideoClassifier(
            depth=50, width_per_group=2, num_classes=5, class_names=["a", "b"]
        )


def _keras_file(model, tmp_path):
    path = str(tmp_path / "model.keras")
    model.save(path)
    return path


def test_unknown_keyword_argument_is_named():
    with pytest.raises(
        TypeError, match=r"unknown keyword arguments \['clases'\]"
    ):
        zoo.get_model("I3D_NLN_8x8_R50", width_per_group=8, clases=10)


def test_damaged_sources_are_one_line_naming_the_file(tmp_path):
    model = VideoClassifier(
        depth=50, width_per_group=2, num_classes=5, clip_spec=SPEC
    )
    path = _keras_file(model, tmp_path)
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(open(path, "rb").read()[:1000])
    with pytest.raises(zoo.SourceError) as caught:
        VideoClassifier.from_preset(str(truncated))
    assert str(truncated) in str(caught.value)
    assert "\n" not in str(caught.value)
    preset = tmp_path / "preset"
    model.save_to_preset(str(preset))
    os.remove(preset / "model.weights.h5")
    with pytest.raises(zoo.SourceError, match="no model.weights.h5"):
        VideoClassifier.from_preset(str(preset))


class _Server:
    """Serves one file's bytes on 127.0.0.1 (a thread)."""

    def __init__(self, payload):
        self.requests = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                outer.requests += 1
                self.send_response(200)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                del args

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/{FIXTURE}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def fixture_entry(monkeypatch, tmp_path):
    """A zoo entry of the width-8 fixture network, served over HTTP."""
    payload = (PYSLOWFAST / FIXTURE).read_bytes()
    server = _Server(payload)
    base = zoo.get_entry("C2D_NLN_8x8_R50")
    architecture = dict(base.architecture, width_per_group=8)
    entry = dataclasses.replace(
        base,
        name="fixture_c2d_nl5_w8",
        aliases=(),
        architecture=types.MappingProxyType(architecture),
        num_classes=10,
        weights=types.MappingProxyType(
            {
                "kinetics400": zoo.WeightSource(
                    file_name=FIXTURE,
                    url=server.url,
                    file_hash=hashlib.sha256(payload).hexdigest(),
                )
            }
        ),
    )
    registry = zoo.registry.Registry()
    registry.register(entry)
    monkeypatch.setattr(zoo.api, "REGISTRY", registry)
    monkeypatch.setattr(zoo.loading, "REGISTRY", registry)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    yield entry, server
    server.stop()


def test_zoo_preset_downloads_converts_caches_then_works_offline(
    fixture_entry,
):
    entry, server = fixture_entry
    with np.load(PYSLOWFAST / "c2d_nln_r50_w8_io64.npz") as data:
        clip, probs = data["input_nthwc"], data["probs"]
    name = "fixture_c2d_nl5_w8_kinetics400"
    model = VideoClassifier.from_preset(name)
    assert server.requests == 1
    cached = os.path.join(
        os.environ["KERAS_HOME"], zoo.presets.PRESET_CACHE_SUBDIR
    )
    assert os.listdir(cached) == [name]
    # PySlowFast's own probabilities for the fixture input.
    np.testing.assert_allclose(to_numpy(model(clip)), probs, atol=1e-5)

    server.stop()
    again = VideoClassifier.from_preset(name)
    np.testing.assert_allclose(to_numpy(again(clip)), probs, atol=1e-5)

    three = VideoClassifier.from_preset(name, num_classes=3)
    assert three.output_shape == (None, 3)
    np.testing.assert_allclose(
        to_numpy(three.backbone(clip)),
        to_numpy(model.backbone(clip)),
        atol=1e-5,
    )
    backbone = VideoResNetBackbone.from_preset(name)
    np.testing.assert_allclose(
        to_numpy(backbone(clip)), to_numpy(model.backbone(clip)), atol=1e-5
    )


def test_zoo_preset_with_a_wrong_hash_is_refused(fixture_entry, monkeypatch):
    entry, _ = fixture_entry
    source = entry.weights["kinetics400"]
    wrong = dataclasses.replace(source, file_hash="0" * 64)
    monkeypatch.setitem(
        zoo.api.REGISTRY._entries,
        entry.name,
        dataclasses.replace(
            entry, weights=types.MappingProxyType({"kinetics400": wrong})
        ),
    )
    with pytest.raises(zoo.downloads.DownloadError) as caught:
        VideoClassifier.from_preset("fixture_c2d_nl5_w8_kinetics400")
    message = str(caught.value)
    assert source.url in message and "0" * 64 in message
    assert source.file_hash in message
    cached = os.path.join(
        os.environ["KERAS_HOME"], zoo.presets.PRESET_CACHE_SUBDIR
    )
    assert not os.path.exists(cached) or not os.listdir(cached)


def test_presets_are_listed_on_the_classes():
    names = VideoClassifier.presets
    assert "i3d_nl5_r50_8x8_pyslowfast_kinetics400" in names
    assert len(names) == sum(len(e.weights) for e in zoo.api.REGISTRY.entries())
    assert (
        keras.saving.get_registered_object("nonlocal_tf>VideoClassifier")
        is VideoClassifier
    )


@pytest.mark.slow
def test_keras_file_reloads_in_a_fresh_process_after_import_nonlocal_tf(
    tmp_path,
):
    import subprocess
    import sys

    model = VideoClassifier(
        depth=50,
        arch="i3d",
        width_per_group=2,
        num_classes=5,
        nonlocal_locations=NL,
        clip_spec=SPEC,
    )
    randomise_batch_norms(model)
    path = tmp_path / "model.keras"
    model.save(str(path))
    np.save(tmp_path / "clip.npy", CLIP)
    program = (
        "import sys, numpy as np, keras\n"
        "import nonlocal_tf  # registers the classes\n"
        f"m = keras.saving.load_model({str(path)!r}, safe_mode=True)\n"
        "assert type(m).__name__ == 'VideoClassifier', type(m)\n"
        f"clip = np.load({str(tmp_path / 'clip.npy')!r})\n"
        f"np.save({str(tmp_path / 'out.npy')!r}, "
        "keras.ops.convert_to_numpy(m(clip)))\n"
        "print(m.clip_spec.to_json())\n"
    )
    completed = subprocess.run(
        [sys.executable, "-c", program],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert ClipSpec.from_json(completed.stdout) == SPEC
    np.testing.assert_allclose(
        np.load(tmp_path / "out.npy"), to_numpy(model(CLIP)), atol=1e-6
    )


def test_zoo_preset_without_network_is_one_line_naming_the_url(
    fixture_entry,
):
    entry, server = fixture_entry
    server.stop()
    with pytest.raises(zoo.downloads.DownloadError) as caught:
        VideoClassifier.from_preset("fixture_c2d_nl5_w8_kinetics400")
    message = str(caught.value)
    assert "\n" not in message
    assert entry.weights["kinetics400"].url in message
    assert f"/path/{FIXTURE}" in message  # how to pass a local file
