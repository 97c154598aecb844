"""Losing a worker of a multi-worker job: a bounded wait and a clear error.

When one worker of a `MultiWorkerMirroredStrategy` job dies, the others
cannot go on: every step all-reduces with it. TensorFlow's coordination
service (on by default under the strategy, its leader on the chief) takes a
worker whose heartbeats stop for its heartbeat timeout as lost and aborts
the collectives of the others; a worker killed outright is found sooner,
when the next collective cannot connect to it. The survivors then fail with
a `tf.errors.UnavailableError` / `DeadlineExceededError` whose text may or
may not say which task was lost ("Deadline Exceeded RPC:
/tensorflow.CoordinationService/Heartbeat" when the chief is the one gone).

This module sets that timeout (`configure_peer_timeout`, called by
`create_strategy("multi_worker", peer_timeout_seconds=...)`; TensorFlow's
own default is 10 s) and turns the failure into one `PeerLostError` naming
the lost task, its address and the checkpoint a restarted job resumes from
(`lost_peer_error`). The lost task is the one TensorFlow's heartbeat error
lists (or the leader, when this task's own heartbeats go unanswered); else
the one that does not answer a status request (TensorFlow's collective peer
health check, at most `PROBE_SECONDS` each: a killed task refuses the
connection at once); else one that TensorFlow's message names. Measured on
localhost (2 workers on 2 busy cores, `tests/training/killed_worker_test.py`):
a killed worker's peer stops 3-8 s after the kill (mostly its own exit); a
frozen one's (SIGSTOP: a host that vanished without closing its
connections) 8-11 s after the freeze with a 5 s timeout: the timeout, then
the exit.

The timeout is the coordination service heartbeat, not
`tf.distribute.experimental.CommunicationOptions(timeout_seconds=...)`: a
collective timeout also fires when a healthy peer is merely slow to reach
the collective (writing a checkpoint, compiling), a heartbeat only when it
stops answering.

Example:
    >>> strategy = create_strategy("multi_worker", peer_timeout_seconds=60)
    >>> train(config, model_fn, dataset_fn, strategy=strategy)
    PeerLostError: lost worker 1 (/job:worker/replica:0/task:1 at
    host-b:2222: connection refused) of the multi-worker job; worker 0 stops
    after step 8. Restart every worker with the same flags and model_dir:
    the job resumes from /runs/c2d/checkpoints/state-6.
"""

import dataclasses
import re
import time

import tensorflow as tf
from absl import logging

# No public API sets the coordination service's heartbeat timeout or probes a
# peer: `MultiWorkerMirroredStrategy` configures the service through the
# eager context itself, and leaves a configuration made before it in place.
from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
from tensorflow.python.eager import context

# A minute, not TensorFlow's 10 s: a false alarm (a host stalled by swapping
# or I/O, a network blip) stops the whole job and costs a restart and the
# steps since the last checkpoint, while waiting on a truly lost worker costs
# the others a minute of idle time, once.
DEFAULT_PEER_TIMEOUT_SECONDS = 60.0
# Waiting for each other task's status answer when naming the lost one, and
# for all of them together.
PROBE_SECONDS = 5.0
_PROBE_BUDGET_SECONDS = 2 * PROBE_SECONDS
# TensorFlow's errors when a collective or a heartbeat cannot reach a peer.
PEER_FAILURES = (
    tf.errors.UnavailableError,
    tf.errors.DeadlineExceededError,
    tf.errors.AbortedError,
)
_TRAINING_JOBS = ("chief", "worker")
_TASK_NAME = re.compile(r"/job:(\w+)/(?:replica:\d+/)?task:(\d+)")


class PeerLostError(RuntimeError):
    """A worker of the multi-worker job stopped answering; this one stops.

    Attributes:
        peers: The lost `Peer`s.
        checkpoint: The latest checkpoint (the one a restarted job resumes
            from), or None.
    """

    def __init__(self, message, peers, checkpoint):
        super().__init__(message)
        self.peers = peers
        self.checkpoint = checkpoint


@dataclasses.dataclass(frozen=True)
class Peer:
    """A task of the cluster and why it counts as lost.

    Attributes:
        task_type: `"chief"` or `"worker"`.
        task_id: Its index within `task_type`.
        address: Its `host:port` in the cluster spec.
        reason: What showed it lost (`"connection refused"`, ...).
    """

    task_type: str
    task_id: int
    address: str
    reason: str = ""

    @property
    def name(self):
        return f"/job:{self.task_type}/replica:0/task:{self.task_id}"

    def describe(self):
        """`worker 1 (/job:worker/replica:0/task:1 at host:port: reason)`."""
        reason = f": {self.reason}" if self.reason else ""
        return (
            f"{self.task_type} {self.task_id} ({self.name} at "
            f"{self.address}{reason})"
        )


def coordination_leader(cluster_spec):
    """The task leading the coordination service: the chief, else worker 0.

    The rule `MultiWorkerMirroredStrategy` applies (a cluster of chief and
    workers, no parameter servers).
    """
    job = "chief" if "chief" in cluster_spec.jobs else "worker"
    return f"/job:{job}/replica:0/task:0"


def configure_peer_timeout(timeout_seconds, cluster_resolver):
    """Sets the coordination service's heartbeat timeout for this process.

    Call before creating the `MultiWorkerMirroredStrategy` (and before any
    other TensorFlow op); the strategy keeps this configuration and adds
    its own settings. Every worker of a job should use the same timeout.

    Args:
        timeout_seconds: A task whose heartbeats stop for this long is lost.
        cluster_resolver: The job's cluster resolver (e.g.
            `tf.distribute.cluster_resolver.TFConfigClusterResolver()`).

    Returns:
        Whether the timeout was set (False when the service was already
        configured, or this task does not train).

    Example:
        >>> resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        >>> configure_peer_timeout(60, resolver)
        True
    """
    if not timeout_seconds > 0:
        raise ValueError(
            f"peer_timeout_seconds must be > 0, got {timeout_seconds}"
        )
    cluster = cluster_resolver.cluster_spec()
    if cluster_resolver.task_type not in _TRAINING_JOBS:
        return False
    eager = context.context()
    if eager.coordination_service is not None:
        logging.warning(
            "The coordination service is already configured; its heartbeat "
            "timeout is left as it is (peer_timeout_seconds=%g not applied).",
            timeout_seconds,
        )
        return False
    eager.configure_coordination_service(
        service_type="standalone",
        service_leader=coordination_leader(cluster),
        heartbeat_timeout_in_ms=int(round(timeout_seconds * 1000)),
        coordinated_jobs=[
            coordination_config_pb2.CoordinatedJob(
                name=job, num_tasks=cluster.num_tasks(job)
            )
            for job in _TRAINING_JOBS
            if job in cluster.jobs
        ],
    )
    return True


def _other_tasks(cluster_resolver):
    cluster = cluster_resolver.cluster_spec()
    own = (cluster_resolver.task_type, cluster_resolver.task_id or 0)
    for job in _TRAINING_JOBS:
        if job not in cluster.jobs:
            continue
        for task_id in cluster.task_indices(job):
            if (job, task_id) != own:
                yield Peer(job, task_id, cluster.task_address(job, task_id))


def _probe(peer, timeout_seconds):
    """Why `peer` counts as lost, or None when it answers."""
    try:
        context.context().check_collective_ops_peer_health(
            peer.name, timeout_in_ms=int(timeout_seconds * 1000)
        )
    except tf.errors.DeadlineExceededError:
        return f"no answer within {timeout_seconds:g} s"
    except tf.errors.UnavailableError as error:
        if "connection refused" in str(error).lower():
            return "connection refused"
        return "unreachable"
    except tf.errors.FailedPreconditionError:
        return "restarted since this worker last talked to it"
    return None


def _probed(peers):
    lost, deadline = [], time.monotonic() + _PROBE_BUDGET_SECONDS
    for peer in peers:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        reason = _probe(peer, min(PROBE_SECONDS, left))
        if reason is not None:
            lost.append(dataclasses.replace(peer, reason=reason))
    return lost


def _text(error):
    return getattr(error, "message", None) or str(error)


def _tasks_in(text):
    return {(job, int(task)) for job, task in _TASK_NAME.findall(text)}


def _select(peers, names, reason):
    return [
        dataclasses.replace(peer, reason=reason)
        for peer in peers
        if (peer.task_type, peer.task_id) in names
    ]


def _heartbeat_failures(peers, error, cluster_spec):
    """The peers that TensorFlow's heartbeat errors say were lost.

    The coordination service lists the tasks whose heartbeats stopped; a
    task whose own heartbeat to the service times out has lost the leader.
    """
    text = _text(error)
    _, found, listed = text.partition("stopped sending heartbeats)")
    if found:
        listed = listed.split("The tasks have crashed")[0]
        return _select(peers, _tasks_in(listed), "stopped sending heartbeats")
    if "CoordinationService/Heartbeat" in text:
        return _select(
            peers,
            _tasks_in(coordination_leader(cluster_spec)),
            "no answer to this worker's heartbeats",
        )
    return []


def lost_peer_error(strategy, error, checkpoint=None, step=None):
    """The `PeerLostError` that `error` means under `strategy`, or None.

    Args:
        strategy: The `tf.distribute` strategy the run trains with.
        error: What the step raised (one of `PEER_FAILURES`).
        checkpoint: The latest checkpoint path (named in the message).
        step: The step this worker had reached (named in the message).

    Returns:
        A `PeerLostError` naming the lost tasks (those TensorFlow's heartbeat
        error lists, else those that do not answer a status request, else
        those `error`'s text names), or None when `strategy` has one worker
        or no lost task is found.

    Example:
        >>> try:
        ...     train_step()
        ... except PEER_FAILURES as error:
        ...     lost = lost_peer_error(strategy, error, latest_checkpoint)
        ...     if lost is None:
        ...         raise
        ...     raise lost from error
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(
        strategy, tf.distribute.MultiWorkerMirroredStrategy
    ) or not (resolver and resolver.cluster_spec().as_dict()):
        return None
    peers = list(_other_tasks(resolver))
    lost = (
        _heartbeat_failures(peers, error, resolver.cluster_spec())
        or _probed(peers)
        or _select(
            peers, _tasks_in(_text(error)), "named in TensorFlow's error"
        )
    )
    if not lost:
        return None
    where = "" if step is None else f" after step {step}"
    resume = (
        f"resumes from {checkpoint}"
        if checkpoint
        else "starts from the beginning (no checkpoint yet)"
    )
    message = (
        f"lost {', '.join(peer.describe() for peer in lost)} of the "
        f"multi-worker job; {resolver.task_type} {resolver.task_id or 0} "
        f"stops{where}. Restart every worker with the same flags and "
        f"model_dir: the job {resume}."
    )
    return PeerLostError(message, lost, checkpoint)
