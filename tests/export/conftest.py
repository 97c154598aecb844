"""One exported tiny model shared by the export tests (SavedModel writes
cost seconds)."""

import dataclasses

import keras
import pytest

from tests.export import helpers

CROP_SIZE = 32


@dataclasses.dataclass
class Exported:
    model: keras.Model
    base_dir: str
    name: str
    path: str
    crop_size: int


@pytest.fixture(scope="session")
def exported(tmp_path_factory):
    """A dynamic-T/H/W logits model exported with label names, top-5."""
    from nonlocal_tf.export import export_saved_model

    keras.utils.set_random_seed(1)
    model = helpers.tiny_classifier()
    base_dir = str(tmp_path_factory.mktemp("served"))
    path = export_saved_model(
        model,
        base_dir,
        "tiny",
        label_names=helpers.LABELS,
        crop_size=CROP_SIZE,
        top_k=5,
        from_logits=True,
    )
    return Exported(model, base_dir, "tiny", path, CROP_SIZE)


@pytest.fixture(scope="session")
def loaded(exported):
    """The export loaded with TF2 `tf.saved_model.load` (for the fakes)."""
    import tensorflow as tf

    return tf.saved_model.load(exported.path)
