"""Reading Caffe2 / PySlowFast checkpoints into `{caffe2_name: ndarray}`.

Formats, detected from the file's content (not its suffix):
- Caffe2 pickle (video-nonlocal-net, PySlowFast `Kinetics/c2`): a pickled
  `{"blobs": {...}}` or flat dict of numpy arrays, written by Python 2; read
  with `encoding="latin1"` by a restricted unpickler that only rebuilds numpy
  arrays and dicts.
- PySlowFast `.pyth`: a `torch.save` dict with `model_state` (needs the
  optional `torch` extra).
- `.npz` of a PySlowFast state_dict (PySlowFast names).
- Keras `.weights.h5` (HDF5): recognised here, loaded by Keras itself.

Every name is brought into the Caffe2 blob namespace (docs/reference.md §5), the
one the zoo's layer names mirror; PySlowFast names are translated with the
inverse of PySlowFast's `c2_model_loading` rules (docs/reference.md §5).
"""

import collections
import dataclasses
import errno
import importlib
import os
import pickle
import re
import zipfile

import numpy as np

IGNORED_NAMES = ("lr", "model_iter")
IGNORED_SUFFIXES = ("_momentum", "num_batches_tracked")

_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_ZIP_MAGIC = b"PK\x03\x04"
# A legacy (non-zip) torch.save file starts with its pickled magic number.
_TORCH_LEGACY_HEAD = b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(
    10, "little"
)

_PICKLE_ALLOWED = {
    ("collections", "OrderedDict"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
}


class CheckpointFormatError(ValueError):
    """A file is not a checkpoint this zoo can read."""


@dataclasses.dataclass
class Checkpoint:
    """Tensors of one checkpoint under Caffe2 blob names.

    Attributes:
        path: the file read.
        format: "caffe2", "pyslowfast_pyth" or "pyslowfast_npz".
        tensors: `{caffe2_name: float ndarray}`.
        source_names: `{caffe2_name: name in the file}` where they differ.
        ignored: names dropped on purpose (momenta, `lr`, `model_iter`,
            `num_batches_tracked`).
    """

    path: str
    format: str
    tensors: dict
    source_names: dict
    ignored: list

    def label(self, name):
        """`name` as the file spells it, with the Caffe2 name if different."""
        original = self.source_names.get(name, name)
        return name if original == name else f"{original} ({name})"


# PySlowFast state_dict name -> Caffe2 blob name.
_BN_SUFFIX = {
    "weight": "s",
    "bias": "b",
    "running_mean": "rm",
    "running_var": "riv",
}
_PSF_RULES = [
    (r"^s1\.pathway0_stem\.conv\.weight$", lambda m: "conv1_w"),
    (
        r"^s1\.pathway0_stem\.bn\.(\w+)$",
        lambda m: f"res_conv1_bn_{_BN_SUFFIX[m[1]]}",
    ),
    (
        r"^s(\d)\.pathway0_res(\d+)\.branch1\.weight$",
        lambda m: f"res{m[1]}_{m[2]}_branch1_w",
    ),
    (
        r"^s(\d)\.pathway0_res(\d+)\.branch1_bn\.(\w+)$",
        lambda m: f"res{m[1]}_{m[2]}_branch1_bn_{_BN_SUFFIX[m[3]]}",
    ),
    (
        r"^s(\d)\.pathway0_res(\d+)\.branch2\.([abc])\.weight$",
        lambda m: f"res{m[1]}_{m[2]}_branch2{m[3]}_w",
    ),
    (
        r"^s(\d)\.pathway0_res(\d+)\.branch2\.([abc])_bn\.(\w+)$",
        lambda m: f"res{m[1]}_{m[2]}_branch2{m[3]}_bn_{_BN_SUFFIX[m[4]]}",
    ),
    (
        r"^s(\d)\.pathway0_nonlocal(\d+)\.conv_(theta|phi|g|out)\."
        r"(weight|bias)$",
        lambda m: f"nonlocal_conv{m[1]}_{m[2]}_{m[3]}_{m[4][0]}",
    ),
    (
        r"^s(\d)\.pathway0_nonlocal(\d+)\.bn\.(\w+)$",
        lambda m: f"nonlocal_conv{m[1]}_{m[2]}_bn_{_BN_SUFFIX[m[3]]}",
    ),
    (
        r"^head\.projection\.(weight|bias)$",
        lambda m: f"pred_{m[1][0]}",
    ),
]
_PSF_RULES = [(re.compile(pattern), fn) for pattern, fn in _PSF_RULES]


def pyslowfast_to_caffe2(name):
    """Caffe2 blob name of a PySlowFast state_dict name, or None.

    Example:
        >>> pyslowfast_to_caffe2("s3.pathway0_nonlocal1.conv_theta.weight")
        'nonlocal_conv3_1_theta_w'
    """
    name = name[len("module.") :] if name.startswith("module.") else name
    for pattern, fn in _PSF_RULES:
        match = pattern.match(name)
        if match:
            try:
                return fn(match)
            except KeyError:
                return None
    return None


def is_ignored(name):
    """True for optimizer/bookkeeping entries that carry no model weight."""
    return name in IGNORED_NAMES or name.endswith(IGNORED_SUFFIXES)


class _BlobUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays and dicts only (no arbitrary code)."""

    def find_class(self, module, name):
        if (module, name) not in _PICKLE_ALLOWED:
            raise CheckpointFormatError(f"refusing to unpickle {module}.{name}")
        if module.startswith("numpy.core"):
            try:
                importlib.import_module("numpy._core")
                module = "numpy._core" + module[len("numpy.core") :]
            except ImportError:
                pass
        return getattr(importlib.import_module(module), name)


def _open_zip_names(path):
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()
    # Found by fuzzing: ValueError (a UnicodeDecodeError from a member name
    # flagged UTF-8) and NotImplementedError (a zip version it lacks).
    except (
        zipfile.BadZipFile,
        EOFError,
        OSError,
        ValueError,
        NotImplementedError,
    ) as e:
        raise CheckpointFormatError(
            f"damaged zip archive, {path} ({e}; a download cut short? "
            "download it again)"
        ) from e


def detect_format(path):
    """Returns "keras_h5", "keras_archive", "torch", "npz" or "pickle".

    Looks at the first bytes (and a zip's member names) only.

    Raises:
        FileNotFoundError: `path` does not exist.
        CheckpointFormatError: an empty file, a damaged zip archive, or a
            format none of the readers knows.

    Example:
        >>> detect_format("i3d_nonlocal_8x8_IN_pretrain_400k.pkl")
        'pickle'
    """
    if not os.path.exists(path):
        raise FileNotFoundError(
            errno.ENOENT, "checkpoint file not found", str(path)
        )
    with open(path, "rb") as f:
        head = f.read(len(_TORCH_LEGACY_HEAD))
    if not head:
        raise CheckpointFormatError(
            f"empty checkpoint file (0 bytes), {path} (a download cut short? "
            "download it again)"
        )
    if head.startswith(_HDF5_MAGIC):
        return "keras_h5"
    if head.startswith(_ZIP_MAGIC):
        names = _open_zip_names(path)
        if any(n.endswith("data.pkl") for n in names):
            return "torch"
        if names and all(n.endswith(".npy") for n in names):
            return "npz"
        if "config.json" in names and "model.weights.h5" in names:
            return "keras_archive"
        raise CheckpointFormatError(
            f"{path}: a zip archive that is neither a torch checkpoint, an "
            f".npz nor a .keras file (members: {names[:5]}...)"
        )
    if head == _TORCH_LEGACY_HEAD:
        return "torch"
    if head[:1] == b"\x80":
        return "pickle"
    raise CheckpointFormatError(
        f"unrecognised checkpoint format, {path} (first bytes {head[:8]!r}; "
        "expected a Caffe2 .pkl, a PySlowFast .pyth/.npz or a Keras "
        ".weights.h5)"
    )


def _read_pickle(path):
    try:
        with open(path, "rb") as f:
            obj = _BlobUnpickler(f, encoding="latin1").load()
    except CheckpointFormatError as e:
        raise CheckpointFormatError(
            f"{e}, {path} (a Caffe2 checkpoint holds only numpy arrays in a "
            "dict; this file could run code)"
        ) from None
    except Exception as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise CheckpointFormatError(
            f"truncated or damaged pickle, {path} ({type(e).__name__}: "
            f"{first}; download it again)"
        ) from e
    if not isinstance(obj, dict):
        raise CheckpointFormatError(
            f"not a Caffe2 checkpoint, {path} (expected a dict of blobs, "
            f"found {type(obj).__name__})"
        )
    blobs = obj["blobs"] if "blobs" in obj else obj
    if not isinstance(blobs, dict):
        raise CheckpointFormatError(
            f"not a Caffe2 checkpoint, {path} ('blobs' is a "
            f"{type(blobs).__name__}, not a dict)"
        )
    return blobs


def _read_torch(path):
    try:
        import torch
    except ImportError as e:
        raise ImportError(
            f"Reading the PyTorch checkpoint {path} needs PyTorch: "
            "pip install nonlocal-tf[torch]"
        ) from e
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        # weights_only: anything but tensors and plain containers is refused.
        lines = [line.strip() for line in str(e).splitlines() if line.strip()]
        named = [line for line in lines if "GLOBAL" in line]
        first = (named or lines or [""])[0]
        raise CheckpointFormatError(
            f"refusing to load a torch file that holds more than tensors, "
            f"{path} ({first})"
        ) from e
    except Exception as e:
        # torch's own errors, and those of its weights-only unpickler on a
        # damaged stream (IndexError, KeyError, ...; found by fuzzing).
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise CheckpointFormatError(
            f"truncated or damaged torch checkpoint, {path} "
            f"({type(e).__name__}: {first}; download it again)"
        ) from e
    if isinstance(obj, dict) and "model_state" in obj:
        obj = obj["model_state"]
    elif isinstance(obj, dict) and "state_dict" in obj:
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise CheckpointFormatError(
            f"{path}: expected a PySlowFast checkpoint dict with "
            f"'model_state', found {type(obj).__name__}"
        )
    out = collections.OrderedDict()
    for name, value in obj.items():
        if isinstance(value, torch.Tensor):
            value = value.detach().cpu().numpy()
        out[name] = value
    return out


def _read_npz(path):
    raw = collections.OrderedDict()
    try:
        archive = np.load(path, allow_pickle=False)
    except Exception as e:
        raise CheckpointFormatError(
            f"damaged .npz archive, {path} ({type(e).__name__}: {e}; "
            "download it again)"
        ) from e
    with archive:
        for key in archive.files:
            try:
                raw[key] = archive[key]
            except ValueError as e:
                if "allow_pickle" not in str(e):
                    raise CheckpointFormatError(
                        f"damaged entry {key!r}, {path} ({e}; download it "
                        "again)"
                    ) from e
                # An object array: needs pickle.
                raise CheckpointFormatError(
                    f"refusing to load object array {key!r}, {path} (an "
                    ".npz state_dict holds only numbers; loading objects "
                    "would unpickle code)"
                ) from e
            # zipfile's errors on a damaged member: BadZipFile, EOFError,
            # OSError, and (found by fuzzing) NotImplementedError for a zip
            # feature it lacks, RuntimeError for an "encrypted" member.
            except Exception as e:
                raise CheckpointFormatError(
                    f"damaged entry {key!r}, {path} ({type(e).__name__}: {e}; "
                    "download it again)"
                ) from e
    return raw


def _numeric(path, name, value):
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise CheckpointFormatError(
            f"entry {name!r} holds {array.dtype} values, not numbers, {path} "
            "(a checkpoint holds only weight tensors)"
        )
    return array


def read_checkpoint(path):
    """Reads a checkpoint file into a `Checkpoint` (Caffe2 names).

    Args:
        path: a Caffe2 `.pkl` (`{"blobs": ...}` or flat), a PySlowFast `.pkl`
            or `.pyth`, or an `.npz` of a PySlowFast state_dict.

    Raises:
        FileNotFoundError: `path` does not exist.
        CheckpointFormatError: the file is not one of those (empty,
            truncated, damaged, refused for holding code or objects), an
            entry is not a numeric array, or two entries map to the same
            Caffe2 name.
        ImportError: a `.pyth` file and PyTorch is not installed.

    Example:
        >>> ckpt = read_checkpoint("i3d_nonlocal_8x8_IN_pretrain_400k.pkl")
        >>> ckpt.tensors["conv1_w"].shape
        (64, 3, 5, 7, 7)
    """
    path = str(path)
    fmt = detect_format(path)
    if fmt == "keras_h5":
        raise CheckpointFormatError(
            f"{path} is a Keras weights file; load it with "
            "model.load_weights or nonlocal_tf.zoo.load_weights"
        )
    if fmt == "keras_archive":
        raise CheckpointFormatError(
            f"{path} is a whole .keras model; open it with "
            "keras.saving.load_model"
        )
    if fmt == "pickle":
        raw = _read_pickle(path)
        label = "caffe2"
    elif fmt == "torch":
        raw = _read_torch(path)
        label = "pyslowfast_pyth"
    else:
        raw = _read_npz(path)
        label = "pyslowfast_npz"

    tensors = collections.OrderedDict()
    source_names = {}
    ignored = []
    for name, value in raw.items():
        name = name.decode("latin1") if isinstance(name, bytes) else str(name)
        if is_ignored(name):
            ignored.append(name)
            continue
        converted = pyslowfast_to_caffe2(name)
        target = converted or name
        if target in tensors:
            raise CheckpointFormatError(
                f"{path}: entries {source_names.get(target, target)!r} and "
                f"{name!r} both map to the Caffe2 name {target!r}"
            )
        if target != name:
            source_names[target] = name
        tensors[target] = _numeric(path, name, value)
    return Checkpoint(
        path=path,
        format=label,
        tensors=tensors,
        source_names=source_names,
        ignored=ignored,
    )
