"""Fuzzing the checkpoint readers of `zoo/checkpoints.py`: Caffe2 `.pkl`,
PySlowFast `.pyth` (torch, zip and legacy formats) and `.npz`.

Inputs: mutations of small valid files written here, arbitrary bytes behind
each format's magic, pickle opcode streams (huge lengths and frames, deep
nesting, any global), and hostile pickles that would run a command.
`read_checkpoint` returns a `Checkpoint` of numeric arrays or raises
`CheckpointFormatError` naming the file; no input ever runs code.
"""

import io
import os
import pickle
import struct

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nonlocal_tf import zoo
from tests.fuzz import harness

BLOBS = {
    "conv1_w": np.arange(2 * 3 * 1 * 2 * 2, dtype=np.float32).reshape(
        2, 3, 1, 2, 2
    ),
    "res_conv1_bn_s": np.ones(2, np.float32),
    "pred_b": np.zeros(3, np.float64),
    "model_iter": np.array(7, np.int64),
}


def _pickled(protocol, flat=False):
    payload = dict(BLOBS) if flat else {"blobs": dict(BLOBS)}
    return pickle.dumps(payload, protocol=protocol)


def _npz():
    out = io.BytesIO()
    np.savez(out, **{"s1.pathway0_stem.conv.weight": BLOBS["conv1_w"]})
    return out.getvalue()


@pytest.fixture(scope="module")
def seeds():
    torch = pytest.importorskip("torch")  # the torch extra; make test has it
    state = {
        "model_state": {
            "s1.pathway0_stem.conv.weight": torch.zeros(2, 3, 1, 2, 2),
            "head.projection.bias": torch.arange(3.0),
        }
    }
    zipped, legacy = io.BytesIO(), io.BytesIO()
    torch.save(state, zipped)
    torch.save(state, legacy, _use_new_zipfile_serialization=False)
    return {
        "pkl2": _pickled(2),
        "pkl5": _pickled(5, flat=True),
        "npz": _npz(),
        "pyth": zipped.getvalue(),
        "pyth_legacy": legacy.getvalue(),
    }


def _read(budget, tmp_path, data, name="fuzz.ckpt"):
    path = tmp_path / name
    path.write_bytes(data)
    result = budget.check(
        lambda: zoo.read_checkpoint(path), zoo.CheckpointFormatError
    )
    if isinstance(result, zoo.CheckpointFormatError):
        assert str(path) in str(result) and "\n" not in str(result), result
    else:
        for array in result.tensors.values():
            assert isinstance(array, np.ndarray) and array.dtype.kind in "biuf"
    return result


MAGICS = (
    b"\x80\x02",
    b"\x80\x05",
    b"PK\x03\x04",
    b"\x89HDF\r\n\x1a\n",
    b"\x80\x02\x8a\x0a" + (0x1950A86A20F9469CFC6C).to_bytes(10, "little"),
)


@harness.examples(quick=30, cost=2)
@given(
    kind=st.sampled_from(["pkl2", "pkl5", "npz", "pyth", "pyth_legacy"]),
    mutate=st.data(),
)
def test_mutated_checkpoints(budget, tmp_path, seeds, kind, mutate):
    data = mutate.draw(harness.mutated(seeds[kind], max_steps=6))
    _read(budget, tmp_path, data)


@harness.examples(quick=20)
@given(magic=st.sampled_from(MAGICS), tail=st.binary(max_size=512))
def test_arbitrary_bytes_behind_each_magic(budget, tmp_path, magic, tail):
    _read(budget, tmp_path, magic + tail)


# Pickle opcode streams: what a hostile .pkl can say to the unpickler.

_GLOBALS = [
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
    ("collections", "OrderedDict"),
    ("os", "system"),
    ("posix", "system"),
    ("builtins", "eval"),
    ("builtins", "getattr"),
    ("numpy", "load"),
    ("numpy.lib.format", "read_array"),
]


@st.composite
def _opcode(draw):
    kind = draw(st.integers(0, 11))
    if kind == 0:
        module, name = draw(st.sampled_from(_GLOBALS))
        return b"c" + module.encode() + b"\n" + name.encode() + b"\n"
    if kind == 1:  # BINBYTES8 / BINUNICODE8 / FRAME claiming a huge length
        op = draw(st.sampled_from([b"\x8e", b"\x8d", b"\x95"]))
        size = draw(st.sampled_from([2**31, 2**40, 2**63 - 1, 10**12]))
        return op + struct.pack("<Q", size)
    if kind == 2:  # LONG4 with a huge length
        return b"\x8b" + struct.pack(
            "<I", draw(st.sampled_from([2**31, 2**32 - 1]))
        )
    if kind == 3:
        return b"(" * draw(st.integers(1, 3000))  # MARK nesting
    if kind == 4:
        return b"]" * draw(st.integers(1, 3000))  # nested empty lists
    if kind == 5:
        text = draw(st.binary(max_size=16))
        return b"C" + bytes([len(text)]) + text  # SHORT_BINBYTES
    if kind == 6:
        return b"K" + bytes([draw(st.integers(0, 255))])  # BININT1
    if kind == 7:
        return b"J" + struct.pack("<i", draw(st.integers(-(2**31), 2**31 - 1)))
    return draw(
        st.sampled_from(
            [b"R", b"}", b")", b"t", b"s", b"u", b"e", b"b", b"0", b"2", b"."]
        )
    )


@harness.examples(quick=30)
@given(
    protocol=st.sampled_from([b"\x80\x02", b"\x80\x04", b"\x80\x05"]),
    ops=st.lists(_opcode(), max_size=12),
)
def test_pickle_opcode_streams(budget, tmp_path, protocol, ops):
    _read(budget, tmp_path, protocol + b"".join(ops) + b".")


# Hostile pickles: each would create `marker` if the reader ran it.


class _Gadget:
    def __init__(self, fn, args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return self.fn, self.args


def _gadget(kind, marker):
    import builtins
    import subprocess

    command = f"touch {marker}"
    python = f"open({str(marker)!r}, 'w').close()"
    return {
        "os.system": _Gadget(os.system, (command,)),
        "subprocess": _Gadget(subprocess.call, (["touch", str(marker)],)),
        "exec": _Gadget(builtins.exec, (python,)),
        "eval": _Gadget(builtins.eval, (python,)),
    }[kind]


@harness.examples(quick=12)
@given(
    kind=st.sampled_from(["os.system", "subprocess", "exec", "eval"]),
    where=st.sampled_from(["top", "blobs", "value", "list", "dtype"]),
    protocol=st.sampled_from([0, 1, 2, 4, 5]),
)
def test_hostile_pickles_never_run(budget, tmp_path, kind, where, protocol):
    marker = tmp_path / f"code_ran_{kind}_{where}_{protocol}"
    gadget = _gadget(kind, marker)
    payload = {
        "top": gadget,
        "blobs": {"blobs": gadget},
        "value": {"blobs": {"conv1_w": gadget}},
        "list": {"blobs": {"conv1_w": [np.zeros(2), gadget]}},
        "dtype": {"blobs": {"conv1_w": np.array([gadget], dtype=object)}},
    }[where]
    data = pickle.dumps(payload, protocol=protocol)
    result = _read(budget, tmp_path, data)
    assert isinstance(result, zoo.CheckpointFormatError), result
    assert not marker.exists(), f"the {kind} gadget ran"


def test_regression_marker_pickle_is_refused_and_never_runs(tmp_path):
    # The brief's regression: a pickle whose __reduce__ writes a marker file.
    marker = tmp_path / "code_ran"
    path = tmp_path / "hostile.pkl"
    path.write_bytes(
        pickle.dumps({"blobs": {"conv1_w": _gadget("os.system", marker)}}, 2)
    )
    with pytest.raises(
        zoo.CheckpointFormatError, match="refusing to unpickle posix.system"
    ):
        zoo.read_checkpoint(path)
    assert not marker.exists()
    # The same payload unpickled by plain pickle does create it: the test
    # can fail.
    pickle.loads(path.read_bytes())
    assert marker.exists()


# Regressions: the inputs the fuzzer found (rebuilt from the same seeds
# with the same edits), each an unexpected exception type before its fix.


def _refused(tmp_path, data, match):
    path = tmp_path / "found.ckpt"
    path.write_bytes(data)
    with pytest.raises(zoo.CheckpointFormatError, match=match) as caught:
        zoo.read_checkpoint(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


def test_regression_damaged_legacy_torch_file(tmp_path, seeds):
    # Was: IndexError ("pop from empty list") out of torch's weights-only
    # unpickler (and KeyError for a bad memo index) when a string length
    # in the legacy header is cut from 5 to 1.
    data = seeds["pyth_legacy"]
    assert data.count(b"X\x05\x00\x00\x00short") == 1
    damaged = data.replace(b"X\x05\x00\x00\x00short", b"X\x01\x00\x00\x00short")
    _refused(tmp_path, damaged, "truncated or damaged torch checkpoint")


def test_regression_pickle_errors_are_one_line(tmp_path):
    # Was: the unpickler's two-line message ("A load persistent id
    # instruction was encountered,\nbut no persistent_load ...") in ours.
    _refused(
        tmp_path,
        b"\x80\x02Pabc\n.",
        r"truncated or damaged pickle, .*persistent id instruction",
    )


def _patched_zip(member_name="w.npy", central=None, local=None):
    """An .npz whose central / local header bytes at the given offsets are
    replaced: `{offset: bytes}`."""
    out = io.BytesIO()
    np.savez(out, **{member_name[:-4]: np.zeros(2, np.float32)})
    data = bytearray(out.getvalue())
    for magic, edits in ((b"PK\x01\x02", central), (b"PK\x03\x04", local)):
        start = data.find(magic)
        for offset, value in (edits or {}).items():
            data[start + offset : start + offset + len(value)] = value
    return bytes(data)


def test_regression_zip_member_name_not_utf8(tmp_path):
    # Was: UnicodeDecodeError out of zipfile.ZipFile (a name flagged UTF-8).
    data = _patched_zip("\u00e9.npy").replace(b"\xc3\xa9", b"\xb7\xb7")
    _refused(tmp_path, data, "damaged zip archive")


def test_regression_zip_version_too_new(tmp_path):
    # Was: NotImplementedError "zip file version 6.4" (version needed to
    # extract = 64 in the central directory).
    data = _patched_zip(central={6: struct.pack("<H", 64)})
    _refused(tmp_path, data, "damaged zip archive")


@pytest.mark.parametrize(
    "flags, error",
    [(0x20, "NotImplementedError"), (0x01, "RuntimeError")],
)
def test_regression_npz_member_flags(tmp_path, flags, error):
    # Was: NotImplementedError ("compressed patched data (flag bit 5)") and
    # RuntimeError ("is encrypted, password required") reading the member.
    data = _patched_zip(central={8: struct.pack("<H", flags)})
    _refused(tmp_path, data, f"damaged entry 'w', .*{error}")
