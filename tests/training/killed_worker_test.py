"""A worker of a two-worker `MultiWorkerMirroredStrategy` job lost mid-epoch.

`SIGKILL` the chief (worker 0, which writes the shared checkpoints and leads
TensorFlow's coordination service) or the other worker after step 7 (the
last checkpoint is step 6, or 8 if the kill lands after the next save).
The survivor must stop by itself, within a bound, with one `error:` line
naming the lost task and its address; restarting the whole job (both
workers, same cluster, flags and model_dir) resumes from the last checkpoint
and ends with the weights of a job that was never interrupted.

Tolerance: none. Each worker's variables are compared bit for bit with the
same worker's in an uninterrupted two-worker job: with `--deterministic`
each worker's ops are reproducible, the all-reduce of two workers adds two
numbers (exact in either order), and the resume restores the data
iterators, the dropout seed stream and the optimizer state exactly. One
exception, by design: BatchNormalization's moving mean and variance (Keras
creates them with aggregation "none") are updated by each worker from its
own half of the batch, so they differ between workers; the checkpoints and
final weights hold the chief's, and a resumed non-chief starts again from
the chief's. Its moving statistics are therefore not compared (they are
never saved); the chief's, which are, are.

A frozen worker (`SIGSTOP`: a host that vanished without closing its
connections) exercises the timeout itself: nothing refuses a connection,
only the coordination service's heartbeats show it gone.

Every wait is bounded and every worker runs in its own process group,
killed in a `finally`, so a regression fails instead of hanging.
"""

import os
import re
import signal
import subprocess
import time

import numpy as np
import pytest

from tests.training import subprocesses
from tests.training import tiny

pytestmark = pytest.mark.slow

FLAGS = dict(
    strategy="multi_worker",
    batch_size_per_replica=2,
    epochs=2,
    steps_per_epoch=6,
    checkpoint_every_steps=4,
    batch_norm=True,
    dropout=0.5,
    shuffle=True,
    augment=True,
    deterministic=True,
    one_line_errors=True,
)
# TensorFlow's own default heartbeat timeout; a killed worker is found at
# once anyway (its port refuses connections).
PEER_TIMEOUT = 10
# The frozen worker is found by the timeout alone: keep it short.
FROZEN_PEER_TIMEOUT = 5
# A survivor names the lost worker within the peer timeout, plus up to
# peers.PROBE_SECONDS x 2 asking the other tasks, plus its exit (3-5 s
# measured on a loaded 2-core machine); the rest is slack for that machine.
SURVIVOR_SLACK = 30
STEPS = 12
KILL_AFTER = "step 7"
STARTUP_TIMEOUT = 120


class Job:
    """Two localhost workers of one job, each in its own process group."""

    def __init__(self, tmp_path, ports, run_dir, name, **flags):
        cluster = {"worker": [f"localhost:{port}" for port in ports]}
        self.ports = ports
        self.logs = [tmp_path / f"{name}_{index}.log" for index in range(2)]
        self.results = [tmp_path / f"{name}_{index}.json" for index in range(2)]
        self.processes = []
        for index in range(2):
            args = subprocesses.command(
                run_dir, self.results[index], **FLAGS, **flags
            )
            env = subprocesses.environment(
                {"cluster": cluster, "task": {"type": "worker", "index": index}}
            )
            with open(self.logs[index], "w") as log:
                self.processes.append(
                    subprocess.Popen(
                        args,
                        cwd=subprocesses.REPO_ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        start_new_session=True,
                    )
                )

    def output(self, index):
        return self.logs[index].read_text(errors="replace")

    def wait_for_line(self, index, line, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if line in self.output(index).splitlines():
                return
            for process in self.processes:
                if process.poll() is not None:
                    pytest.fail(
                        f"a worker ended (status {process.returncode}) "
                        f"before worker {index} printed {line!r}:\n"
                        + self.output(0)[-3000:]
                        + self.output(1)[-3000:]
                    )
            time.sleep(0.02)
        pytest.fail(f"worker {index} did not print {line!r} in {timeout} s")

    def signal(self, index, signum):
        os.killpg(self.processes[index].pid, signum)

    def wait(self, index, timeout):
        """Waits for worker `index` to end; fails after `timeout` s."""
        try:
            self.processes[index].wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"worker {index} still runs {timeout} s later (hangs?):\n"
                + self.output(index)[-3000:]
            )

    def finish(self, timeout=subprocesses.TIMEOUT):
        """Waits for both workers to succeed; their results."""
        for index in range(2):
            self.wait(index, timeout)
            assert self.processes[index].returncode == 0, self.output(index)[
                -5000:
            ]
        return [subprocesses.load_result(result) for result in self.results]

    def kill(self):
        for process in self.processes:
            if process.poll() is None:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            process.wait(timeout=30)


def _ports():
    return [subprocesses.free_port() for _ in range(2)]


def _latest_state(run_dir):
    """The step of the state checkpoint the manager's index file names."""
    index = run_dir / "checkpoints" / "checkpoint"
    if not index.exists():
        return None
    found = re.search(
        r'^model_checkpoint_path: "state-(\d+)"', index.read_text(), re.M
    )
    return int(found.group(1)) if found else None


def _worker_local_variables():
    """Positions in `model.variables` of BN's moving statistics."""
    model = tiny.tiny_model(batch_norm=True, dropout=FLAGS["dropout"])
    local = {
        position
        for position, variable in enumerate(model.variables)
        if "moving_" in variable.path
    }
    assert len(local) == 2, [variable.path for variable in model.variables]
    return local


def _error_lines(output):
    return [line for line in output.splitlines() if line.startswith("error:")]


class Uninterrupted:
    """The same job, never interrupted, started at once in the background.

    It runs while the first test starts its own job; `workers()` waits for
    it and returns both workers' results.
    """

    def __init__(self, tmp_path):
        self.job = Job(
            tmp_path,
            _ports(),
            tmp_path / "run",
            "reference",
            peer_timeout_seconds=PEER_TIMEOUT,
        )
        self._workers = None

    def workers(self):
        if self._workers is None:
            self._workers = self.job.finish()
            for worker in self._workers:
                assert worker["step"] == STEPS
                assert worker["resumed_from"] is None
        return self._workers


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    reference = Uninterrupted(tmp_path_factory.mktemp("uninterrupted"))
    try:
        yield reference
    finally:
        reference.job.kill()


@pytest.mark.parametrize("victim", [0, 1], ids=["chief", "non_chief"])
def test_killed_worker_stops_its_peer_and_the_restarted_job_matches(
    tmp_path, uninterrupted, victim
):
    survivor = 1 - victim
    ports, run_dir = _ports(), tmp_path / "run"
    # Sleeping after each step keeps the job mid-epoch when the kill lands.
    job = Job(
        tmp_path,
        ports,
        run_dir,
        "killed",
        peer_timeout_seconds=PEER_TIMEOUT,
        sleep_per_step=0.5,
    )
    try:
        job.wait_for_line(victim, KILL_AFTER, STARTUP_TIMEOUT)
        job.signal(victim, signal.SIGKILL)
        killed = time.monotonic()
        job.wait(survivor, PEER_TIMEOUT + SURVIVOR_SLACK)
        seconds = time.monotonic() - killed
    finally:
        job.kill()
    output = job.output(survivor)
    assert job.processes[victim].returncode == -signal.SIGKILL
    assert job.processes[survivor].returncode == 1, output[-5000:]
    resumed_from = _latest_state(run_dir)
    assert resumed_from in (6, 8), f"latest checkpoint: step {resumed_from}"
    checkpoint = run_dir / "checkpoints" / f"state-{resumed_from}"
    errors = _error_lines(output)
    assert len(errors) == 1, output[-5000:]
    assert errors[0].startswith(
        f"error: lost worker {victim} (/job:worker/replica:0/task:{victim} "
        f"at localhost:{ports[victim]}: "
    ), errors[0]
    assert f"the job resumes from {checkpoint}." in errors[0], errors[0]
    print(
        f"survivor (worker {survivor}) stopped {seconds:.1f} s after the kill"
    )

    restarted = Job(
        tmp_path,
        ports,
        run_dir,
        "restarted",
        peer_timeout_seconds=PEER_TIMEOUT,
    )
    try:
        workers = restarted.finish()
    finally:
        restarted.kill()
    local = _worker_local_variables()
    for index, (worker, reference) in enumerate(
        zip(workers, uninterrupted.workers(), strict=True)
    ):
        assert worker["resumed_from"] == resumed_from
        assert worker["step"] == worker["optimizer_iterations"] == STEPS
        assert (
            worker["step_losses"]
            == reference["step_losses"][-len(worker["step_losses"]) :]
        )
        assert len(worker["step_losses"]) == STEPS - resumed_from
        assert len(worker["weights"]) == len(reference["weights"])
        for position, (got, expected) in enumerate(
            zip(worker["weights"], reference["weights"], strict=True)
        ):
            if index > 0 and position in local:
                continue
            np.testing.assert_array_equal(
                got, expected, err_msg=f"worker {index}, variable {position}"
            )
    assert (run_dir / "final.weights.h5").exists()


def test_frozen_chief_is_named_after_the_peer_timeout(tmp_path):
    ports = _ports()
    job = Job(
        tmp_path,
        ports,
        tmp_path / "run",
        "frozen",
        peer_timeout_seconds=FROZEN_PEER_TIMEOUT,
        sleep_per_step=0.5,
    )
    try:
        job.wait_for_line(0, KILL_AFTER, STARTUP_TIMEOUT)
        job.signal(0, signal.SIGSTOP)
        frozen = time.monotonic()
        job.wait(1, FROZEN_PEER_TIMEOUT + SURVIVOR_SLACK)
        seconds = time.monotonic() - frozen
    finally:
        job.kill()
    output = job.output(1)
    assert job.processes[1].returncode == 1, output[-5000:]
    errors = _error_lines(output)
    assert len(errors) == 1, output[-5000:]
    assert errors[0].startswith(
        "error: lost worker 0 (/job:worker/replica:0/task:0 at "
        f"localhost:{ports[0]}: "
    ), errors[0]
    # Nothing refused a connection: only the heartbeat timeout found it.
    assert seconds >= FROZEN_PEER_TIMEOUT * 0.8, seconds
    print(f"worker 1 stopped {seconds:.1f} s after worker 0 froze")
