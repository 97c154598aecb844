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

import types

from nonlocal_tf import clip_spec

from .registry import Accuracy
from .registry import ModelEntry
from .registry import WeightSource

_C2_URL = "https://dl.fbaipublicfiles.com/video-nonlocal/{}.pkl"
_PSF_URL = (
    "https://dl.fbaipublicfiles.com/pyslowfast/model_zoo/kinetics400/{}.pkl"
)
_C2_SOURCE = "video-nonlocal-net README (30 views: 10 clips x 3 crops)"
_PSF_SOURCE = "PySlowFast MODEL_ZOO.md (30 views: 3 crops x 10 clips)"
_PAPER = "paper Table 2{} (10-clip fully-convolutional test)"

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


def _arch(
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


def _caffe2_spec(frames, rate):
    """video-nonlocal-net's protocol: `JITTER_SCALES [256, 320]`, crop 224,
    test `TEST_FULLY_CONV` at short side 256, 10 clips x 3 crops, clips that
    wrap around (`customized_video_io.cc`), (pixel - 114.75) / 57.375."""
    return clip_spec.ClipSpec(
        num_frames=frames,
        sampling_rate=rate,
        temporal_sampling=clip_spec.CAFFE2,
    )


def _pyslowfast_spec(frames, rate):
    """PySlowFast's Kinetics configs: `TRAIN_JITTER_SCALES [256, 320]`,
    `TRAIN_CROP_SIZE 224`, `TEST_CROP_SIZE 256`, `NUM_ENSEMBLE_VIEWS 10` x
    `NUM_SPATIAL_CROPS 3`, `DATA.MEAN/STD` 0.45/0.225, clamped linspace
    sampling (`decoder.py`), fully convolutional `ResNetBasicHead` in eval."""
    return clip_spec.ClipSpec(
        num_frames=frames,
        sampling_rate=rate,
        temporal_sampling=clip_spec.PYSLOWFAST,
    )


def _weights(file_name, url, accuracy, fmt="caffe2"):
    return types.MappingProxyType(
        {
            "kinetics400": WeightSource(
                file_name=file_name, url=url, format=fmt, accuracy=accuracy
            )
        }
    )


def _official(
    *, name, file_name, arch, frames, rate, nonlocal_locations, top1, top5
):
    """A video-nonlocal-net R50 checkpoint."""
    stem = "caffe2_org" if (frames, rate) in ((32, 2), (128, 1)) else "caffe2"
    frozen = (frames, rate) in ((32, 4), (128, 1))
    blocks = sum(len(s) for s in nonlocal_locations or ())
    kind = f"{arch.upper()} R50" + (f" + {blocks} NL" if blocks else "")
    accuracy = Accuracy(top1, top5, _C2_SOURCE)
    notes = (
        "Caffe2 `resnet_video_org`: conv1 temporal stride 2, pool1 (2,3,3) "
        "unpadded."
        if stem == "caffe2_org"
        else "Caffe2 `resnet_video`: pool1 (1,3,3) unpadded (res2 55x55)."
    )
    if frozen:
        notes += " BN frozen into per-channel affine layers."
        if blocks:
            notes += (
                " Non-local blocks without BN, res3 ones within 4 groups of 4 "
                "frames (no-BN blob list inferred from the config, "
                "UNCONFIRMED on the file)."
            )
    return ModelEntry(
        name=name,
        description=(
            f"{kind}, {frames}x{rate}, video-nonlocal-net Kinetics-400"
            + (" (frozen BN)" if frozen else "")
        ),
        architecture=_arch(
            arch, 50, stem, nonlocal_locations, frozen_bn=frozen
        ),
        clip_spec=_caffe2_spec(frames, rate),
        aliases=(file_name,),
        weights=_weights(
            f"{file_name}.pkl", _C2_URL.format(file_name), accuracy
        ),
        reported=accuracy,
        notes=notes,
    )


OFFICIAL = [
    _official(
        name="c2d_r50_32x2",
        file_name="c2d_baseline_32x2_IN_pretrain_400k",
        arch="c2d",
        frames=32,
        rate=2,
        nonlocal_locations=None,
        top1=72.0,
        top5=90.0,
    ),
    _official(
        name="c2d_nl5_r50_32x2",
        file_name="c2d_nonlocal_32x2_IN_pretrain_400k",
        arch="c2d",
        frames=32,
        rate=2,
        nonlocal_locations=NL5_R50,
        top1=73.9,
        top5=91.0,
    ),
    _official(
        name="i3d_r50_32x2",
        file_name="i3d_baseline_32x2_IN_pretrain_400k",
        arch="i3d",
        frames=32,
        rate=2,
        nonlocal_locations=None,
        top1=73.6,
        top5=90.8,
    ),
    _official(
        name="i3d_nl5_r50_32x2",
        file_name="i3d_nonlocal_32x2_IN_pretrain_400k",
        arch="i3d",
        frames=32,
        rate=2,
        nonlocal_locations=NL5_R50,
        top1=74.9,
        top5=91.6,
    ),
    _official(
        name="i3d_r50_128x1",
        file_name="i3d_baseline_128x1_I3D_pretrain_400k",
        arch="i3d",
        frames=128,
        rate=1,
        nonlocal_locations=None,
        top1=75.2,
        top5=92.0,
    ),
    _official(
        name="i3d_nl5_r50_128x1",
        file_name="i3d_nonlocal_128x1_I3D_pretrain_400k",
        arch="i3d",
        frames=128,
        rate=1,
        nonlocal_locations=NL5_R50,
        top1=76.5,
        top5=92.7,
    ),
    _official(
        name="c2d_r50_8x8",
        file_name="c2d_baseline_8x8_IN_pretrain_400k",
        arch="c2d",
        frames=8,
        rate=8,
        nonlocal_locations=None,
        top1=71.9,
        top5=90.0,
    ),
    _official(
        name="c2d_nl5_r50_8x8",
        file_name="c2d_nonlocal_8x8_IN_pretrain_400k",
        arch="c2d",
        frames=8,
        rate=8,
        nonlocal_locations=NL5_R50,
        top1=74.4,
        top5=91.4,
    ),
    _official(
        name="i3d_r50_8x8",
        file_name="i3d_baseline_8x8_IN_pretrain_400k",
        arch="i3d",
        frames=8,
        rate=8,
        nonlocal_locations=None,
        top1=73.4,
        top5=90.9,
    ),
    _official(
        name="i3d_nl5_r50_8x8",
        file_name="i3d_nonlocal_8x8_IN_pretrain_400k",
        arch="i3d",
        frames=8,
        rate=8,
        nonlocal_locations=NL5_R50,
        top1=74.7,
        top5=91.6,
    ),
    _official(
        name="i3d_r50_32x4",
        file_name="i3d_baseline_32x4_I3D_pretrain_400k",
        arch="i3d",
        frames=32,
        rate=4,
        nonlocal_locations=None,
        top1=75.5,
        top5=92.0,
    ),
    _official(
        name="i3d_nl5_r50_32x4",
        file_name="i3d_nonlocal_32x4_I3D_pretrain_400k",
        arch="i3d",
        frames=32,
        rate=4,
        nonlocal_locations=NL5_R50,
        top1=76.5,
        top5=92.6,
    ),
    # Extra I3D 8x8 baselines of the same README (shorter schedules, 4 GPUs).
    _official(
        name="i3d_r50_8x8_300k",
        file_name="i3d_baseline_8x8_IN_pretrain_300k",
        arch="i3d",
        frames=8,
        rate=8,
        nonlocal_locations=None,
        top1=73.2,
        top5=90.8,
    ),
    _official(
        name="i3d_r50_8x8_600k_4gpu",
        file_name="i3d_baseline_8x8_IN_pretrain_600k_4gpu",
        arch="i3d",
        frames=8,
        rate=8,
        nonlocal_locations=None,
        top1=73.0,
        top5=90.4,
    ),
    _official(
        name="i3d_r50_8x8_300k_4gpu",
        file_name="i3d_baseline_8x8_IN_pretrain_300k_4gpu",
        arch="i3d",
        frames=8,
        rate=8,
        nonlocal_locations=None,
        top1=72.0,
        top5=90.1,
    ),
]


def _pyslowfast(
    *,
    name,
    config,
    arch,
    depth,
    nonlocal_locations,
    top1=None,
    top5=None,
    pool2=True,
):
    """A PySlowFast architecture (pool1 padded, res2 56x56), 8x8."""
    released = top1 is not None
    blocks = sum(len(s) for s in nonlocal_locations or ())
    kind = f"{arch.upper()} R{depth}" + (f" + {blocks} NL" if blocks else "")
    if not pool2:
        kind += " without pool2"
    accuracy = Accuracy(top1, top5, _PSF_SOURCE) if released else None
    notes = (
        "PySlowFast ResNet: pool1 (1,3,3) padded (0,1,1) (res2 56x56); "
        f"configs/Kinetics/{'c2/' if released else ''}{config}.yaml."
    )
    if released:
        notes += (
            " The released file is a Caffe2-format pickle; its accuracy is "
            "PySlowFast's evaluation with this network (PySlowFast: 'testing "
            "Caffe2 pretrained model in PyTorch might have a small difference "
            "in performance')."
        )
    else:
        notes += " No released Kinetics weights."
    return ModelEntry(
        name=name,
        description=(
            f"{kind}, 8x8, PySlowFast "
            + ("Kinetics-400 checkpoint" if released else "architecture")
        ),
        architecture=_arch(
            arch, depth, "pyslowfast", nonlocal_locations, pool2=pool2
        ),
        clip_spec=_pyslowfast_spec(8, 8),
        aliases=(config,),
        weights=(
            _weights(f"{config}.pkl", _PSF_URL.format(config), accuracy)
            if released
            else types.MappingProxyType({})
        ),
        reported=accuracy,
        notes=notes,
    )


PYSLOWFAST = [
    _pyslowfast(
        name="c2d_nopool_r50_8x8_pyslowfast",
        config="C2D_NOPOOL_8x8_R50",
        arch="c2d",
        depth=50,
        nonlocal_locations=None,
        top1=67.2,
        top5=87.8,
        pool2=False,
    ),
    _pyslowfast(
        name="i3d_r50_8x8_pyslowfast",
        config="I3D_8x8_R50",
        arch="i3d",
        depth=50,
        nonlocal_locations=None,
        top1=73.5,
        top5=90.8,
    ),
    _pyslowfast(
        name="i3d_nl5_r50_8x8_pyslowfast",
        config="I3D_NLN_8x8_R50",
        arch="i3d",
        depth=50,
        nonlocal_locations=NL5_R50,
        top1=74.0,
        top5=91.1,
    ),
    _pyslowfast(
        name="c2d_r50_8x8_pyslowfast",
        config="C2D_8x8_R50",
        arch="c2d",
        depth=50,
        nonlocal_locations=None,
    ),
    _pyslowfast(
        name="c2d_nl5_r50_8x8_pyslowfast",
        config="C2D_NLN_8x8_R50",
        arch="c2d",
        depth=50,
        nonlocal_locations=NL5_R50,
    ),
    _pyslowfast(
        name="i3d_r101_8x8_pyslowfast",
        config="I3D_8x8_R101",
        arch="i3d",
        depth=101,
        nonlocal_locations=None,
    ),
    _pyslowfast(
        name="i3d_nl5_r101_8x8_pyslowfast",
        config="I3D_NLN_8x8_R101",
        arch="i3d",
        depth=101,
        nonlocal_locations=NL5_R101_PYSLOWFAST,
    ),
]


def _paper(
    *, name, arch, depth, nonlocal_locations, table, top1, top5, notes=""
):
    """A paper configuration without released weights (32x2, Caffe2 org)."""
    blocks = sum(len(s) for s in nonlocal_locations or ())
    kind = f"{arch.upper()} R{depth}" + (f" + {blocks} NL" if blocks else "")
    return ModelEntry(
        name=name,
        description=f"{kind}, 32x2, paper configuration (no released weights)",
        architecture=_arch(arch, depth, "caffe2_org", nonlocal_locations),
        clip_spec=_caffe2_spec(32, 2),
        reported=Accuracy(top1, top5, _PAPER.format(table)),
        notes="Caffe2 `resnet_video_org` network."
        + (f" {notes}" if notes else ""),
    )


PAPER = [
    _paper(
        name="c2d_nl1_r50_32x2",
        arch="c2d",
        depth=50,
        nonlocal_locations=NL1_R50,
        table="c",
        top1=72.7,
        top5=90.5,
        notes="NL after res4_4, i.e. before the last res4 block (paper §4); "
        "the block index is derived, no shipped config.",
    ),
    _paper(
        name="c2d_nl10_r50_32x2",
        arch="c2d",
        depth=50,
        nonlocal_locations=NL10_R50,
        table="c",
        top1=74.3,
        top5=91.2,
        notes="NL after every res3 and res4 block (Caffe2 "
        "NONLOCAL.LAYER_MOD=1).",
    ),
    _paper(
        name="c2d_r101_32x2",
        arch="c2d",
        depth=101,
        nonlocal_locations=None,
        table="c",
        top1=73.1,
        top5=91.0,
    ),
    _paper(
        name="c2d_nl1_r101_32x2",
        arch="c2d",
        depth=101,
        nonlocal_locations=NL1_R101,
        table="c",
        top1=74.3,
        top5=91.3,
        notes="NL after res4_21, before the last res4 block (derived).",
    ),
    _paper(
        name="c2d_nl5_r101_32x2",
        arch="c2d",
        depth=101,
        nonlocal_locations=NL5_R101_CAFFE2,
        table="c",
        top1=75.1,
        top5=91.7,
        notes="NL after res3 {1,3} and res4 {6,13,20} (Caffe2 R101 rule).",
    ),
    _paper(
        name="c2d_nl10_r101_32x2",
        arch="c2d",
        depth=101,
        nonlocal_locations=NL10_R101_CAFFE2,
        table="c",
        top1=75.1,
        top5=91.6,
        notes="The paper's '10-block' R101 placement is UNCONFIRMED; this is "
        "what the released code builds for NONLOCAL.LAYER_MOD=1 on R101: 9 "
        "blocks, res3 {1,3} and res4 {2,5,8,11,14,17,20}.",
    ),
    _paper(
        name="i3d_r101_32x2",
        arch="i3d",
        depth=101,
        nonlocal_locations=None,
        table="f",
        top1=74.4,
        top5=91.1,
    ),
    _paper(
        name="i3d_nl5_r101_32x2",
        arch="i3d",
        depth=101,
        nonlocal_locations=NL5_R101_CAFFE2,
        table="f",
        top1=76.0,
        top5=92.1,
        notes="NL after res3 {1,3} and res4 {6,13,20} (Caffe2 R101 rule).",
    ),
]

ALL_ENTRIES = OFFICIAL + PYSLOWFAST + PAPER
