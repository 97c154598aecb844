"""The `small_disk` fixture: a tmpfs of a given size, mounted under
`tmp_path`, that a test fills to make the next write hit ENOSPC."""

import os
import pathlib
import subprocess

import pytest

PAGE = os.sysconf("SC_PAGE_SIZE")


class SmallDisk:
    """A mounted tmpfs: its path, and a filler file that leaves `n` bytes.

    Example:
        >>> disk = small_disk(4 << 20)
        >>> disk.fill(leave=64 << 10)  # the next 64 KiB write fails
        >>> disk.unfill()  # space again, as after `rm filler`
    """

    def __init__(self, path):
        self.path = pathlib.Path(path)
        self.filler = self.path / "filler"

    def free_bytes(self):
        stat = os.statvfs(self.path)
        return stat.f_bavail * stat.f_frsize

    def fill(self, leave):
        """Grows the filler file until `leave` bytes (whole pages) are free."""
        leave = -(-leave // PAGE) * PAGE
        size = self.filler.stat().st_size if self.filler.exists() else 0
        extra = self.free_bytes() - leave
        if extra < 0:
            raise AssertionError(
                f"{self.path}: only {self.free_bytes()} bytes free, "
                f"cannot leave {leave}"
            )
        with open(self.filler, "ab") as f:
            f.truncate(size + extra)
            os.posix_fallocate(f.fileno(), size, extra)
        assert self.free_bytes() == leave, (self.free_bytes(), leave)

    def unfill(self):
        """Deletes the filler file (the user freeing space)."""
        self.filler.unlink(missing_ok=True)


def _mount(path, size):
    if os.geteuid() != 0:
        pytest.skip(f"mounting a tmpfs needs root; this is uid {os.geteuid()}")
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.skip(f"cannot mount a tmpfs on {path}: {error}")
    if done.returncode:
        pytest.skip(
            f"cannot mount a tmpfs on {path}: "
            f"{(done.stderr or done.stdout).strip()}"
        )


def _unmount(path):
    done = subprocess.run(
        ["umount", str(path)], capture_output=True, text=True, timeout=30
    )
    if done.returncode:  # busy (a file left open): detach it lazily
        subprocess.run(["umount", "-l", str(path)], timeout=30, check=False)


@pytest.fixture
def small_disk(tmp_path):
    """`small_disk(size_bytes)` mounts a tmpfs under `tmp_path`; a `SmallDisk`.

    Skips the test (with the reason) where a tmpfs cannot be mounted. Every
    mount is unmounted at teardown, whatever the test did.
    """
    mounted = []

    def mount(size_bytes):
        path = tmp_path / f"disk{len(mounted)}"
        path.mkdir()
        _mount(path, size_bytes)
        mounted.append(path)
        return SmallDisk(path)

    try:
        yield mount
    finally:
        for path in reversed(mounted):
            _unmount(path)
