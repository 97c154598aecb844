"""The CPU a benchmark ran on, as `lscpu` names it (Linux `/proc/cpuinfo`),
and the results file that records it (`write_json`)."""

import json
import os
import tempfile


def cpu_description():
    """The CPU's model name, logical CPUs and vector extensions.

    Returns:
        A dict: `model` (the model name, or None), `logical_cpus`, `avx2`,
        `avx512`, `avx512_flags`, `amx` (booleans / sorted flag names) and
        `vector_flags` (every avx*, amx*, fma* flag, sorted).

    Example:
        >>> cpu_description()["avx2"]
        True
    """
    model, cpu_flags = None, set()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                key = key.strip()
                if key == "model name" and model is None:
                    model = value.strip()
                elif key == "flags" and not cpu_flags:
                    cpu_flags = set(value.split())
    except OSError:
        pass
    return {
        "model": model,
        "logical_cpus": os.cpu_count(),
        "avx2": "avx2" in cpu_flags,
        "avx512": "avx512f" in cpu_flags,
        "avx512_flags": sorted(f for f in cpu_flags if f.startswith("avx512")),
        "amx": any(f.startswith("amx") for f in cpu_flags),
        "vector_flags": sorted(
            f for f in cpu_flags if f.startswith(("avx", "amx", "fma"))
        ),
    }


def cpu_line(cpu):
    """One line naming `cpu` (a `cpu_description()`), for a table's header.

    Example:
        >>> cpu_line(cpu_description())
        'cpu: AMD EPYC, 2 logical CPUs, AVX2 yes, AVX-512 yes (...), AMX no'
    """
    return (
        f"cpu: {cpu['model']}, {cpu['logical_cpus']} logical CPUs, AVX2 "
        f"{'yes' if cpu['avx2'] else 'no'}, AVX-512 "
        f"{'yes' if cpu['avx512'] else 'no'} "
        f"({' '.join(cpu['avx512_flags']) or '-'}), AMX "
        f"{'yes' if cpu['amx'] else 'no'}"
    )


def write_json(path, value):
    """`value` as JSON at local `path`: a temp file beside it, renamed.

    (`nonlocal_tf.fileio` would import TensorFlow into a benchmark's
    process.)

    Example:
        >>> write_json("benchmarks/results/x.json", {"cpu": cpu_description()})
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    with tempfile.NamedTemporaryFile(
        "w", dir=directory, prefix=".results.", suffix=".json", delete=False
    ) as f:
        json.dump(value, f, indent=2)
    os.replace(f.name, path)
