"""Training input on the tf.data service: decode workers that feed trainers.

A dispatcher (`start_dispatcher`) and decode workers (`start_worker`) run
on CPU hosts (`scripts/data_service.py`); a trainer built with
`service_dataset_fn(dataset_fn, "grpc://host:port")` sends its whole input
pipeline (read, parse, sample, decode, augment, batch) to the workers and
receives finished batches over gRPC. The workers need TensorFlow and the
record files (the same paths, e.g. on `gs://`), not this package: the
pipeline travels as a TensorFlow graph.

Sharding: `ShardingPolicy.DYNAMIC` ("distributed_epoch"). The dispatcher
hands the record files to the workers one at a time, as they ask, so each
file is read once per epoch by one worker, fast workers take more, and a
worker that dies costs only the files it had in hand (at-most-once), while
the trainer keeps reading from the others. (With `OFF` every worker would
run the whole, identically seeded pipeline: each clip would arrive once per
worker.)

What that means for determinism and resume:

- Each worker's clips are still drawn with the pipeline's stateless seeds,
  but which files a worker gets, and in which order the trainer receives the
  batches, depend on timing: a run is not reproducible batch for batch.
- A service iterator cannot be checkpointed (TensorFlow raises
  "SaveInternal is not yet supported"), so runs with the service save the
  model, optimizer and step but no data position (`WorkerInput` knows this
  and `RunCheckpoint` writes no data checkpoint). A resumed run starts a new
  job: the data starts again at the top of an epoch, with the same file
  order seed, so the first part of the interrupted epoch is seen again.
- Skipped (undecodable) records are logged on the workers' stderr, not
  counted by the trainer's `SkippedRecords`.
"""

import time
import urllib.parse

import tensorflow as tf
from absl import logging

from nonlocal_tf.data import integrity

PROCESSING_MODE = tf.data.experimental.service.ShardingPolicy.DYNAMIC
DEFAULT_TIMEOUT_SECONDS = 10.0


class DispatcherUnreachableError(ConnectionError):
    """The tf.data service dispatcher does not answer at its address."""


def parse_address(address):
    """`grpc://host:port` or `host:port` -> ("grpc", "host:port").

    Example:
        >>> parse_address("grpc://localhost:5050")
        ('grpc', 'localhost:5050')
    """
    text = str(address).strip()
    if "://" not in text:
        text = "grpc://" + text
    parsed = urllib.parse.urlsplit(text)
    if parsed.scheme != "grpc" or not parsed.hostname or not parsed.port:
        raise ValueError(
            f"tf.data service address must be grpc://host:port, got {address!r}"
        )
    return parsed.scheme, parsed.netloc


def check_dispatcher(address, timeout=DEFAULT_TIMEOUT_SECONDS):
    """Waits up to `timeout` s for a gRPC connection to the dispatcher.

    Raises:
        DispatcherUnreachableError: nothing answers gRPC at `address`.
    """
    import grpc  # gRPC only for this check, not to build the dataset

    protocol, target = parse_address(address)
    channel = grpc.insecure_channel(target)
    try:
        grpc.channel_ready_future(channel).result(timeout=timeout)
    except grpc.FutureTimeoutError:
        raise DispatcherUnreachableError(
            f"tf.data service dispatcher {protocol}://{target} cannot be "
            f"reached (no gRPC answer in {timeout:g} s; start it with "
            f"scripts/data_service.py --role=dispatcher --port="
            f"{target.rsplit(':', 1)[1]}, or check the host and port)"
        ) from None
    finally:
        channel.close()


def start_dispatcher(port, *, work_dir=None, worker_timeout_ms=None):
    """Starts a dispatcher on `port`; returns the `DispatchServer`.

    Args:
        port: the port (0 picks a free one; see `server.target`).
        work_dir: optional folder (any `tf.io.gfile` path) where the
            dispatcher journals its state, so a restarted dispatcher
            continues its jobs (fault-tolerant mode).
        worker_timeout_ms: drop a worker that sent no heartbeat for this
            long; default TensorFlow's.

    Example:
        >>> server = start_dispatcher(5050)  # doctest: +SKIP
        >>> server.join()  # doctest: +SKIP
    """
    options = {"port": int(port)}
    if work_dir:
        options.update(work_dir=work_dir, fault_tolerant_mode=True)
    if worker_timeout_ms:
        options["worker_timeout_ms"] = int(worker_timeout_ms)
    config = tf.data.experimental.service.DispatcherConfig(**options)
    return tf.data.experimental.service.DispatchServer(config)


def start_worker(port, dispatcher, *, host="localhost"):
    """Starts a decode worker; returns the `WorkerServer`.

    Args:
        port: the worker's port (0 picks a free one).
        dispatcher: the dispatcher's address (`host:port` or
            `grpc://host:port`).
        host: the name under which trainers reach this worker.

    Example:
        >>> server = start_worker(5051, "dispatcher-host:5050",
        ...                       host="worker-3")  # doctest: +SKIP
    """
    _, target = parse_address(dispatcher)
    config = tf.data.experimental.service.WorkerConfig(
        dispatcher_address=target,
        worker_address=f"{host}:%port%",
        port=int(port),
    )
    return tf.data.experimental.service.WorkerServer(config)


def distribute(dataset, address, *, job_name=None, compression=None):
    """`dataset`, processed by the service's workers (`PROCESSING_MODE`).

    Args:
        dataset: the input pipeline, as built for one trainer.
        address: the dispatcher (`grpc://host:port`).
        job_name: optional shared job name (trainers naming the same job
            split one stream); default one job per iterator.
        compression: "AUTO" compresses batches on the wire (for slow
            networks; costs worker CPU); default None.
    """
    protocol, target = parse_address(address)
    return dataset.apply(
        tf.data.experimental.service.distribute(
            processing_mode=PROCESSING_MODE,
            service=f"{protocol}://{target}",
            job_name=job_name,
            compression=compression,
        )
    )


class ServiceDatasetFn:
    """A `dataset_fn(input_context)` whose pipeline runs on the service.

    Attributes:
        address: the dispatcher.
        data_service: True (read by `training.inputs.WorkerInput`: the
            iterator of such a dataset is not checkpointable).
    """

    data_service = True

    def __init__(self, dataset_fn, address, **distribute_options):
        self._dataset_fn = dataset_fn
        self.address = address
        self._options = distribute_options

    def __call__(self, input_context):
        # No py_function may reach the workers: skips are logged there.
        with integrity.logged_in_graph():
            dataset = self._dataset_fn(input_context)
        return distribute(dataset, self.address, **self._options)


def service_dataset_fn(
    dataset_fn, address, *, timeout=DEFAULT_TIMEOUT_SECONDS, **options
):
    """Checks the dispatcher, then wraps `dataset_fn` for the service.

    Args:
        dataset_fn: `fn(input_context) -> tf.data.Dataset` (as for
            `training.train`).
        address: the dispatcher, `grpc://host:port`.
        timeout: seconds to wait for the dispatcher.
        **options: `distribute`'s `job_name` and `compression`.

    Returns:
        A `ServiceDatasetFn`.

    Raises:
        DispatcherUnreachableError: the dispatcher does not answer.

    Example:
        >>> dataset_fn = service_dataset_fn(dataset_fn,
        ...                                 "grpc://dispatcher:5050")
        >>> train(config, model_fn, dataset_fn)  # doctest: +SKIP
    """
    started = time.monotonic()
    check_dispatcher(address, timeout)
    logging.info(
        "Training input on the tf.data service at %s (dispatcher answered "
        "in %.2f s; %s sharding)",
        address,
        time.monotonic() - started,
        PROCESSING_MODE.name,
    )
    return ServiceDatasetFn(dataset_fn, address, **options)
