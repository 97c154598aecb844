"""Every named model of the zoo (paper_spec §3 and §4.4).

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

# Non-local placements (0-based block index per stage res2..res5; paper_spec
# §3). A block follows the final ReLU of each listed residual block.
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
    arch,
    depth,
    stem,
    nonlocal_locations=None,
    *,
    pool2=True,
    frozen_bn=False,
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


def _weights(file_name, url, top1, top5, source, fmt="caffe2"):
    return types.MappingProxyType(
        {
            "kinetics400": WeightSource(
                file_name=file_name,
                url=url,
                format=fmt,
                accuracy=Accuracy(top1, top5, source),
            )
        }
    )


def _official(
    name, file_name, arch, frames, rate, nl, top1, top5, *, extra_aliases=()
):
    """A video-nonlocal-net R50 checkpoint (paper_spec §4.4)."""
    stem = "caffe2_org" if (frames, rate) in ((32, 2), (128, 1)) else "caffe2"
    frozen = (frames, rate) in ((32, 4), (128, 1))
    kind = f"{arch.upper()} R50" + (" + 5 NL" if nl else "")
    return ModelEntry(
        name=name,
        description=(
            f"{kind}, {frames}x{rate}, video-nonlocal-net Kinetics-400"
            + (" (frozen BN)" if frozen else "")
        ),
        architecture=_arch(
            arch, 50, stem, NL5_R50 if nl else None, frozen_bn=frozen
        ),
        frames=frames,
        sampling_rate=rate,
        aliases=(file_name,) + tuple(extra_aliases),
        weights=_weights(
            f"{file_name}.pkl",
            _C2_URL.format(file_name),
            top1,
            top5,
            _C2_SOURCE,
        ),
        reported=Accuracy(top1, top5, _C2_SOURCE),
        notes=(
            "Caffe2 `resnet_video_org`: conv1 temporal stride 2, pool1 "
            "(2,3,3) unpadded."
            if stem == "caffe2_org"
            else "Caffe2 `resnet_video`: pool1 (1,3,3) unpadded (res2 55x55)."
        )
        + (
            " BN frozen into per-channel affine layers; non-local blocks "
            "without BN, res3 ones within 4 groups of 4 frames (no-BN blob "
            "list inferred from the config, UNCONFIRMED on the file)."
            if frozen and nl
            else (
                " BN frozen into per-channel affine layers." if frozen else ""
            )
        ),
    )


OFFICIAL = [
    _official(
        "c2d_r50_32x2",
        "c2d_baseline_32x2_IN_pretrain_400k",
        "c2d",
        32,
        2,
        False,
        72.0,
        90.0,
    ),
    _official(
        "c2d_nl5_r50_32x2",
        "c2d_nonlocal_32x2_IN_pretrain_400k",
        "c2d",
        32,
        2,
        True,
        73.9,
        91.0,
    ),
    _official(
        "i3d_r50_32x2",
        "i3d_baseline_32x2_IN_pretrain_400k",
        "i3d",
        32,
        2,
        False,
        73.6,
        90.8,
    ),
    _official(
        "i3d_nl5_r50_32x2",
        "i3d_nonlocal_32x2_IN_pretrain_400k",
        "i3d",
        32,
        2,
        True,
        74.9,
        91.6,
    ),
    _official(
        "i3d_r50_128x1",
        "i3d_baseline_128x1_I3D_pretrain_400k",
        "i3d",
        128,
        1,
        False,
        75.2,
        92.0,
    ),
    _official(
        "i3d_nl5_r50_128x1",
        "i3d_nonlocal_128x1_I3D_pretrain_400k",
        "i3d",
        128,
        1,
        True,
        76.5,
        92.7,
    ),
    _official(
        "c2d_r50_8x8",
        "c2d_baseline_8x8_IN_pretrain_400k",
        "c2d",
        8,
        8,
        False,
        71.9,
        90.0,
    ),
    _official(
        "c2d_nl5_r50_8x8",
        "c2d_nonlocal_8x8_IN_pretrain_400k",
        "c2d",
        8,
        8,
        True,
        74.4,
        91.4,
    ),
    _official(
        "i3d_r50_8x8",
        "i3d_baseline_8x8_IN_pretrain_400k",
        "i3d",
        8,
        8,
        False,
        73.4,
        90.9,
    ),
    _official(
        "i3d_nl5_r50_8x8",
        "i3d_nonlocal_8x8_IN_pretrain_400k",
        "i3d",
        8,
        8,
        True,
        74.7,
        91.6,
    ),
    _official(
        "i3d_r50_32x4",
        "i3d_baseline_32x4_I3D_pretrain_400k",
        "i3d",
        32,
        4,
        False,
        75.5,
        92.0,
    ),
    _official(
        "i3d_nl5_r50_32x4",
        "i3d_nonlocal_32x4_I3D_pretrain_400k",
        "i3d",
        32,
        4,
        True,
        76.5,
        92.6,
    ),
    # Extra I3D 8x8 baselines of the same README (shorter schedules, 4 GPUs).
    _official(
        "i3d_r50_8x8_300k",
        "i3d_baseline_8x8_IN_pretrain_300k",
        "i3d",
        8,
        8,
        False,
        73.2,
        90.8,
    ),
    _official(
        "i3d_r50_8x8_600k_4gpu",
        "i3d_baseline_8x8_IN_pretrain_600k_4gpu",
        "i3d",
        8,
        8,
        False,
        73.0,
        90.4,
    ),
    _official(
        "i3d_r50_8x8_300k_4gpu",
        "i3d_baseline_8x8_IN_pretrain_300k_4gpu",
        "i3d",
        8,
        8,
        False,
        72.0,
        90.1,
    ),
]


def _pyslowfast(name, config, arch, depth, nl, top1=None, top5=None, **kw):
    """A PySlowFast architecture (pool1 padded, res2 56x56)."""
    released = top1 is not None
    kind = f"{arch.upper()} R{depth}" + (" + 5 NL" if any(nl or ()) else "")
    if not kw.get("pool2", True):
        kind += " without pool2"
    return ModelEntry(
        name=name,
        description=(
            f"{kind}, 8x8, PySlowFast "
            + ("Kinetics-400 checkpoint" if released else "architecture")
        ),
        architecture=_arch(arch, depth, "pyslowfast", nl, **kw),
        frames=8,
        sampling_rate=8,
        aliases=(config,),
        weights=(
            _weights(
                f"{config}.pkl",
                _PSF_URL.format(config),
                top1,
                top5,
                _PSF_SOURCE,
            )
            if released
            else types.MappingProxyType({})
        ),
        reported=Accuracy(top1, top5, _PSF_SOURCE) if released else None,
        notes=(
            "PySlowFast ResNet: pool1 (1,3,3) padded (0,1,1) (res2 56x56); "
            f"configs/Kinetics/{'c2/' if released else ''}{config}.yaml."
            + (
                " The released file is a Caffe2-format pickle; its accuracy "
                "is PySlowFast's evaluation with this network (PySlowFast: "
                "'testing Caffe2 pretrained model in PyTorch might have a "
                "small difference in performance')."
                if released
                else " No released Kinetics weights."
            )
        ),
    )


PYSLOWFAST = [
    _pyslowfast(
        "c2d_nopool_r50_8x8_pyslowfast",
        "C2D_NOPOOL_8x8_R50",
        "c2d",
        50,
        None,
        67.2,
        87.8,
        pool2=False,
    ),
    _pyslowfast(
        "i3d_r50_8x8_pyslowfast", "I3D_8x8_R50", "i3d", 50, None, 73.5, 90.8
    ),
    _pyslowfast(
        "i3d_nl5_r50_8x8_pyslowfast",
        "I3D_NLN_8x8_R50",
        "i3d",
        50,
        NL5_R50,
        74.0,
        91.1,
    ),
    _pyslowfast("c2d_r50_8x8_pyslowfast", "C2D_8x8_R50", "c2d", 50, None),
    _pyslowfast(
        "c2d_nl5_r50_8x8_pyslowfast", "C2D_NLN_8x8_R50", "c2d", 50, NL5_R50
    ),
    _pyslowfast("i3d_r101_8x8_pyslowfast", "I3D_8x8_R101", "i3d", 101, None),
    _pyslowfast(
        "i3d_nl5_r101_8x8_pyslowfast",
        "I3D_NLN_8x8_R101",
        "i3d",
        101,
        NL5_R101_PYSLOWFAST,
    ),
]


def _paper(name, arch, depth, nl, count, table, top1, top5, notes):
    """A paper configuration without released weights (32x2, Caffe2 org)."""
    kind = f"{arch.upper()} R{depth}" + (f" + {count} NL" if count else "")
    return ModelEntry(
        name=name,
        description=f"{kind}, 32x2, paper configuration (no released weights)",
        architecture=_arch(arch, depth, "caffe2_org", nl),
        frames=32,
        sampling_rate=2,
        reported=Accuracy(top1, top5, _PAPER.format(table)),
        notes="Caffe2 `resnet_video_org` network."
        + (f" {notes}" if notes else ""),
    )


PAPER = [
    _paper(
        "c2d_nl1_r50_32x2",
        "c2d",
        50,
        NL1_R50,
        1,
        "c",
        72.7,
        90.5,
        "NL after res4_4, i.e. before the last res4 block (paper §4); the "
        "block index is derived, no shipped config.",
    ),
    _paper(
        "c2d_nl10_r50_32x2",
        "c2d",
        50,
        NL10_R50,
        10,
        "c",
        74.3,
        91.2,
        "NL after every res3 and res4 block (Caffe2 NONLOCAL.LAYER_MOD=1).",
    ),
    _paper("c2d_r101_32x2", "c2d", 101, None, 0, "c", 73.1, 91.0, ""),
    _paper(
        "c2d_nl1_r101_32x2",
        "c2d",
        101,
        NL1_R101,
        1,
        "c",
        74.3,
        91.3,
        "NL after res4_21, before the last res4 block (derived).",
    ),
    _paper(
        "c2d_nl5_r101_32x2",
        "c2d",
        101,
        NL5_R101_CAFFE2,
        5,
        "c",
        75.1,
        91.7,
        "NL after res3 {1,3} and res4 {6,13,20} (Caffe2 R101 rule).",
    ),
    _paper(
        "c2d_nl10_r101_32x2",
        "c2d",
        101,
        NL10_R101_CAFFE2,
        9,
        "c",
        75.1,
        91.6,
        "The paper's '10-block' R101 placement is UNCONFIRMED; this is what "
        "the released code builds for NONLOCAL.LAYER_MOD=1 on R101: 9 blocks, "
        "res3 {1,3} and res4 {2,5,8,11,14,17,20}.",
    ),
    _paper("i3d_r101_32x2", "i3d", 101, None, 0, "f", 74.4, 91.1, ""),
    _paper(
        "i3d_nl5_r101_32x2",
        "i3d",
        101,
        NL5_R101_CAFFE2,
        5,
        "f",
        76.0,
        92.1,
        "NL after res3 {1,3} and res4 {6,13,20} (Caffe2 R101 rule).",
    ),
]

ALL_ENTRIES = OFFICIAL + PYSLOWFAST + PAPER
