"""Architecture tables of the C2D/I3D video ResNets (docs/reference.md §2-3).

Pure Python: block counts, per-block temporal kernels, stem/pool variants and
non-local placements. `video_resnet.build_backbone` turns them into layers.
"""

import dataclasses

STAGE_BLOCKS = {50: (3, 4, 6, 3), 101: (3, 4, 23, 3)}

# Stage names in Caffe2 order; stage index 0 is res2.
STAGES = ("res2", "res3", "res4", "res5")


@dataclasses.dataclass(frozen=True)
class Stem:
    """conv1 temporal stride and pool1 of one reference network.

    Attributes:
        conv1_temporal_stride: temporal stride of conv1 (spatial is 2).
        pool1_size: max-pool kernel (T, H, W).
        pool1_strides: max-pool strides (T, H, W).
        pool1_padding: symmetric zero padding (T, H, W) before the pool. Zero
            padding equals PyTorch's -inf padding here because pool1 follows a
            ReLU.
    """

    conv1_temporal_stride: int
    pool1_size: tuple
    pool1_strides: tuple
    pool1_padding: tuple


STEMS = {
    # video-nonlocal-net `resnet_video_org` (32x2 and 128x1 models).
    "caffe2_org": Stem(2, (2, 3, 3), (2, 2, 2), (0, 0, 0)),
    # video-nonlocal-net `resnet_video` (8x8 and 32x4 models): res2 55x55.
    "caffe2": Stem(1, (1, 3, 3), (1, 2, 2), (0, 0, 0)),
    # PySlowFast ResNet (c2d, i3d, c2d_nopool): res2 56x56.
    "pyslowfast": Stem(1, (1, 3, 3), (1, 2, 2), (0, 1, 1)),
}


def get_stem(stem):
    """Returns the `Stem` for a preset name or passes a `Stem` through."""
    if isinstance(stem, Stem):
        return stem
    if stem not in STEMS:
        raise ValueError(
            f"Unknown stem {stem!r}; expected one of {sorted(STEMS)} or a "
            "nonlocal_tf.models.Stem"
        )
    return STEMS[stem]


def stage_blocks(depth):
    """Residual blocks per stage (res2..res5) for ResNet-`depth`."""
    if depth not in STAGE_BLOCKS:
        raise ValueError(
            f"Unsupported depth={depth}; expected one of {sorted(STAGE_BLOCKS)}"
        )
    return STAGE_BLOCKS[depth]


def temporal_kernels(arch, depth):
    """Temporal kernel sizes of conv1 and of every block's branch2a conv.

    C2D uses 1 everywhere. I3D (the I3D 3x1x1 variant of the paper, as in
    video-nonlocal-net `obtain_arc` and PySlowFast `_TEMPORAL_KERNEL_BASIS`)
    inflates conv1 to 5x7x7, all three res2 blocks, every other block of res3
    and res4 starting with the first, and the middle block of res5.

    Args:
        arch: "c2d" or "i3d".
        depth: 50 or 101.

    Returns:
        `(conv1_kernel, (res2_kernels, res3_kernels, res4_kernels,
        res5_kernels))` where each stage entry has one int per block.
    """
    blocks = stage_blocks(depth)
    if arch == "c2d":
        return 1, tuple((1,) * n for n in blocks)
    if arch == "i3d":
        res2 = (3,) * blocks[0]
        res3 = tuple(3 if i % 2 == 0 else 1 for i in range(blocks[1]))
        res4 = tuple(3 if i % 2 == 0 else 1 for i in range(blocks[2]))
        res5 = tuple(3 if i % 2 == 1 else 1 for i in range(blocks[3]))
        return 5, (res2, res3, res4, res5)
    raise ValueError(f"Unknown arch {arch!r}; expected 'c2d' or 'i3d'")


def normalize_locations(locations, depth):
    """Checks per-stage non-local block indices; returns 4 sorted tuples.

    Args:
        locations: `None` (no blocks) or a sequence of 4 sequences of 0-based
            residual-block indices, one per stage res2..res5; a non-local block
            is inserted after each listed block (PySlowFast
            `NONLOCAL.LOCATION` without the pathway level).
        depth: 50 or 101.
    """
    blocks = stage_blocks(depth)
    if locations is None:
        return ((), (), (), ())
    locations = tuple(tuple(stage) for stage in locations)
    if len(locations) != 4:
        raise ValueError(
            "nonlocal_locations needs 4 lists (res2, res3, res4, res5); "
            f"received {locations!r}"
        )
    out = []
    for stage, indices, count in zip(STAGES, locations, blocks, strict=True):
        for index in indices:
            if not isinstance(index, int) or not 0 <= index < count:
                raise ValueError(
                    f"nonlocal_locations for {stage} has index {index!r}, but "
                    f"{stage} of ResNet-{depth} has blocks 0..{count - 1}"
                )
        if len(set(indices)) != len(indices):
            raise ValueError(
                f"nonlocal_locations for {stage} repeats an index: {indices!r}"
            )
        out.append(tuple(sorted(indices)))
    return tuple(out)


def normalize_groups(groups):
    """Per-stage temporal group counts for the non-local blocks."""
    if isinstance(groups, int):
        groups = (groups,) * 4
    groups = tuple(groups)
    if len(groups) != 4 or any(not isinstance(g, int) or g < 1 for g in groups):
        raise ValueError(
            "nonlocal_groups must be a positive int or 4 positive ints "
            f"(res2..res5); received {groups!r}"
        )
    return groups


def stage_widths(width_per_group):
    """(inner, output) channels of res2..res5 (PySlowFast scaling)."""
    if not isinstance(width_per_group, int) or width_per_group < 1:
        raise ValueError(
            "width_per_group must be a positive int; received "
            f"{width_per_group!r}"
        )
    return tuple(
        (width_per_group * 2**i, width_per_group * 4 * 2**i) for i in range(4)
    )


def res5_temporal_size(num_frames, stem, pool2):
    """Frames left at res5 for a clip of `num_frames` (conv1, pool1, pool2).

    conv1's odd temporal kernel is padded by half its size on both sides, so
    only its stride shortens the clip; the residual stages keep the length.

    Example:
        >>> res5_temporal_size(32, "caffe2_org", pool2=True)
        4
    """
    stem = get_stem(stem)
    size = (num_frames - 1) // stem.conv1_temporal_stride + 1
    size = (
        size + 2 * stem.pool1_padding[0] - stem.pool1_size[0]
    ) // stem.pool1_strides[0] + 1
    if pool2:
        size = (size - 2) // 2 + 1
    return max(size, 1)
