"""Training clips per second read locally vs through the tf.data service.

The same `build_dataset(mode="train")` pipeline is read three ways, side by
side in each round: in this process, and through a localhost tf.data
service with one and with two decode workers (dispatcher and workers are
servers in this process, as `scripts/data_service.py` starts them on other
hosts). On one machine the service cannot add cores: it adds the gRPC
transfer of every batch (float32 clips) and the workers share the cores
with the reader, so the figure measures its cost.
"""

import functools
import gc
import statistics

from benchmarks import data_pipeline
from nonlocal_tf.clip_spec import ClipSpec
from nonlocal_tf.data import pipeline
from nonlocal_tf.training import data_service


def _start_service(num_workers):
    dispatcher = data_service.start_dispatcher(0)
    address = dispatcher.target
    target = address.split("://", 1)[1]
    workers = [data_service.start_worker(0, target) for _ in range(num_workers)]
    return address, [dispatcher] + workers


def _through_service(build, address):
    return data_service.ServiceDatasetFn(lambda _: build(), address)(None)


def run(
    pattern,
    *,
    batch_size=8,
    num_frames=8,
    sampling_rate=8,
    crop_size=224,
    num_batches=20,
    rounds=3,
):
    """Clips/s of the three readers over the records of `pattern`.

    Returns:
        {reader: {"rounds": [...], "median": clips/s, "ratio_to_local":
        median of per-round ratios}}.
    """
    build = functools.partial(
        pipeline.build_dataset,
        pattern,
        ClipSpec(
            num_frames=num_frames,
            sampling_rate=sampling_rate,
            crop_size=crop_size,
            jitter_scales=(crop_size * 8 // 7, crop_size * 10 // 7),  # 256, 320
        ),
        mode="train",
        batch_size=batch_size,
        seed=0,
        shuffle_buffer_size=8,
    )
    services = {n: _start_service(n) for n in (1, 2)}
    readers = {"local": build}
    for n, (address, _) in services.items():
        name = f"service_{n}_worker" + ("s" if n > 1 else "")
        readers[name] = functools.partial(_through_service, build, address)
    measured = {name: [] for name in readers}
    for _ in range(rounds):
        for name, make in readers.items():
            iterator = iter(make())
            data_pipeline.clips_per_second(
                iterator, batch_size, max(1, num_batches // 3)
            )
            rate, _ = data_pipeline.clips_per_second(
                iterator, batch_size, num_batches
            )
            measured[name].append(rate)
            del iterator
            gc.collect()
    local = measured["local"]
    return {
        name: {
            "rounds": values,
            "median": statistics.median(values),
            "ratio_to_local": statistics.median(
                v / b for v, b in zip(values, local, strict=True)
            ),
        }
        for name, values in measured.items()
    }


def format_table(report, batch_size, num_frames, crop_size):
    """The report as a text table."""
    lines = [
        f"training input, {num_frames}x{crop_size}x{crop_size} clips, batch "
        f"{batch_size}",
        f"{'reader':18s} {'clips/s':>8s} {'x local':>7s} {'rounds':>20s}",
    ]
    for name, row in report.items():
        rounds = ", ".join(f"{v:.1f}" for v in row["rounds"])
        lines.append(
            f"{name:18s} {row['median']:8.1f} {row['ratio_to_local']:7.2f} "
            f"{rounds:>20s}"
        )
    return "\n".join(lines)
