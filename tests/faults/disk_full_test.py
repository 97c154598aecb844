"""A disk that fills up during a checkpoint save, an export, a shard write
and a results write (issue 24, item 2).

Each test mounts a small tmpfs (`small_disk`, skipped where it cannot be
mounted), makes the previous artifact, then fills the disk with a filler
file that leaves a few pages, so that the write under test starts and fails
part-way. What must hold: one error line naming the path and the cause, the
previous checkpoint / version / shard / file intact and loadable, no partial
files left, and a rerun after deleting the filler carries on.
"""

import csv
import errno
import io
import json
import os
import pathlib
import pickle

import keras
import numpy as np
import pytest
import tensorflow as tf

from nonlocal_tf import cli
from nonlocal_tf import fileio
from nonlocal_tf import training
from nonlocal_tf.data import annotations
from nonlocal_tf.data import prepare
from nonlocal_tf.training import checkpointing
from nonlocal_tf.training import results
from tests import cli_helpers
from tests.data import helpers as data_helpers
from tests.export import helpers as export_helpers
from tests.faults.conftest import PAGE
from tests.training import tiny

DISK = 4 << 20


def _pages(num_bytes):
    return -(-num_bytes // PAGE)


def _files(root):
    """{relative path: bytes} of every file under `root` (filler aside)."""
    root = pathlib.Path(root)
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != "filler"
    }


def _error_line(error, capsys):
    """What a program (`cli.run`) prints for `error`: its stderr lines."""

    def main(argv):
        raise error

    with pytest.raises(SystemExit) as exited:
        cli.guarded(main)(["program"])
    assert exited.value.code == cli.ERROR_STATUS
    return capsys.readouterr().err.splitlines()


def _assert_one_line(error, capsys, *fragments):
    lines = _error_line(error, capsys)
    assert len(lines) == 1, lines
    assert lines[0].startswith("error: no space left on device writing ")
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


# ------------------------------------------------------------ checkpoints


def _train_config(model_dir):
    # Checkpoints at steps 2, 3 (epoch end), 4 and 6.
    return training.TrainConfig(
        model_dir=str(model_dir),
        batch_size_per_replica=4,
        epochs=2,
        steps_per_epoch=3,
        base_learning_rate=0.1,
        checkpoint_every_steps=2,
        log_every_steps=2,
        progress_bar=False,
    )


def _train(model_dir, callback=None, built=None):
    """Trains the tiny model; `built["model"]` is the model, once built."""
    built = {} if built is None else built

    def model_fn():
        built["model"] = tiny.tiny_model(batch_norm=True)
        return built["model"]

    # The shuffle buffer makes the iterator checkpoint ~100 KiB (25+ pages).
    return training.train(
        _train_config(model_dir),
        model_fn,
        tiny.make_dataset_fn(4, shuffle=True),
        callbacks=[callback] if callback else [],
    )


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """A run without faults: its final weights and checkpoint sizes."""
    model_dir = tmp_path_factory.mktemp("uninterrupted")
    result = _train(model_dir)
    data = model_dir / "checkpoints" / "data" / "worker_0"
    return {
        "weights": [v.numpy() for v in result.model.variables],
        "it4_data": (data / "it-4.data-00000-of-00001").stat().st_size,
        "it4_index": (data / "it-4.index").stat().st_size,
    }


# Pages the filler leaves free before the save of step 4, and where that
# save then runs out of space (checkpoint prefix, TensorFlow op). A save
# writes `<prefix>_temp/` (data shard, then index) in SaveV2, merges the
# index into `<prefix>.index` in MergeV2Checkpoints, then the manager's
# `checkpoint` file; the iterator (`it-4`) first, then the state.
SAVE_PHASES = {
    # The iterator's data shard: fails part-way through it.
    "iterator_shard": (lambda sizes: 2, "it-4", "SaveV2"),
    # Shard and temp index fit; the merged `it-4.index` does not (this used
    # to leave an empty `it-4.index` and a stray `it-4.data-*`).
    "iterator_merge": (
        lambda sizes: _pages(sizes["it4_data"]) + _pages(sizes["it4_index"]),
        "it-4",
        "MergeV2Checkpoints",
    ),
    # The iterator checkpoint fits (its peak: shard and two indexes), one
    # page is left; the state's data shard (6 KiB) does not fit.
    "state_shard": (
        lambda sizes: (
            _pages(sizes["it4_data"]) + 2 * _pages(sizes["it4_index"])
        ),
        "state-4",
        "SaveV2",
    ),
}


@pytest.mark.parametrize("phase", sorted(SAVE_PHASES))
def test_checkpoint_save_on_a_full_disk(
    phase, small_disk, uninterrupted, capsys
):
    leave, prefix, op = SAVE_PHASES[phase]
    disk = small_disk(DISK)
    model_dir = disk.path / "run"
    checkpoints = model_dir / "checkpoints"
    built, seen = {}, {}

    def fill_before_the_save_of_step_4(step, logs):
        if step == 3:  # what step 3's checkpoint holds
            seen["weights"] = [v.numpy() for v in built["model"].variables]
        if step == 4:
            seen["files"] = _files(checkpoints)
            disk.fill(leave=leave(uninterrupted) * PAGE)

    with pytest.raises(fileio.DiskFullError) as raised:
        _train(model_dir, fill_before_the_save_of_step_4, built)

    cause = raised.value.__cause__
    assert isinstance(cause, tf.errors.OpError), repr(cause)
    assert f"[Op:{op}]" in str(cause), str(cause)  # the phase it names
    failed = checkpoints / prefix
    if prefix.startswith("it-"):
        failed = checkpoints / "data" / "worker_0" / prefix
    latest = str(checkpoints / "state-3")
    _assert_one_line(
        raised.value,
        capsys,
        f"writing {failed} (",
        f"training resumes from step 3, {latest})",
    )

    # Nothing of the failed save is left: the files are those there before
    # it, byte for byte; only a complete iterator checkpoint of step 4 (and
    # its manager's list) where the state save was the one that failed.
    after = _files(checkpoints)
    changed = {k for k in seen["files"] if after.get(k) != seen["files"][k]}
    if phase == "state_shard":
        assert set(after) - set(seen["files"]) == {
            "data/worker_0/it-4.data-00000-of-00001",
            "data/worker_0/it-4.index",
        }
        assert changed == {"data/worker_0/checkpoint"}
    else:
        assert set(after) == set(seen["files"])
        assert changed == set()
    assert tf.train.latest_checkpoint(str(checkpoints)) == latest

    # The previous checkpoint loads, with step 3's weights.
    fresh = tiny.tiny_model(batch_norm=True)
    assert checkpointing.load_run_weights(fresh, str(model_dir)) == latest
    for got, expected in zip(fresh.variables, seen["weights"], strict=True):
        np.testing.assert_array_equal(got.numpy(), expected)

    # With space again the same run resumes from step 3 and ends where an
    # uninterrupted run ends.
    disk.unfill()
    keras.backend.clear_session(free_memory=False)
    resumed = _train(model_dir)
    assert resumed.resumed_from == 3
    assert resumed.step == 6
    for got, expected in zip(
        resumed.model.variables, uninterrupted["weights"], strict=True
    ):
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-6, atol=1e-7)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_final_weights_on_a_full_disk(small_disk, capsys):
    disk = small_disk(DISK)
    model = keras.Sequential([keras.Input((64,)), keras.layers.Dense(256)])
    path = checkpointing.save_final_weights(model, str(disk.path))
    previous = pathlib.Path(path).read_bytes()
    assert len(previous) > 16 * PAGE

    model.layers[0].kernel.assign(model.layers[0].kernel + 1.0)
    disk.fill(leave=8 * PAGE)
    with pytest.raises(fileio.DiskFullError) as raised:
        checkpointing.save_final_weights(model, str(disk.path))
    assert fileio.is_disk_full(raised.value.__cause__)
    # Refused before HDF5 opened the file: a write failing inside HDF5 left
    # it a file it could not close, and a later HDF5 call of this process
    # crashed (a segmentation fault in tests/zoo/loading_test.py after this
    # test, in one pytest process).
    assert "bytes needed for the weights" in str(raised.value.__cause__)
    _assert_one_line(raised.value, capsys, path, "previous file is unchanged")
    assert sorted(os.listdir(disk.path)) == ["filler", "final.weights.h5"]
    assert pathlib.Path(path).read_bytes() == previous

    disk.unfill()
    checkpointing.save_final_weights(model, str(disk.path))
    reloaded = keras.Sequential([keras.Input((64,)), keras.layers.Dense(256)])
    reloaded.load_weights(path)
    np.testing.assert_array_equal(
        reloaded.layers[0].kernel.numpy(), model.layers[0].kernel.numpy()
    )


# ---------------------------------------------------------------- export


def test_export_on_a_full_disk(small_disk, capsys):
    from nonlocal_tf.export import export_saved_model

    disk = small_disk(DISK)
    base = disk.path / "models"
    model = export_helpers.tiny_classifier()
    kwargs = dict(
        label_names=export_helpers.LABELS, from_logits=True, crop_size=32
    )
    first = export_saved_model(model, str(base), "tiny", **kwargs)
    before = _files(first)
    assert sum(map(len, before.values())) > 64 << 10

    disk.fill(leave=16 * PAGE)  # less than a version: fails part-way
    with pytest.raises(fileio.DiskFullError) as raised:
        export_saved_model(model, str(base), "tiny", **kwargs)
    assert fileio.is_disk_full(raised.value.__cause__)
    _assert_one_line(
        raised.value,
        capsys,
        str(base / "tiny" / "2"),
        "version 1 is unchanged",
    )
    assert sorted(os.listdir(base / "tiny")) == ["1"]  # no temp dir
    assert _files(first) == before

    # Version 1 still serves what the Keras model computes.
    clip = np.random.default_rng(0).uniform(0, 255, (2, 4, 32, 32, 3))
    served = tf.saved_model.load(first).signatures["serving_default"](
        video=tf.constant(clip, tf.float32)
    )
    np.testing.assert_allclose(
        served["probabilities"].numpy(),
        export_helpers.reference_probabilities(model, clip),
        rtol=1e-4,
        atol=1e-6,
    )

    disk.unfill()
    second = export_saved_model(model, str(base), "tiny", **kwargs)
    assert second == str(base / "tiny" / "2")
    assert sorted(os.listdir(base / "tiny")) == ["1", "2"]
    assert "serving_default" in tf.saved_model.load(second).signatures


# ---------------------------------------------------------------- shards

NUM_VIDEOS, NUM_SHARDS = 6, 3


def _videos(folder):
    folder.mkdir()
    base = data_helpers.textured_frames(30, 120, 160)
    lines = ["path,label"]
    for i in range(NUM_VIDEOS):
        frames = np.roll(base, shift=(7 * i, 11 * i), axis=(1, 2))
        data_helpers.write_video(folder / f"v{i}.mp4", frames, fps=30)
        lines.append(f"v{i}.mp4,class{i % 2}")
    listing = folder / "list.csv"
    listing.write_text("\n".join(lines) + "\n")
    return listing


def _prepare_data(listing, output):
    return cli_helpers.run_program(
        "prepare_data.py",
        f"--video_dir={listing.parent}",
        f"--annotations={listing}",
        f"--output_dir={output}",
        f"--num_shards={NUM_SHARDS}",
        "--num_workers=0",
        "--short_side=112",
        "--noprogress",
    )


def _shard_name(index):
    return f"train-{index:05d}-of-{NUM_SHARDS:05d}.tfrecord"


def _shard(output, index):
    return output / _shard_name(index)


def test_shard_write_on_a_full_disk(small_disk, tmp_path):
    listing = _videos(tmp_path / "videos")
    # The reference: the same preparation with room (in this process).
    reference_dir = tmp_path / "reference"
    prepare.prepare_dataset(
        annotations.read_annotations(str(listing), str(listing.parent)),
        str(reference_dir),
        label_map=annotations.build_label_map(
            annotations.read_annotations(str(listing), str(listing.parent))
        ),
        num_shards=NUM_SHARDS,
        num_workers=0,
        short_side=112,
        progress=False,
    )
    reference = _files(reference_dir)

    # Room for what comes before shard 1 (the small JSON files, shard 0 and
    # its state) and for one more record (a video's frames may be spooled
    # to a file beside the shard as it is written), and a little more:
    # shard 1 (two records) then fails part-way.
    disk = small_disk(DISK)
    output = disk.path / "records"
    largest = max(
        len(record.numpy())
        for index in range(NUM_SHARDS)
        for record in tf.data.TFRecordDataset(str(_shard(reference_dir, index)))
    )
    assert len(reference[_shard_name(1)]) > largest + 16 * PAGE
    before = (
        sum(
            _pages(len(data))
            for name, data in reference.items()
            if name.endswith(".json")
        )
        + _pages(len(reference[_shard_name(0)]))
        + _pages(largest)
    )
    disk.fill(leave=(before + 8) * PAGE)
    completed = _prepare_data(listing, output)
    cli_helpers.assert_user_error(
        completed,
        f"no space left on device writing {_shard(output, 1)} (",
        "shards finished before it are kept",
    )
    written = _files(output)
    # Nothing a finished preparation would not have: no temporary shard,
    # no spooled frames.
    assert set(written) <= set(reference), sorted(written)
    assert _shard_name(0) in written
    assert _shard_name(1) not in written
    # Shard 0 is whole: its bytes are the reference's and it reads.
    name_0 = _shard_name(0)
    assert written[name_0] == reference[name_0]
    assert sum(1 for _ in tf.data.TFRecordDataset(str(_shard(output, 0)))) == 2
    inode_0 = _shard(output, 0).stat().st_ino

    disk.unfill()
    completed = _prepare_data(listing, output)
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert _shard(output, 0).stat().st_ino == inode_0  # not written again
    resumed = _files(output)
    for index in range(NUM_SHARDS):
        name = _shard_name(index)
        assert resumed[name] == reference[name], name


# --------------------------------------------------------------- results


def _eval_result(num_videos, seed):
    rng = np.random.default_rng(seed)
    scores = rng.random((num_videos, 3, 7))
    labels = rng.integers(0, 7, num_videos)
    return scores, results.compute_results(scores, labels)


def _top_indices(scores, k):
    """Reference: each video's best k classes of the mean over views."""
    mean = np.asarray(scores).mean(axis=1)
    return [list(np.argsort(-row, kind="stable")[:k]) for row in mean]


@pytest.mark.parametrize("name", ["metrics.json", "predictions.csv"])
def test_results_write_on_a_full_disk(name, small_disk, capsys):
    disk = small_disk(DISK)
    path = disk.path / "eval" / name

    def write(result, run):
        if name == "metrics.json":
            # A note long enough that the file takes several pages.
            extra = {"run": run, "note": "x" * (4 * PAGE * run)}
            results.write_metrics_json(result, str(path), extra)
        else:
            results.write_predictions_csv(result, str(path), top_k=2 * run)

    _, first = _eval_result(40, seed=0)
    write(first, run=1)
    previous = path.read_bytes()

    scores, second = _eval_result(400, seed=1)
    disk.fill(leave=PAGE)  # the new file needs several pages
    with pytest.raises(fileio.DiskFullError) as raised:
        write(second, run=2)
    assert fileio.is_disk_full(raised.value.__cause__)
    _assert_one_line(
        raised.value, capsys, str(path), "previous file is unchanged"
    )
    assert path.read_bytes() == previous
    assert os.listdir(path.parent) == [name]  # no temporary file

    disk.unfill()
    write(second, run=2)
    if name == "metrics.json":
        written = json.loads(path.read_text())
        assert written["run"] == 2
        assert written["num_videos"] == 400
    else:
        rows = list(csv.DictReader(io.StringIO(path.read_text())))
        assert [
            [int(c) for c in row["top_indices"].split()] for row in rows
        ] == _top_indices(scores, 4)


# ------------------------------------------------------------ the fixture


def test_small_disk_skips_without_root(monkeypatch, tmp_path):
    from tests.faults import conftest

    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(pytest.skip.Exception, match="needs root"):
        conftest._mount(tmp_path, DISK)


def test_small_disk_fill_leaves_what_it_says(small_disk):
    disk = small_disk(1 << 20)
    disk.fill(leave=3 * PAGE)
    assert disk.free_bytes() == 3 * PAGE
    with pytest.raises(OSError) as raised:
        (disk.path / "big").write_bytes(b"x" * 4 * PAGE)
    assert fileio.is_disk_full(raised.value)
    (disk.path / "big").unlink()  # the 3 pages written before the error
    disk.unfill()
    assert disk.free_bytes() == 1 << 20


@pytest.mark.parametrize("format", ["onnx", "litert"])
def test_other_format_export_on_a_full_disk(format, small_disk, capsys):
    from nonlocal_tf.export import formats
    from nonlocal_tf.export import runtimes

    pytest.importorskip({"onnx": "tf2onnx", "litert": "ai_edge_litert"}[format])
    disk = small_disk(DISK)
    model = export_helpers.tiny_classifier()
    graph = formats.build_export_graph(
        model, crop_size=16, num_frames=4, from_logits=True
    )
    path = disk.path / "models" / format
    formats.write_export(graph, str(path), format)
    before = _files(path)

    disk.fill(leave=PAGE)  # the model file alone is larger
    with pytest.raises(fileio.DiskFullError) as raised:
        formats.write_export(graph, str(path), format, overwrite=True)
    assert fileio.is_disk_full(raised.value.__cause__)
    _assert_one_line(
        raised.value,
        capsys,
        f"writing {path} (",
        "previous export is unchanged",
    )
    assert sorted(os.listdir(path.parent)) == [format]  # no temp dir
    assert _files(path) == before
    clips = np.random.default_rng(0).uniform(0, 255, (2, 4, 16, 16, 3))
    np.testing.assert_allclose(
        runtimes.load_exported(str(path)).predict(clips),
        export_helpers.reference_probabilities(model, clips),
        rtol=1e-4,
        atol=1e-5,
    )

    disk.unfill()
    formats.write_export(graph, str(path), format, overwrite=True)
    assert sorted(os.listdir(path.parent)) == [format]


# ------------------------------------------------------------ the errors


@pytest.mark.parametrize(
    "error, full",
    [
        (OSError(errno.ENOSPC, "No space left on device", "/x/a"), True),
        (OSError(errno.EDQUOT, "Disk quota exceeded"), True),
        # h5py: an errno-less OSError carrying the C library's text.
        (
            OSError(
                "Can't write data (error message = 'No space left on device')"
            ),
            True,
        ),
        (
            tf.errors.ResourceExhaustedError(
                None, None, "/x/t; No space left on device"
            ),
            True,
        ),
        (
            tf.errors.UnknownError(None, None, "/x/t; No space left on device"),
            True,
        ),
        (
            tf.errors.ResourceExhaustedError(None, None, "OOM when allocating"),
            False,
        ),
        (OSError(errno.EACCES, "Permission denied", "/x/a"), False),
        (ValueError("No space left on device"), False),
    ],
)
def test_is_disk_full(error, full):
    assert fileio.is_disk_full(error) is full


def test_a_disk_full_error_is_one_user_line_and_pickles(capsys):
    unknown = tf.errors.UnknownError(
        None, None, "/x/t; No space left on device"
    )
    assert cli.is_user_error(unknown)  # TensorFlow's other error class
    error = fileio.DiskFullError("/x/ckpt-4", "free space and rerun")
    assert error.errno == errno.ENOSPC
    assert _error_line(error, capsys) == [
        "error: no space left on device writing /x/ckpt-4 (free space and "
        "rerun)"
    ]
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is fileio.DiskFullError and str(copy) == str(error)
