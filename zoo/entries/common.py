"""What the entry rows share: URLs, sources, placements, helpers."""

import types

from nonlocal_tf import clip_spec

from ..registry import WeightSource

C2_URL = "https://dl.fbaipublicfiles.com/video-nonlocal/{}.pkl"
PSF_URL = (
    "https://dl.fbaipublicfiles.com/pyslowfast/model_zoo/kinetics400/{}.pkl"
)
C2_SOURCE = "video-nonlocal-net README (30 views: 10 clips x 3 crops)"
PSF_SOURCE = "PySlowFast MODEL_ZOO.md (30 views: 3 crops x 10 clips)"
PAPER_SOURCE = "paper Table 2{} (10-clip fully-convolutional test)"

# Non-local placements (0-based block index per stage res2..res5). A block
# follows the final ReLU of each listed residual block.
NL5_R50 = ((), (1, 3), (1, 3, 5), ())
# video-nonlocal-net R101: res3 layer_mod forced to 2, res4 layer_mod 2*4-1.
NL5_R101_CAFFE2 = ((), (1, 3), (6, 13, 20), ())
# PySlowFast configs/Kinetics/I3D_NLN_8x8_R101.yaml keeps the R50 indices.
NL5_R101_PYSLOWFAST = ((), (1, 3), (1, 3, 5), ())
# "right before the last residual block of res4" (paper §4).
NL1_R50 = ((), (), (4,), ())
NL1_R101 = ((), (), (21,), ())
# "every residual block in res3 and res4" (paper §4; Caffe2 LAYER_MOD=1).
NL10_R50 = ((), (0, 1, 2, 3), (0, 1, 2, 3, 4, 5), ())
# Caffe2 LAYER_MOD=1 for R101: res3 mod forced 2, res4 mod 3 -> 9 blocks.
NL10_R101_CAFFE2 = ((), (1, 3), (2, 5, 8, 11, 14, 17, 20), ())


def arch_spec(
    arch, depth, stem, nonlocal_locations=None, *, pool2=True, frozen_bn=False
):
    spec = {
        "depth": depth,
        "arch": arch,
        "stem": stem,
        "pool2": pool2,
        "nonlocal_locations": nonlocal_locations or ((), (), (), ()),
    }
    if frozen_bn:
        # 32x4 / 128x1: BN folded into Affine; NL blocks without BN whose
        # res3 blocks attend within 4 contiguous groups of frames (Caffe2
        # add_nonlocal_group: group_num = 16 / group_size 4).
        spec.update(
            frozen_bn=True,
            nonlocal_use_bn=False,
            nonlocal_groups=(1, 4, 1, 1),
        )
    return types.MappingProxyType(spec)


def caffe2_spec(frames, rate):
    """video-nonlocal-net's protocol: `JITTER_SCALES [256, 320]`, crop 224,
    test `TEST_FULLY_CONV` at short side 256, 10 clips x 3 crops, clips that
    wrap around (`customized_video_io.cc`), (pixel - 114.75) / 57.375."""
    return clip_spec.ClipSpec(
        num_frames=frames,
        sampling_rate=rate,
        temporal_sampling=clip_spec.CAFFE2,
    )


def pyslowfast_spec(frames, rate):
    """PySlowFast's Kinetics configs: `TRAIN_JITTER_SCALES [256, 320]`,
    `TRAIN_CROP_SIZE 224`, `TEST_CROP_SIZE 256`, `NUM_ENSEMBLE_VIEWS 10` x
    `NUM_SPATIAL_CROPS 3`, `DATA.MEAN/STD` 0.45/0.225, clamped linspace
    sampling (`decoder.py`), fully convolutional `ResNetBasicHead` in eval."""
    return clip_spec.ClipSpec(
        num_frames=frames,
        sampling_rate=rate,
        temporal_sampling=clip_spec.PYSLOWFAST,
    )


def weights(file_name, url, accuracy, fmt="caffe2"):
    return types.MappingProxyType(
        {
            "kinetics400": WeightSource(
                file_name=file_name, url=url, format=fmt, accuracy=accuracy
            )
        }
    )
