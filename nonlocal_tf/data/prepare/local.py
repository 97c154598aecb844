"""The local engine: worker processes decode, this process writes the shards.

Workers run `workers.encode_video` (through `nonlocal_tf.data.video`, no
TensorFlow); this process turns each result into a record and writes the
shards one after the other, in a fixed order, so the output does not depend
on the number of workers.

Memory does not grow with a video's length: the workers spool each video's
JPEG frames to a file (`spool.FrameSpool`) and this process streams the
record from it into the shard. The spool files wait in
`<output_dir>/.prepare-<split>/spool-*/` (a temporary folder when the output
is not a local path), the frames of at most `2 * num_workers` videos (the
results in flight; 1 with no workers), and are removed as their records are
written; a folder a killed run left is removed by the next run.
"""

import collections
import concurrent.futures
import glob
import os
import shutil
import tempfile

from absl import logging
from tqdm import tqdm

from nonlocal_tf.data.prepare import records
from nonlocal_tf.data.prepare import workers


class Executor:
    """Runs `workers.encode_video` in worker processes (inline with 0).

    Results come back in submission order, at most `2 * num_workers` in
    flight. A worker that dies (a crashing decoder) is reported for the
    video it was decoding, found by retrying the affected videos one
    process at a time.
    """

    def __init__(self, num_workers, settings, spool_dir=None):
        if num_workers and not workers.main_is_importable():
            logging.warning(
                "__main__ has no importable file; decoding in this process "
                "instead of %d workers",
                num_workers,
            )
            num_workers = 0
        self._num_workers = num_workers
        self._settings = settings
        self._spool_dir = spool_dir

    def _inline(self, entries):
        for entry in entries:
            try:
                encoded = workers.encode_video(
                    entry, self._settings, self._spool_dir
                )
                yield entry, encoded
            except Exception as e:  # noqa: BLE001 - reported per video
                yield entry, e

    def map(self, entries):
        """Yields (entry, EncodedVideo or exception) in order."""
        entries = list(entries)
        if not entries:
            return
        if self._num_workers == 0:
            yield from self._inline(entries)
            return
        window = 2 * self._num_workers
        pending = collections.deque()
        entries = iter(entries)
        pool = workers.new_pool(self._num_workers)
        try:
            while True:
                while len(pending) < window:
                    entry = next(entries, None)
                    if entry is None:
                        break
                    future = workers.submit(
                        pool, entry, self._settings, self._spool_dir
                    )
                    pending.append((entry, future))
                if not pending:
                    return
                entry, future = pending.popleft()
                try:
                    yield entry, future.result()
                except concurrent.futures.process.BrokenProcessPool:
                    retry = [entry] + [e for e, _ in pending]
                    pending.clear()
                    pool.shutdown(cancel_futures=True)
                    yield from self._isolated(retry)
                    pool = workers.new_pool(self._num_workers)
                except Exception as e:  # noqa: BLE001 - reported per video
                    yield entry, e
        finally:
            pool.shutdown(cancel_futures=True)

    def _isolated(self, entries):
        encoder = workers.IsolatedEncoder(self._spool_dir)
        try:
            for entry in entries:
                yield entry, encoder(entry, self._settings)
        finally:
            encoder.close()


class _Progress:
    """A tqdm bar of videos done, with the count skipped so far."""

    def __init__(self, total, split, enabled):
        self._bar = tqdm(
            total=total,
            desc=f"prepare {split}",
            unit="video",
            disable=not enabled,
        )
        self._skipped = 0

    def advance(self, skipped):
        self._bar.update(1)
        if skipped:
            self._skipped += 1
            self._bar.set_postfix(skipped=self._skipped, refresh=False)

    def close(self):
        self._bar.close()


def _shard_outcomes(slots, results, label_map, progress):
    """The outcomes of one shard's slots, drawing decoded videos in order."""

    def next_result(entry):
        got, video = next(results)
        if got is not entry:
            raise RuntimeError("internal error: results out of order")
        return video

    for slot in slots:
        outcome = records.slot_outcome(slot, label_map, next_result)
        progress.advance(outcome.skip is not None)
        yield outcome


def _spool_dir(plan):
    """A new folder for the frame spools (module docstring)."""
    if "://" in plan.state_dir:
        return tempfile.mkdtemp(prefix="nonlocal_tf_spool-")
    for stale in glob.glob(os.path.join(plan.state_dir, "spool-*")):
        shutil.rmtree(stale, ignore_errors=True)
    return tempfile.mkdtemp(prefix="spool-", dir=plan.state_dir)


def run(plan, *, num_workers, progress):
    """Writes the shards of `plan.todo` with `num_workers` processes.

    Example:
        >>> run(plan, num_workers=4, progress=True)  # doctest: +SKIP
    """
    slots = plan.todo_slots()
    jobs = [slot.entry for slot in slots if slot.skip is None]
    bar = _Progress(len(slots), plan.split, progress)
    spool_dir = _spool_dir(plan)
    results = Executor(num_workers, plan.settings, spool_dir).map(jobs)
    try:
        for s in plan.todo:
            records.write_shard(
                plan.paths[s],
                plan.states[s],
                _shard_outcomes(plan.shards[s], results, plan.label_map, bar),
            )
    finally:
        results.close()
        bar.close()
        shutil.rmtree(spool_dir, ignore_errors=True)
