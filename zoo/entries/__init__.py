"""Every named model of the zoo (docs/reference.md §8).

Naming: `{c2d|i3d}[_nl{K}][_nopool]_r{50|101}_{T}x{rate}[_variant]`, where K
is the number of non-local blocks. Upstream names (video-nonlocal-net file
names, PySlowFast config names) are aliases.

Three reference networks differ in the stem (see
`nonlocal_tf.models.STEMS`): the 32x2/128x1 checkpoints come from Caffe2
`resnet_video_org` ("caffe2_org"), the 8x8/32x4 checkpoints from
`resnet_video` ("caffe2", res2 55x55), and the PySlowFast ones from PySlowFast
("pyslowfast", res2 56x56). Each entry uses the stem its checkpoint was made
with, so its weights load and run exactly.
"""

from ..registry import Registry
from .official import OFFICIAL
from .paper import PAPER
from .pyslowfast import PYSLOWFAST

ALL_ENTRIES = OFFICIAL + PYSLOWFAST + PAPER

# The zoo's one registry (`nonlocal_tf.zoo.register` adds to it).
REGISTRY = Registry()
for _entry in ALL_ENTRIES:
    REGISTRY.register(_entry)

__all__ = ["ALL_ENTRIES", "OFFICIAL", "PAPER", "PYSLOWFAST", "REGISTRY"]
