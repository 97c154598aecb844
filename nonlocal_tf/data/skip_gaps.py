"""Counting and logging the positions missing from a `tf.data` stream.

Each element carries its position (`record_positions.add_positions`); after
a map that drops failing records, a gap in the positions is a skipped record,
logged with absl (or `tf.print` on a tf.data service worker) and added to a
`skipped.SkippedRecords`.
"""

import sys

import tensorflow as tf
from absl import logging

from nonlocal_tf.data import skipped


class _GapLogger:
    """Logs and counts the positions a stage lost (a `scan` function)."""

    def __init__(self, counter, name, what, *, in_graph):
        self.counter = counter
        self.name = name
        self.what = what
        self.in_graph = in_graph

    def report(self, gap, at_end, index, filename, video_id):
        total = self.counter.add(gap, self.name)
        if at_end:
            where = f"at the end of {filename or 'the data'}"
        else:
            where = (
                f"before record {index} of {filename} (video '{video_id}') "
                "in the stream"
            )
        logging.warning(
            "%s: skipped %d record(s) that failed %s, %s; %d skipped so far. "
            "TensorFlow's log line 'Error raised with error message ...' "
            "gives the error.",
            self.name,
            gap,
            self.what,
            where,
            total,
        )
        return 0

    def _py_log(self, gap, at_end, index, filename, video_id):
        def text(t):
            return t.numpy().decode("utf-8", "replace")

        return self.report(
            int(gap.numpy()),
            bool(at_end.numpy()),
            int(index.numpy()),
            text(filename),
            text(video_id),
        )

    def _print_gap(self, gap, element):
        done = tf.print(
            f"{self.name}: skipped",
            gap,
            f"record(s) that failed {self.what}, before record",
            element["index"],
            "of",
            element["filename"],
            "(-1: at its end)",
            output_stream=sys.stderr,
        )
        with tf.control_dependencies([done]):
            return tf.identity(gap)

    def _log_gap(self, gap, element):
        done = tf.py_function(
            self._py_log,
            [
                gap,
                element["sentinel"],
                element["index"],
                element["filename"],
                element["video_id"],
            ],
            tf.int64,
        )
        with tf.control_dependencies([done]):
            return tf.identity(gap)

    def account(self, expected, element):
        gap = element["position"] - expected
        log = self._print_gap if self.in_graph else self._log_gap
        logged = tf.cond(gap > 0, lambda: log(gap, element), lambda: gap)
        with tf.control_dependencies([logged]):
            following = element["position"] + 1
        return following, element


def count_gaps(elements, counter, name, what, finalize):
    """Counts and logs the positions missing from `elements`, drops sentinels.

    Args:
        elements: dataset of dicts with `position`, `sentinel`, `index`,
            `filename`, `video_id` and payload keys, in position order.
        counter: a `skipped.SkippedRecords`.
        name: pipeline name for the log line.
        what: what the skipped records failed at, e.g. "to parse".
        finalize: function of the dict (without `position` and `sentinel`)
            giving the output element.

    Returns:
        The dataset of `finalize(element)`.
    """

    logger = _GapLogger(counter, name, what, in_graph=skipped.logs_in_graph())
    elements = elements.scan(tf.constant(0, tf.int64), logger.account)
    elements = elements.filter(
        lambda element: tf.logical_not(element["sentinel"])
    )
    return elements.map(
        lambda element: finalize(
            {
                k: v
                for k, v in element.items()
                if k not in ("position", "sentinel")
            }
        )
    )
