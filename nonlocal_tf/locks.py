"""One writer at a time: an advisory lock on the folder a run writes.

A training run (`<model_dir>`), an export (the folder a version is published
in, `<base>/<name>` for a SavedModel) and a data preparation
(`<output_dir>`) each hold `<folder>/.nonlocal_tf.lock` while they write. A
second writer of the same folder is refused at once, with one line naming
the holder:

    /runs/c2d is in use by another writer: train.py (training), pid 4242 on
    host gpu-7, since 2026-12-07T19:13:15+00:00 (wait for it to end or stop
    it; lock file /runs/c2d/.nonlocal_tf.lock)

The lock is the kernel's (`fcntl.flock` on the open lock file), so it ends
with its holder, however that ends: a writer killed with `kill -9` leaves
the file behind, but not the lock, and the next writer takes it over
(logging the host, pid and purpose of the one that was killed). Nothing
guesses from pids whether a holder is alive. The file holds the holder's
host, pid, program, purpose and start time (JSON) for the refusal; it is
removed when the lock is released normally. `flock` works on local file
systems and on NFS (Linux emulates it with NFS byte-range locks).

Decisions:
- Remote paths (`gs://`, `s3://`, ...): no advisory locks exist there; the
  writer goes on without one and logs a warning.
- Re-entrant within a process: a process that holds a folder's lock may take
  it again (the program holds the model_dir while the trainer takes it too,
  a test re-creates a trainer); only another process is refused. A process
  forked from the holder does not inherit this right.
- A folder that cannot be locked (read-only, a file system without `flock`)
  is written without a lock, with a warning; the write itself then fails or
  succeeds as it would have.
- A folder the lock created is removed again on release when it is left
  empty (a refused or failed export leaves nothing on disk).

Example:
    >>> from nonlocal_tf import locks
    >>> with locks.hold("/runs/c2d", "training"):
    ...     train()  # another process's hold("/runs/c2d", ...) is refused
"""

import contextlib
import dataclasses
import datetime
import errno
import fcntl
import json
import os
import socket
import sys
import threading
import time

from absl import logging

LOCK_FILE = ".nonlocal_tf.lock"
# A holder writes its details right after it takes the lock: a refused
# writer reads the file a few times before it reports them as unknown.
_READ_ATTEMPTS = 20
_READ_PAUSE_SECONDS = 0.05
# Retries when the lock file is replaced (released and removed) under us.
_OPEN_ATTEMPTS = 50


class LockedError(RuntimeError):
    """Another process writes the folder; the message names it (one line)."""


@dataclasses.dataclass(frozen=True)
class Holder:
    """Who holds a lock: what its lock file records.

    Attributes:
        host: the holder's host name.
        pid: its process id (on that host).
        program: the program's file name (`sys.argv[0]`).
        purpose: what it does there ("training", "exporting c2d", ...).
        since: when it took the lock (ISO 8601, UTC).
    """

    host: str
    pid: int
    program: str
    purpose: str
    since: str

    @classmethod
    def of_this_process(cls, purpose):
        program = os.path.basename(sys.argv[0]) if sys.argv else ""
        return cls(
            host=socket.gethostname(),
            pid=os.getpid(),
            program=program or "python",
            purpose=purpose,
            since=datetime.datetime.now(datetime.timezone.utc).isoformat(
                timespec="seconds"
            ),
        )

    @classmethod
    def from_json(cls, text):
        """The holder recorded in `text`, or None if it is not one."""
        try:
            values = json.loads(text)
            return cls(
                host=str(values["host"]),
                pid=int(values["pid"]),
                program=str(values["program"]),
                purpose=str(values["purpose"]),
                since=str(values["since"]),
            )
        except (ValueError, TypeError, KeyError):
            return None

    def to_json(self):
        return json.dumps(dataclasses.asdict(self), sort_keys=True) + "\n"

    def describe(self):
        """E.g. `train.py (training), pid 4242 on host gpu-7, since ...`."""
        return (
            f"{self.program} ({self.purpose}), pid {self.pid} on host "
            f"{self.host}, since {self.since}"
        )


@dataclasses.dataclass
class _Held:
    fd: int
    pid: int
    count: int
    created: list


_registry_lock = threading.Lock()
_held = {}  # realpath of a lock file -> _Held


def lock_path(directory):
    """The lock file of `directory`.

    Example:
        >>> lock_path("/runs/c2d")
        '/runs/c2d/.nonlocal_tf.lock'
    """
    return os.path.join(os.fspath(directory), LOCK_FILE)


def is_remote(path):
    """Whether `path` is on a remote file system (`gs://`, `s3://`, ...)."""
    return "://" in os.fspath(path)


def read_holder(directory):
    """The holder recorded in `directory`'s lock file, or None.

    The file may be a stale one, left by a killed process: only the lock
    tells whether it is held (`hold`).
    """
    try:
        with open(lock_path(directory), encoding="utf-8") as f:
            return Holder.from_json(f.read())
    except (OSError, UnicodeDecodeError):
        return None


def pid_alive(pid):
    """Whether process `pid` of this host exists (signal 0 reaches it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _refusal(directory, path):
    holder = None
    for _ in range(_READ_ATTEMPTS):
        holder = read_holder(directory)
        if holder is not None:
            break
        time.sleep(_READ_PAUSE_SECONDS)
    if holder is None:
        who = "a process that has not recorded itself yet"
    else:
        who = holder.describe()
        if holder.host == socket.gethostname() and not pid_alive(holder.pid):
            who += " (not running: a process it started holds the lock)"
    return LockedError(
        f"{directory} is in use by another writer: {who} (wait for it to "
        f"end or stop it; lock file {path})"
    )


def _make_dirs(directory):
    """Creates `directory` and its missing parents; returns those created."""
    missing = []
    path = os.path.abspath(directory)
    while not os.path.isdir(path):
        missing.append(path)
        parent = os.path.dirname(path)
        if parent == path:
            break
        path = parent
    created = []
    for path in reversed(missing):
        try:
            os.mkdir(path)
            created.append(path)
        except FileExistsError:
            pass
    return created


def _same_file(fd, path):
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _open_locked(directory, path):
    """An fd of `path` holding its `flock`; raises `LockedError` if taken."""
    for _ in range(_OPEN_ATTEMPTS):
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except FileNotFoundError:  # the folder was removed meanwhile
            _make_dirs(directory)
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise _refusal(directory, path) from None
        except BaseException:
            os.close(fd)
            raise
        # The holder before us may have released and removed the file after
        # we opened it: then we hold a lock on a file nobody else will see.
        if _same_file(fd, path):
            return fd
        os.close(fd)
    raise LockedError(f"could not take the lock {path}: it keeps changing")


def _record(fd, path, purpose):
    """Writes this process into the lock file; returns the stale holder."""
    with os.fdopen(os.dup(fd), "r+", encoding="utf-8") as f:
        previous = Holder.from_json(f.read())
        f.seek(0)
        f.truncate()
        f.write(Holder.of_this_process(purpose).to_json())
        f.flush()
    return previous


def _acquire(directory, purpose):
    """Takes the lock (or another level of it); returns its key or None."""
    directory = os.fspath(directory)
    path = lock_path(directory)
    with _registry_lock:
        key = os.path.realpath(path)
        held = _held.get(key)
        if held is not None and held.pid == os.getpid():
            held.count += 1
            return key
        _held.pop(key, None)  # inherited through fork: not ours
        try:
            created = _make_dirs(directory)
            fd = _open_locked(directory, path)
        except LockedError:
            raise
        except OSError as error:
            if error.errno not in (
                errno.EACCES,
                errno.EPERM,
                errno.EROFS,
                errno.ENOLCK,
                errno.EOPNOTSUPP,
                errno.ENOSYS,
            ):
                raise
            logging.warning(
                "Cannot lock %s (%s); writing it without a lock.",
                directory,
                error.strerror or error,
            )
            return None
        key = os.path.realpath(path)  # the folder exists now
        try:
            previous = _record(fd, path, purpose)
        except OSError as error:  # a full disk: the lock still holds
            previous = None
            logging.warning(
                "Holding the lock of %s, but could not record this process "
                "in %s (%s).",
                directory,
                path,
                error.strerror or error,
            )
        _held[key] = _Held(fd=fd, pid=os.getpid(), count=1, created=created)
    if previous is not None:
        logging.warning(
            "Took over the lock of %s left by %s: that process is gone "
            "(killed?) without releasing it.",
            directory,
            previous.describe(),
        )
    return key


def _release(key):
    with _registry_lock:
        held = _held.get(key)
        if held is None or held.pid != os.getpid():
            return
        held.count -= 1
        if held.count:
            return
        del _held[key]
        # Removed while still held, so that nobody takes a lock on a file
        # that is about to disappear (`_open_locked` checks for that).
        with contextlib.suppress(FileNotFoundError):
            os.unlink(key)
        os.close(held.fd)
        for directory in reversed(held.created):
            try:
                os.rmdir(directory)
            except OSError:  # not empty: something was written
                break


@contextlib.contextmanager
def hold(directory, purpose):
    """Holds `directory`'s lock for the block: one writer at a time.

    Creates `directory` if needed (and removes it again if it is left
    empty). Re-entrant within a process; a remote or unlockable folder is
    written without a lock (logged).

    Args:
        directory: the folder the block writes (a run's model_dir, an export
            folder, a preparation's output_dir).
        purpose: what the block does there, for another writer's refusal
            ("training", "exporting c2d", ...).

    Yields:
        Whether the lock is held (False for a remote or unlockable folder).

    Raises:
        LockedError: another process holds it; the message names it (host,
            pid, program, purpose, since when) in one line.

    Example:
        >>> with hold("records", "preparing split 'train'"):
        ...     write_shards()
    """
    if is_remote(directory):
        logging.warning(
            "%s is on a remote file system, which has no advisory locks: "
            "make sure no other process writes it at the same time.",
            directory,
        )
        yield False
        return
    key = _acquire(directory, purpose)
    try:
        yield key is not None
    finally:
        if key is not None:
            _release(key)
