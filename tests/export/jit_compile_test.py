"""An export with XLA-compiled serving functions loads and answers alike."""

import numpy as np
import pytest

from tests.export import conftest
from tests.export import helpers


@pytest.fixture(scope="module")
def jit_exported(exported, tmp_path_factory):
    from nonlocal_tf.export import export_saved_model

    return export_saved_model(
        exported.model,
        str(tmp_path_factory.mktemp("served_jit")),
        "tiny",
        label_names=helpers.LABELS,
        crop_size=conftest.CROP_SIZE,
        top_k=5,
        from_logits=True,
        warmup=False,
        jit_compile=True,
    )


def test_jit_compiled_export_matches_plain_export(
    exported, loaded, jit_exported
):
    import tensorflow as tf

    jit_loaded = tf.saved_model.load(jit_exported)
    rng = np.random.default_rng(5)
    crop = exported.crop_size
    video = rng.uniform(0, 255, (2, 4, crop, crop + 8, 3)).astype(np.float32)
    frames = helpers.frames_array(
        [[helpers.encode_jpeg_pil(rng.integers(0, 256, (crop, crop, 3)))] * 3]
    )
    cases = [
        ("serving_default", "video", video),
        ("classify_frames", "frames", frames),
    ]
    for signature, name, value in cases:
        got = jit_loaded.signatures[signature](**{name: tf.constant(value)})
        want = loaded.signatures[signature](**{name: tf.constant(value)})
        np.testing.assert_allclose(
            got["probabilities"].numpy(),
            want["probabilities"].numpy(),
            rtol=0,
            atol=1e-5,
        )
    np.testing.assert_allclose(
        jit_loaded.signatures["serving_default"](video=tf.constant(video))[
            "probabilities"
        ].numpy(),
        helpers.reference_probabilities(exported.model, video),
        rtol=0,
        atol=1e-5,
    )
