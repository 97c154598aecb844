"""The nonlocal-tf model zoo, installed as `nonlocal_tf.zoo`.

Imported eagerly, as `layers` and `models` are: building Keras models is the
point of the zoo, while `data`, `training` and `export` load on first use
(`nonlocal_tf.lazy_imports`) to keep TensorFlow out of light modules.

Example:
    >>> from nonlocal_tf import zoo
    >>> zoo.list_models()[:2]
    ['c2d_r50_32x2', 'c2d_nl5_r50_32x2']
    >>> model = zoo.get_model("I3D_NLN_8x8_R50", weights="I3D_NLN_8x8_R50.pkl")
"""

from nonlocal_tf.models import VideoClassifier
from nonlocal_tf.models import VideoResNetBackbone

from .api import NoClipSpecError
from .api import clip_spec_of
from .api import from_preset
from .api import get_entry
from .api import get_model
from .api import is_architecture_name
from .api import is_registered
from .api import list_models
from .api import load_model
from .api import load_weights
from .api import rebuild
from .api import register
from .api import register_presets
from .checkpoints import Checkpoint
from .checkpoints import CheckpointFormatError
from .checkpoints import read_checkpoint
from .convert import convert_checkpoint
from .inflation import InflationReport
from .inflation import inflate_2d_weights
from .loading import CheckpointMismatchError
from .loading import LoadReport
from .loading import weights_path
from .presets import SourceError
from .registry import Accuracy
from .registry import ModelEntry
from .registry import WeightSource

register_presets()

__all__ = [
    "Accuracy",
    "Checkpoint",
    "CheckpointFormatError",
    "CheckpointMismatchError",
    "InflationReport",
    "LoadReport",
    "ModelEntry",
    "NoClipSpecError",
    "SourceError",
    "VideoClassifier",
    "VideoResNetBackbone",
    "WeightSource",
    "clip_spec_of",
    "convert_checkpoint",
    "from_preset",
    "get_entry",
    "get_model",
    "inflate_2d_weights",
    "is_architecture_name",
    "is_registered",
    "list_models",
    "load_model",
    "load_weights",
    "read_checkpoint",
    "rebuild",
    "register",
    "weights_path",
]
