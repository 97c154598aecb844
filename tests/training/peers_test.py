"""Naming the lost worker from TensorFlow's errors (no cluster needed).

The messages are TensorFlow 2.21's, as a survivor of a two-worker job
received them (`killed_worker_test.py` runs the real thing).
"""

import pytest
import tensorflow as tf

from nonlocal_tf.training import peers

# The chief's error when worker 1 froze (SIGSTOP) under a 5 s timeout.
STOPPED_HEARTBEATS = (
    "Collective ops is aborted by: Error reported from /job:worker/task:{}: "
    "The following tasks are unhealthy (stopped sending heartbeats):\n"
    "/job:worker/replica:0/task:{}\n"
    "The tasks have crashed. Check the task logs for an earlier error, or "
    "scheduler events (e.g. preemption, eviction) to debug further.\n"
    "The error could be from a previous operation. Restart your program to "
    "reset."
)
# Worker 1's error when the chief (the coordination leader) froze.
LEADER_SILENT = (
    "Collective ops is aborted by: Deadline Exceeded\n"
    "RPC: /tensorflow.CoordinationService/Heartbeat\n"
    "The error could be from a previous operation. Restart your program to "
    "reset."
)


def _cluster(workers, chief=False):
    spec = {"worker": [f"host{i}:{2000 + i}" for i in range(workers)]}
    if chief:
        spec["chief"] = ["head:1999"]
    return tf.train.ClusterSpec(spec)


def _peers(cluster, own):
    return [
        peers.Peer(job, index, cluster.task_address(job, index))
        for job in cluster.jobs
        for index in cluster.task_indices(job)
        if (job, index) != own
    ]


def _error(kind, text):
    return kind(None, None, text)


def test_the_tasks_listed_as_unhealthy_are_lost_not_the_reporter():
    cluster = _cluster(3)
    others = _peers(cluster, ("worker", 0))
    error = _error(tf.errors.UnavailableError, STOPPED_HEARTBEATS.format(2, 1))
    lost = peers._heartbeat_failures(others, error, cluster)
    assert [(p.task_type, p.task_id) for p in lost] == [("worker", 1)]
    assert lost[0].address == "host1:2001"
    assert lost[0].reason == "stopped sending heartbeats"


@pytest.mark.parametrize(
    "chief, own, leader",
    [
        (False, ("worker", 1), ("worker", 0)),
        (True, ("worker", 0), ("chief", 0)),
    ],
)
def test_unanswered_heartbeats_name_the_coordination_leader(chief, own, leader):
    cluster = _cluster(2, chief=chief)
    error = _error(tf.errors.DeadlineExceededError, LEADER_SILENT)
    lost = peers._heartbeat_failures(_peers(cluster, own), error, cluster)
    assert [(p.task_type, p.task_id) for p in lost] == [leader]


def test_other_errors_are_left_to_the_probe():
    cluster = _cluster(2)
    error = _error(
        tf.errors.UnavailableError,
        "failed to connect to all addresses; last error: UNKNOWN: "
        "ipv4:127.0.0.1:41239: Failed to connect to remote host: Connection "
        "refused\nAdditional GRPC error information from remote target "
        "/job:worker/replica:0/task:1 while calling "
        "/tensorflow.WorkerService/RecvBuf:",
    )
    others = _peers(cluster, ("worker", 0))
    assert peers._heartbeat_failures(others, error, cluster) == []
    # The last resort: the tasks the message names.
    named = peers._select(others, peers._tasks_in(str(error)), "named")
    assert [(p.task_type, p.task_id) for p in named] == [("worker", 1)]


def test_a_peer_is_described_by_task_name_and_address():
    peer = peers.Peer("worker", 1, "localhost:41239", "connection refused")
    assert peer.describe() == (
        "worker 1 (/job:worker/replica:0/task:1 at localhost:41239: "
        "connection refused)"
    )


def test_one_worker_has_no_peers_to_lose():
    error = _error(tf.errors.UnavailableError, LEADER_SILENT)
    assert peers.lost_peer_error(tf.distribute.get_strategy(), error) is None


def test_the_timeout_must_be_positive():
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(
        _cluster(2), task_type="worker", task_id=0
    )
    with pytest.raises(ValueError, match="peer_timeout_seconds must be > 0"):
        peers.configure_peer_timeout(0, resolver)
