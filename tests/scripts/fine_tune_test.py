"""train.py fine-tunes from a run directory, a preset and a .weights.h5.

A 7-class source network (a narrow C2D_NLN_8x8_R50 with random weights) is
saved in each form; train.py fine-tunes it to the 3 colour classes of the
generated videos with its backbone frozen, so every weight of the result
but the new 3-class head must equal the source's exactly.
"""

import numpy as np
import pytest

from nonlocal_tf.clip_spec import ClipSpec
from tests.scripts import helpers
from tests.testing import randomise_batch_norms

MODEL = "C2D_NLN_8x8_R50"
WIDTH = 4
CLIP_FLAGS = (
    "--num_frames=4",
    "--sampling_rate=2",
    "--crop_size=32",
    "--jitter_scales=32,40",
    "--test_crop_size=32",
    "--num_test_clips=1",
    "--num_test_crops=1",
)


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    from nonlocal_tf import data
    from nonlocal_tf.data import annotations

    root = tmp_path_factory.mktemp("fine_tune")
    entries = []
    for i in range(6):
        path = helpers.colour_video(root / f"v{i}.mp4", i % 3, seed=i)
        entries.append(
            annotations.VideoEntry(
                str(path), f"v{i}", (helpers.CLASS_NAMES[i % 3],)
            )
        )
    data.prepare_dataset(
        entries,
        str(root / "records"),
        split="train",
        num_shards=1,
        label_map={name: i for i, name in enumerate(helpers.CLASS_NAMES)},
        num_workers=0,
        short_side=None,
        progress=False,
    )
    return root, str(root / "records" / "train-*")


@pytest.fixture(scope="module")
def source(records):
    """The 7-class source as a preset, a run directory and a weights file."""
    import keras

    from nonlocal_tf import zoo
    from nonlocal_tf.training import checkpointing

    root, _ = records
    model = zoo.get_model(
        MODEL,
        width_per_group=WIDTH,
        num_classes=7,
        clip_spec=ClipSpec(
            num_frames=4,
            sampling_rate=2,
            crop_size=32,
            jitter_scales=(32, 40),
            test_crop_size=32,
        ),
    )
    randomise_batch_norms(model)
    run = root / "source_run"
    run.mkdir()
    checkpointing.save_model_config(model, str(run))
    checkpointing.save_final_weights(model, str(run))
    model.save_to_preset(str(root / "source_preset"))
    model.save_weights(str(root / "source.weights.h5"))
    weights = {
        v.path: keras.ops.convert_to_numpy(v) for v in model.backbone.weights
    }
    return root, weights


def _fine_tune(records, model_dir, *flags):
    _, train = records
    helpers.run_script(
        "train.py",
        *flags,
        "--num_classes=3",
        f"--train_records={train}",
        *CLIP_FLAGS,
        "--batch_size_per_replica=2",
        "--train_steps=1",
        "--base_learning_rate=0.1",
        "--freeze=backbone",
        "--noprogress_bar",
        f"--model_dir={model_dir}",
    )


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["run", "preset", "weights"])
def test_fine_tuning_keeps_every_weight_but_the_head(kind, records, source):
    import keras

    from nonlocal_tf import zoo

    root, expected = source
    flags = {
        "run": [f"--model={root / 'source_run'}"],
        "preset": [f"--model={root / 'source_preset'}"],
        "weights": [
            f"--model={MODEL}",
            f"--width_per_group={WIDTH}",
            f"--init_weights={root / 'source.weights.h5'}",
        ],
    }[kind]
    model_dir = root / f"tuned_{kind}"
    _fine_tune(records, model_dir, *flags)

    tuned = zoo.load_model(str(model_dir))
    assert tuned.output_shape == (None, 3)
    got = {
        v.path: keras.ops.convert_to_numpy(v) for v in tuned.backbone.weights
    }
    assert got.keys() == expected.keys()
    for path, value in expected.items():
        np.testing.assert_array_equal(got[path], value, err_msg=path)
    kernel = keras.ops.convert_to_numpy(tuned.get_layer("pred").kernel)
    assert kernel.shape == (32 * WIDTH, 3)  # res5 has 32 x width channels
    assert np.all(np.isfinite(kernel))
