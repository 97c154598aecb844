"""scripts/visualize_nonlocal.py, `nonlocal_tf.models.attention` and
`nonlocal_tf.visualization`.

The attention maps are checked against the embedded-Gaussian weights
computed here in NumPy from the block's theta/phi kernels.
"""

import re

import numpy as np
import pytest

from nonlocal_tf.clip_spec import ClipSpec
from tests.scripts import helpers

MODEL = "C2D_NLN_8x8_R50"
NUM_FRAMES, RATE, CROP = 4, 2, 32
BLOCK = "nonlocal_conv3_1"


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    """A video, a tiny zoo model with a peaked first block, its weights."""
    import keras

    from nonlocal_tf import data
    from nonlocal_tf import zoo

    root = tmp_path_factory.mktemp("visualize")
    video = helpers.colour_video(root / "clip.mp4", 1, seed=5)
    keras.utils.set_random_seed(2)
    model = zoo.get_model(
        MODEL,
        num_classes=3,
        width_per_group=4,
        input_shape=(NUM_FRAMES, CROP, CROP, 3),
    )
    block = model.get_layer(BLOCK)
    # N(0, 0.01) kernels give near-uniform weights; N(0, 1) ones do not.
    rng = np.random.default_rng(0)
    for layer in (block.theta, block.phi):
        layer.kernel.assign(rng.normal(size=layer.kernel.shape))
    weights = root / "tiny.weights.h5"
    model.save_weights(str(weights))
    clip = data.read_video_views(
        str(video),
        ClipSpec(
            num_frames=NUM_FRAMES,
            sampling_rate=RATE,
            temporal_sampling="pyslowfast",  # the PySlowFast entry's own
            test_crop_size=CROP,
            num_test_clips=1,
            num_test_crops=1,
        ),
        short_side=None,
    ).numpy()[0]
    return {
        "root": root,
        "video": video,
        "model": model,
        "weights": weights,
        "clip": clip,
    }


def _numpy_attention(model, clip, query):
    """Embedded Gaussian weights of `query` (grid t, y, x) in NumPy."""
    import keras

    block = model.get_layer(BLOCK)
    x = np.asarray(keras.Model(model.input, block.input)(clip[None]))[0]
    t, h, w, c = x.shape
    theta_k, theta_b = block.theta.get_weights()
    phi_k, phi_b = block.phi.get_weights()
    inner = theta_k.shape[-1]
    theta = x[query] @ theta_k.reshape(c, inner) + theta_b
    pooled = x[:, : h // 2 * 2, : w // 2 * 2]
    pooled = pooled.reshape(t, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))
    phi = pooled @ phi_k.reshape(c, inner) + phi_b
    logits = (phi @ theta) * inner**-0.5
    weights = np.exp(logits - logits.max())
    return weights / weights.sum(), (t, h, w)


def test_attention_maps_equal_numpy(setup):
    from nonlocal_tf.models import attention

    model, clip = setup["model"], setup["clip"]
    assert attention.nonlocal_block_names(model)[0] == BLOCK
    query = (1, 2, 3)
    result = attention.attention_maps(model, clip, query, block=0)
    expected, grid = _numpy_attention(model, clip, query)
    assert result.block == BLOCK
    assert result.input_grid == grid == (2, 4, 4)  # T halved by pool2
    assert result.key_grid == (2, 2, 2) == expected.shape
    np.testing.assert_allclose(result.maps, expected, rtol=1e-4, atol=1e-7)
    np.testing.assert_allclose(result.row, expected.reshape(-1), rtol=1e-4)
    # Far from uniform, so the comparison is telling.
    assert expected.max() > 3 * expected.min()
    # Pixels: frame 3 of 4 -> t 1 of 2; row 20 of 32 -> 2 of 4; column 29
    # of 32 -> 3 of 4.
    by_pixel = attention.attention_maps(
        model, clip, (3, 20, 29), block=BLOCK, units="pixels"
    )
    assert by_pixel.query == query
    np.testing.assert_array_equal(by_pixel.maps, result.maps)
    with pytest.raises(ValueError, match="outside"):
        attention.attention_maps(model, clip, (2, 0, 0))
    with pytest.raises(ValueError, match="no non-local block 'res3'"):
        attention.attention_maps(model, clip, query, block="res3")


def test_script_writes_the_figure(setup, tmp_path):
    import tensorflow as tf

    from nonlocal_tf import visualization
    from nonlocal_tf.models import attention

    output = tmp_path / "figure" / "attention.png"
    stdout = helpers.run_script(
        "visualize_nonlocal.py",
        f"--video={setup['video']}",
        f"--model={MODEL}",
        "--width_per_group=4",
        "--num_classes=3",
        f"--weights={setup['weights']}",
        f"--num_frames={NUM_FRAMES}",
        f"--sampling_rate={RATE}",
        f"--test_crop_size={CROP}",
        "--short_side=0",
        f"--block={BLOCK}",
        "--query=1,2,3",
        f"--output={output}",
    )
    image = tf.io.decode_png(output.read_bytes()).numpy()
    # 4 frames in one row, 4 pixels of padding around each; the colour bar.
    bar_height = visualization.COLOUR_BAR_HEIGHT
    assert image.shape == (CROP + 8 + bar_height, 4 * (CROP + 4) + 4, 3)
    # The script's printed top keys are the NumPy weights' (same clip,
    # same weights, loaded from the file).
    expected, _ = _numpy_attention(setup["model"], setup["clip"], (1, 2, 3))
    printed = re.findall(r"key \((\d), (\d), (\d)\)  ([0-9.]+)", stdout)
    assert len(printed) == 5
    for t, y, x, value in printed:
        assert float(value) == pytest.approx(
            expected[int(t), int(y), int(x)], abs=2e-6
        )
    # The query (t = 1 of 2: frames 2 and 3) is outlined in cyan there only.
    cyan = np.all(image == (0, 255, 255), axis=-1)
    panels = [cyan[4 : 4 + CROP, 4 + i * 36 : 36 + i * 36] for i in range(4)]
    assert [p.any() for p in panels] == [False, False, True, True]
    # A rendering check independent of the script: the heat of a panel is
    # brightest where the attention is.
    result = attention.attention_maps(setup["model"], setup["clip"], (1, 2, 3))
    frames = np.zeros((NUM_FRAMES, CROP, CROP, 3), np.uint8)
    rendered = visualization.render_attention_grid(frames, result, alpha=1.0)
    t, y, x = np.unravel_index(np.argmax(result.maps), result.maps.shape)
    panel = rendered[4 : 4 + CROP, 4 + 2 * t * 36 : 4 + 2 * t * 36 + CROP]
    brightness = panel.astype(int).sum(axis=-1)
    peak_y, peak_x = np.unravel_index(np.argmax(brightness), brightness.shape)
    assert (peak_y * 2 // CROP, peak_x * 2 // CROP) == (y, x)
    # The printed range against uniform attention (1 / keys), from NumPy.
    uniform = 1 / expected.size
    assert f"{expected.max() / uniform:.3f}x uniform" in stdout


def test_colour_bar_marks_the_uniform_level():
    from nonlocal_tf import visualization

    low, high, uniform = 0.01, 0.03, 0.015
    bar = visualization.colour_bar(208, low, high, uniform, padding=4)
    assert bar.shape == (visualization.COLOUR_BAR_HEIGHT, 208, 3)
    # The strip's ends are the colour map's ends (200 bar pixels).
    row = bar[5].astype(float)
    np.testing.assert_allclose(row[4], visualization.colormap(0.0), atol=0.5)
    np.testing.assert_allclose(row[203], visualization.colormap(1.0), atol=0.5)
    # The white mark sits a quarter of the way: (0.015 - 0.01) / 0.02.
    marks = np.flatnonzero(np.all(bar[0] == 255, axis=-1))
    assert marks.min() <= 4 + round(0.25 * 199) <= marks.max() + 1
    assert marks.max() - marks.min() <= 2
