"""scripts/export.py: a .keras file and a label file in, a SavedModel out."""

import os
import subprocess
import sys

import numpy as np
import tensorflow as tf

from tests.export import helpers

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def test_export_script_from_keras_file(tmp_path):
    model = helpers.tiny_classifier()
    model.save(tmp_path / "tiny.keras")
    (tmp_path / "labels.txt").write_text("\n".join(helpers.LABELS) + "\n")
    completed = subprocess.run(
        [
            sys.executable,
            os.path.join(REPO_ROOT, "scripts", "export.py"),
            f"--keras_model={tmp_path / 'tiny.keras'}",
            f"--labels={tmp_path / 'labels.txt'}",
            f"--export_dir={tmp_path / 'models'}",
            "--num_frames=4",
            "--test_crop_size=16",
        ],
        cwd=REPO_ROOT,
        env=helpers.clean_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    path = str(tmp_path / "models" / "tiny" / "1")
    assert f"SavedModel: {path}" in completed.stdout
    assert "input  video: float32 (-1, 4, -1, -1, 3)" in completed.stdout
    assert "input  frames: string (-1, 4)" in completed.stdout

    clip = np.random.default_rng(9).uniform(0, 255, (2, 4, 16, 16, 3))
    clip = clip.astype(np.float32)
    outputs = tf.saved_model.load(path).signatures["serving_default"](
        video=tf.constant(clip)
    )
    # --from_logits=auto saw logits and added the softmax.
    expected = helpers.reference_probabilities(model, clip)
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5)
    labels = [x.decode() for x in outputs["top_k_labels"].numpy()[0]]
    assert labels == [
        label for label, _ in helpers.reference_top_k(expected, 5)[0]
    ]
