"""Choosing a `tf.distribute` strategy and describing this worker's place in it.

Create the strategy at program start, before any other TensorFlow op:
`MultiWorkerMirroredStrategy` fails with "Collective ops must be configured
at program startup" otherwise, and logical devices can only be configured
before TensorFlow initialises them.
"""

import dataclasses
import json
import os

import tensorflow as tf
from absl import logging

from nonlocal_tf.training import peers

STRATEGIES = ("default", "mirrored", "multi_worker")


@dataclasses.dataclass(frozen=True)
class WorkerInfo:
    """Where this process sits in the cluster.

    Attributes:
        num_workers: Number of worker processes (input pipelines).
        worker_index: This worker's index in [0, num_workers) (the chief, when
            there is a `chief` task, is 0).
        is_chief: Whether this worker writes checkpoints, summaries, weights.
        num_local_replicas: Replicas (devices) driven by this process.
        num_replicas: Replicas in sync over the whole cluster.
    """

    num_workers: int
    worker_index: int
    is_chief: bool
    num_local_replicas: int
    num_replicas: int


def create_strategy(
    name="default",
    *,
    devices=None,
    peer_timeout_seconds=peers.DEFAULT_PEER_TIMEOUT_SECONDS,
):
    """Creates the `tf.distribute.Strategy` called `name`.

    Args:
        name: `"default"` (one device, the default strategy), `"mirrored"`
            (`MirroredStrategy` over `devices` or all local GPUs) or
            `"multi_worker"` (`MultiWorkerMirroredStrategy`; reads the cluster
            from the `TF_CONFIG` environment variable).
        devices: Optional device names for `"mirrored"` (e.g.
            `["CPU:0", "CPU:1"]`) or a single device for `"default"`.
        peer_timeout_seconds: `"multi_worker"` only: a worker that sends no
            heartbeat for this long is lost, and the others stop with a
            `peers.PeerLostError` naming it (`nonlocal_tf.training.peers`).

    Returns:
        The strategy.

    Example:
        >>> strategy = create_strategy("mirrored")  # first TF call of main()
    """
    if name == "default":
        if devices:
            if len(devices) != 1:
                raise ValueError(
                    f"strategy 'default' runs on one device, got {devices}"
                )
            return tf.distribute.OneDeviceStrategy(devices[0])
        return tf.distribute.get_strategy()
    if name == "mirrored":
        strategy = tf.distribute.MirroredStrategy(devices)
        if strategy.num_replicas_in_sync == 1:
            logging.warning(
                "MirroredStrategy found one device only (%s).",
                strategy.extended.worker_devices,
            )
        return strategy
    if name == "multi_worker":
        tf_config = os.environ.get("TF_CONFIG")
        if not tf_config:
            raise ValueError(
                "strategy 'multi_worker' needs the TF_CONFIG environment "
                "variable (cluster and task); it is not set."
            )
        try:
            parsed = json.loads(tf_config)
            parsed["cluster"], parsed["task"]  # noqa: B018
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(
                "TF_CONFIG must be JSON with 'cluster' and 'task' keys; got "
                f"{tf_config!r} ({error})"
            ) from error
        resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
        peers.configure_peer_timeout(peer_timeout_seconds, resolver)
        return tf.distribute.MultiWorkerMirroredStrategy(
            cluster_resolver=resolver
        )
    raise ValueError(
        f"Unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}."
    )


def worker_info(strategy):
    """Returns this process's `WorkerInfo` under `strategy`.

    Example:
        >>> info = worker_info(tf.distribute.get_strategy())
        >>> info.num_workers, info.is_chief  # (1, True)
    """
    num_workers, index, is_chief = 1, 0, True
    resolver = getattr(strategy, "cluster_resolver", None)
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and (
        resolver is not None
    ):
        cluster = resolver.cluster_spec().as_dict()
        num_chiefs = len(cluster.get("chief", []))
        num_workers = max(num_chiefs + len(cluster.get("worker", [])), 1)
        task_type, task_id = resolver.task_type, resolver.task_id or 0
        if task_type == "chief":
            index, is_chief = 0, True
        elif task_type == "worker":
            index = num_chiefs + task_id
            is_chief = num_chiefs == 0 and task_id == 0
        elif task_type is not None:
            raise ValueError(
                f"Task type {task_type!r} cannot train; expected 'chief' or "
                "'worker'."
            )
    num_replicas = strategy.num_replicas_in_sync
    if num_replicas % num_workers:
        raise ValueError(
            f"{num_replicas} replicas do not split evenly over {num_workers} "
            "workers."
        )
    return WorkerInfo(
        num_workers=num_workers,
        worker_index=index,
        is_chief=is_chief,
        num_local_replicas=num_replicas // num_workers,
        num_replicas=num_replicas,
    )
