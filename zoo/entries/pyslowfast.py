"""PySlowFast Kinetics architectures and checkpoints (docs/reference.md §8)."""

import types

from ..registry import Accuracy
from ..registry import ModelEntry
from . import common


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
    accuracy = Accuracy(top1, top5, common.PSF_SOURCE) if released else None
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
        architecture=common.arch_spec(
            arch, depth, "pyslowfast", nonlocal_locations, pool2=pool2
        ),
        clip_spec=common.pyslowfast_spec(8, 8),
        aliases=(config,),
        weights=(
            common.weights(
                f"{config}.pkl", common.PSF_URL.format(config), accuracy
            )
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
        nonlocal_locations=common.NL5_R50,
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
        nonlocal_locations=common.NL5_R50,
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
        nonlocal_locations=common.NL5_R101_PYSLOWFAST,
    ),
]
