"""The 15 video-nonlocal-net R50 checkpoints (docs/reference.md §8)."""

from ..registry import Accuracy
from ..registry import ModelEntry
from . import common


def _official(
    *, name, file_name, arch, frames, rate, nonlocal_locations, top1, top5
):
    """A video-nonlocal-net R50 checkpoint."""
    stem = "caffe2_org" if (frames, rate) in ((32, 2), (128, 1)) else "caffe2"
    frozen = (frames, rate) in ((32, 4), (128, 1))
    blocks = sum(len(s) for s in nonlocal_locations or ())
    kind = f"{arch.upper()} R50" + (f" + {blocks} NL" if blocks else "")
    accuracy = Accuracy(top1, top5, common.C2_SOURCE)
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
        architecture=common.arch_spec(
            arch, 50, stem, nonlocal_locations, frozen_bn=frozen
        ),
        clip_spec=common.caffe2_spec(frames, rate),
        aliases=(file_name,),
        weights=common.weights(
            f"{file_name}.pkl", common.C2_URL.format(file_name), accuracy
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
        nonlocal_locations=common.NL5_R50,
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
        nonlocal_locations=common.NL5_R50,
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
        nonlocal_locations=common.NL5_R50,
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
        nonlocal_locations=common.NL5_R50,
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
        nonlocal_locations=common.NL5_R50,
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
        nonlocal_locations=common.NL5_R50,
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
