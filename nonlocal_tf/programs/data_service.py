r"""Starts a tf.data service dispatcher or decode worker (runs until killed).

Example, one dispatcher and two decode workers, then a trainer using them:

    python scripts/data_service.py --role=dispatcher --port=5050
    python scripts/data_service.py --role=worker --port=5051 \
        --dispatcher=localhost:5050
    python scripts/data_service.py --role=worker --port=5052 \
        --dispatcher=localhost:5050
    python scripts/train.py --data_service=grpc://localhost:5050 ...

On a cluster, give each worker the host name trainers reach it by
(--worker_host) and run the dispatcher with --work_dir on a shared file
system so that a restarted dispatcher continues its jobs. Workers need
TensorFlow and the record files (the same paths), not this package.
"""

from absl import app
from absl import flags

from nonlocal_tf import cli

# Modules that import TensorFlow are imported in the functions that use
# them, after `cli.run` has loaded it quietly (programs/__init__.py).

FLAGS = flags.FLAGS

flags.DEFINE_enum(
    "role", None, ["dispatcher", "worker"], "Which server.", required=True
)
flags.DEFINE_integer("port", 5050, "Port to listen on (0: any free one).")
flags.DEFINE_string("dispatcher", None, "Worker: the dispatcher's host:port.")
flags.DEFINE_string(
    "worker_host", "localhost", "Worker: the host name trainers connect to."
)
flags.DEFINE_string(
    "work_dir", None, "Dispatcher: journal folder (fault-tolerant mode)."
)
flags.DEFINE_integer(
    "worker_timeout_ms",
    None,
    "Dispatcher: drop a worker silent for this long (default TensorFlow's).",
)


def main(argv):
    del argv
    from nonlocal_tf.training import data_service

    if FLAGS.role == "dispatcher":
        server = data_service.start_dispatcher(
            FLAGS.port,
            work_dir=FLAGS.work_dir,
            worker_timeout_ms=FLAGS.worker_timeout_ms,
        )
        print(f"dispatcher listening on {server.target}", flush=True)
    else:
        if not FLAGS.dispatcher:
            raise app.UsageError("--role=worker needs --dispatcher=host:port")
        server = data_service.start_worker(
            FLAGS.port, FLAGS.dispatcher, host=FLAGS.worker_host
        )
        print(
            f"worker on port {FLAGS.port} serving {FLAGS.dispatcher}",
            flush=True,
        )
    server.join()


def run():
    """The console command `nonlocal-data-service`."""
    cli.run(main, tensorflow=True)
