"""One writer at a time (`nonlocal_tf.locks`), with real processes.

A second process is refused with one line naming the holder; a holder
killed with `kill -9` leaves its lock file, which the next writer takes over;
a process may take its own lock again; processes that contend for a lock
never hold it together.
"""

import fcntl
import os
import socket
import subprocess
import sys
import time

import pytest

from nonlocal_tf import locks
from tests import cli_helpers
from tests import lock_holder


def test_a_second_process_is_refused_naming_the_holder(tmp_path):
    run = tmp_path / "run"
    with lock_holder.held_elsewhere(run, "training") as holder:
        with pytest.raises(locks.LockedError) as refused:
            with locks.hold(run, "training"):
                pytest.fail("two holders")
        message = str(refused.value)
        assert "\n" not in message
        assert message.startswith(f"{run} is in use by another writer: ")
        for fragment in (
            f"pid {holder.pid}",
            f"host {socket.gethostname()}",
            f"{lock_holder.PROGRAM} (training)",
            "since 20",
            str(run / locks.LOCK_FILE),
        ):
            assert fragment in message, (fragment, message)
        recorded = locks.read_holder(run)
        assert (recorded.pid, recorded.purpose) == (holder.pid, "training")


def test_a_killed_holders_lock_is_taken_over(tmp_path, caplog):
    run = tmp_path / "run"
    with lock_holder.held_elsewhere(run, "training") as holder:
        lock_holder.kill(holder)
    # kill -9 ran no clean-up: the file and its holder's record are left.
    assert locks.read_holder(run).pid == holder.pid
    with caplog.at_level("WARNING"):
        with locks.hold(run, "after the kill") as held:
            assert held
            assert locks.read_holder(run).pid == os.getpid()
            taken, line = lock_holder.try_elsewhere(run)
            assert not taken and f"pid {os.getpid()}" in line
    assert "Took over the lock" in caplog.text
    assert f"pid {holder.pid}" in caplog.text
    assert not (run / locks.LOCK_FILE).exists()
    assert lock_holder.try_elsewhere(run) == (True, "taken")


def test_the_same_process_may_take_its_lock_again(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    with locks.hold(run, "program"):
        with locks.hold(run, "trainer") as held:
            assert held
        # The inner release keeps the outer hold.
        taken, line = lock_holder.try_elsewhere(run)
        assert not taken and "(program)" in line
    assert lock_holder.try_elsewhere(run) == (True, "taken")
    assert list(run.iterdir()) == []  # the lock file went with the lock


def test_a_folder_the_lock_made_goes_when_left_empty(tmp_path):
    with locks.hold(tmp_path / "a" / "b", "nothing"):
        assert (tmp_path / "a" / "b" / locks.LOCK_FILE).exists()
    assert list(tmp_path.iterdir()) == []
    with locks.hold(tmp_path / "a" / "b", "writing"):
        (tmp_path / "a" / "b" / "out.json").write_text("{}")
    assert [p.name for p in (tmp_path / "a" / "b").iterdir()] == ["out.json"]


def test_remote_folders_are_written_without_a_lock(caplog):
    with caplog.at_level("WARNING"):
        with locks.hold("gs://bucket/run", "training") as held:
            assert held is False
    assert "gs://bucket/run is on a remote file system" in caplog.text


def test_a_holder_that_has_not_recorded_itself_is_still_refused(tmp_path):
    path = tmp_path / locks.LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # the kernel's lock, no record yet
        taken, line = lock_holder.try_elsewhere(tmp_path)
    finally:
        os.close(fd)
    assert not taken
    assert "a process that has not recorded itself yet" in line


# Each contender takes and releases the lock as often as it can until a
# deadline, logging entry and exit (O_APPEND: one write per line).
_CONTEND = """
import os, sys, time
from nonlocal_tf import locks
directory, log, start, end = sys.argv[1], sys.argv[2], *map(float, sys.argv[3:])
out = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
while time.time() < start:
    pass
taken = refused = 0
while time.time() < end:
    try:
        with locks.hold(directory, "contending"):
            os.write(out, f"in {os.getpid()}\\n".encode())
            time.sleep(0.001)
            os.write(out, f"out {os.getpid()}\\n".encode())
            taken += 1
    except locks.LockedError:
        refused += 1
print(taken, refused)
"""


def test_contending_processes_never_hold_it_together(tmp_path):
    log = tmp_path / "log"
    start = time.time() + 2.0  # after all have started
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                _CONTEND,
                str(tmp_path / "run"),
                str(log),
                str(start),
                str(start + 1.5),
            ],
            cwd=cli_helpers.REPO_ROOT,
            env=cli_helpers.program_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [process.communicate(timeout=120) for process in processes]
    for process, (_, stderr) in zip(processes, results, strict=True):
        assert process.returncode == 0, stderr[-2000:]
        assert "Took over" not in stderr  # nobody was killed
    counts = [tuple(map(int, out.split())) for out, _ in results]
    lines = log.read_text().splitlines()
    assert len(lines) == 2 * sum(taken for taken, _ in counts)
    assert sum(refused for _, refused in counts) > 0  # they did contend
    for entry, exit_ in zip(lines[::2], lines[1::2], strict=True):
        assert entry.startswith("in ") and exit_ == "out " + entry[3:]
