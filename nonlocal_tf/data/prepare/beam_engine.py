"""The Apache Beam engine: the same stages, on any Beam runner.

`pip install 'nonlocal-tf[beam]'`. The driver plans the split and claims the
output folder as the local engine does, writes the plan's slots to
`.prepare-<split>/slots.json` (so the pipeline graph stays small for
hundreds of thousands of videos), runs (then removes that file)

    shard indices -> slots of each shard -> Reshuffle
      -> decode + encode each video (`workers.IsolatedEncoder`: the local
         engine's function, in a child process, so a crashing decoder is a
         skipped video)
      -> GroupByKey(shard) -> write each shard atomically (`records.
         write_shard`, records in plan order)

and writes the report from the shard states. The shard key and the record
order come from the plan, never from the runner, and every shard is
finalised by a rename: a retried or duplicated bundle rewrites the same
bytes (duplicated outcomes of one slot are written once; a missing one fails
the shard's bundle rather than writing a short shard). A bad video is a
counted skip. Paths go through `tf.io.gfile` (`gs://` works); the video
files must be readable as local files on the workers.

Counters (namespace `report.METRICS_NAMESPACE`) count the shards written by
this run: videos written, frames, milliseconds of video, skipped by reason.
"""

import os
import shlex

import apache_beam as beam
import tensorflow as tf
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.options.pipeline_options import PipelineOptions

from nonlocal_tf.data import annotations
from nonlocal_tf.data.prepare import plan as plan_lib
from nonlocal_tf.data.prepare import records
from nonlocal_tf.data.prepare import report
from nonlocal_tf.data.prepare import workers

SLOTS_FILE = "slots.json"
DEFAULT_OPTIONS = "--runner=DirectRunner"


def _slot_row(slot):
    e = slot.entry
    return [
        slot.position,
        e.path,
        e.video_id,
        list(e.labels),
        e.start_time,
        e.end_time,
        slot.skip,
    ]


def _slot_of_row(shard, row):
    position, path, video_id, labels, start, end, skip = row
    entry = annotations.VideoEntry(path, video_id, tuple(labels), start, end)
    return plan_lib.Slot(shard, position, entry, skip)


def write_slots(plan):
    """Writes every shard's slots for the workers; returns the file."""
    path = os.path.join(plan.state_dir, SLOTS_FILE)
    rows = [[_slot_row(slot) for slot in shard] for shard in plan.shards]
    records.write_json(path, {"fingerprint": plan.fingerprint, "shards": rows})
    return path


class ShardSlots(beam.DoFn):
    """shard index -> its `plan.Slot`s (read from the slots file)."""

    def __init__(self, slots_path, fingerprint):
        self._path = slots_path
        self._fingerprint = fingerprint
        self._shards = None

    def setup(self):
        data = plan_lib.read_json(self._path)
        if data["fingerprint"] != self._fingerprint:
            raise ValueError(
                f"{self._path} belongs to another preparation (fingerprint "
                "differs); rerun the driver"
            )
        self._shards = data["shards"]

    def process(self, shard):
        for row in self._shards[shard]:
            yield _slot_of_row(shard, row)


def _slot_outcome(slot, label_map, encoder, settings):
    return records.slot_outcome(
        slot, label_map, lambda entry: encoder(entry, settings)
    )


class EncodeVideo(beam.DoFn):
    """slot -> (shard, (position, `records.VideoOutcome`))."""

    def __init__(self, settings, label_map):
        self._settings = settings
        self._label_map = label_map
        self._encoder = None

    def setup(self):
        self._encoder = workers.IsolatedEncoder()

    def process(self, slot):
        outcome = _slot_outcome(
            slot, self._label_map, self._encoder, self._settings
        )
        yield slot.shard, (slot.position, outcome)

    def teardown(self):
        if self._encoder is not None:
            self._encoder.close()


def _counter(name):
    return Metrics.counter(report.METRICS_NAMESPACE, name)


class WriteShard(beam.DoFn):
    """(shard, [(position, outcome)]) -> the shard written; counts it."""

    def __init__(self, paths, states, sizes):
        self._paths = paths
        self._states = states
        self._sizes = sizes

    def process(self, item):
        shard, pairs = item
        by_position = {}
        for position, outcome in pairs:
            by_position.setdefault(position, outcome)  # a duplicate: same
        size = self._sizes[shard]
        missing = sorted(set(range(size)) - set(by_position))
        if missing:
            raise RuntimeError(
                f"shard {shard} ({self._paths[shard]}) lacks the outcomes of "
                f"positions {missing[:10]} of {size}; not writing it"
            )
        state = records.write_shard(
            self._paths[shard],
            self._states[shard],
            (by_position[p] for p in range(size)),
        )
        _counter(report.SHARDS).inc()
        _counter(report.WRITTEN).inc(len(state["written"]))
        _counter(report.FRAMES).inc(state["frames"])
        _counter(report.MILLISECONDS).inc(round(state["seconds"] * 1000))
        for skipped in state["skipped"]:
            _counter(report.SKIPPED_PREFIX + skipped["reason"]).inc()
        yield shard


def build(pipeline, plan, slots_path):
    """Adds the preparation of `plan.todo` to `pipeline`.

    Returns:
        The PCollection of the shard indices written.
    """
    sizes = {s: len(plan.shards[s]) for s in plan.todo}
    return (
        pipeline
        | "Shards" >> beam.Create(list(plan.todo))
        | "Slots" >> beam.ParDo(ShardSlots(slots_path, plan.fingerprint))
        | "Spread" >> beam.Reshuffle()
        | "Encode" >> beam.ParDo(EncodeVideo(plan.settings, plan.label_map))
        | "ByShard" >> beam.GroupByKey()
        | "Write" >> beam.ParDo(WriteShard(plan.paths, plan.states, sizes))
    )


def pipeline_options(beam_options):
    """`PipelineOptions` from a command-line string or list."""
    if beam_options is None:
        beam_options = DEFAULT_OPTIONS
    if isinstance(beam_options, str):
        beam_options = shlex.split(beam_options)
    return PipelineOptions(list(beam_options))


def _counters(result):
    query = result.metrics().query(
        MetricsFilter().with_namespace(report.METRICS_NAMESPACE)
    )
    counters = {}
    for counter in query["counters"]:
        value = counter.committed
        if value is None:
            value = counter.attempted
        name = counter.key.metric.name
        counters[name] = counters.get(name, 0) + int(value or 0)
    return counters


def run(plan, *, beam_options=None):
    """Writes the shards of `plan.todo` with a Beam pipeline.

    Args:
        plan: a claimed `plan.Plan`.
        beam_options: pipeline options (string or list); default the
            DirectRunner.

    Returns:
        The pipeline's counters {name: value}.

    Example:
        >>> run(plan, beam_options="--runner=DirectRunner "
        ...     "--direct_num_workers=2")  # doctest: +SKIP
    """
    if not plan.todo:
        return {}
    slots_path = write_slots(plan)
    pipeline = beam.Pipeline(options=pipeline_options(beam_options))
    build(pipeline, plan, slots_path)
    result = pipeline.run()
    result.wait_until_finish()
    tf.io.gfile.remove(slots_path)
    return _counters(result)
