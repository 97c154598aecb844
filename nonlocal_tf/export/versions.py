"""Versioned export directories, published atomically (TF Serving layout).

A version `<base_dir>/<name>/<version>/` appears in one `rename` of a
complete temporary directory `<base_dir>/<name>/.tmp-export-*` (a name TF
Serving never takes for a version), so a killed export leaves no partial
version behind; temp dirs of exports that can no longer finish are removed
by the next export. An export that runs out of space removes its temp dir
and names the version it was writing (`next_version_dir`) and those it left
as they were (`kept_hint`).
"""

import os
import secrets
import shutil
import socket
import time

from absl import logging

from nonlocal_tf import locks

TMP_PREFIX = ".tmp-export-"
# Not cleaned up automatically: holds the replaced version while
# `overwrite=True` swaps in the new one (two renames).
RETIRED_PREFIX = ".tmp-retired-"
_STALE_SECONDS = 24 * 3600


def version_exists(version, path):
    """The error for exporting onto an existing version directory."""
    return FileExistsError(
        f"Version {version} already exists, {path} (replace it with "
        "overwrite=True, --overwrite in export.py, or give another version)"
    )


def integer_versions(model_dir):
    versions = []
    for entry in os.listdir(model_dir):
        if entry.isdigit() and os.path.isdir(os.path.join(model_dir, entry)):
            versions.append(int(entry))
    return versions


def _host_tag():
    return socket.gethostname().replace("-", "_")


def _is_stale(path, entry):
    """Whether a temp dir belongs to an export that can no longer finish."""
    # entry: .tmp-export-<host>-<pid>-<token>
    parts = entry[len(TMP_PREFIX) :].rsplit("-", 2)
    if len(parts) == 3 and parts[0] == _host_tag() and parts[1].isdigit():
        return not locks.pid_alive(int(parts[1]))
    try:
        age = time.time() - os.path.getmtime(path)
    except FileNotFoundError:
        return False
    return age > _STALE_SECONDS


def remove_stale_temp_dirs(model_dir):
    """Deletes temp dirs left by killed exports into `model_dir`.

    A temp dir is stale when the process that made it (same host) is gone,
    or when it is older than a day.

    Args:
        model_dir: `<base_dir>/<name>`.

    Returns:
        The removed paths.
    """
    removed = []
    if not os.path.isdir(model_dir):
        return removed
    for entry in os.listdir(model_dir):
        path = os.path.join(model_dir, entry)
        if entry.startswith(TMP_PREFIX) and _is_stale(path, entry):
            shutil.rmtree(path, ignore_errors=True)
            logging.info("Removed a stale export temp dir: %s", path)
            removed.append(path)
    return removed


def next_version_dir(model_dir, version):
    """`<model_dir>/<version>`; with None the next free integer version."""
    if version is None:
        existing = (
            integer_versions(model_dir) if os.path.isdir(model_dir) else []
        )
        version = max(existing, default=0) + 1
    return os.path.join(model_dir, str(version))


def kept_hint(model_dir):
    """What an export that ran out of space leaves: the versions there."""
    kept = (
        sorted(integer_versions(model_dir)) if os.path.isdir(model_dir) else []
    )
    if not kept:
        return "no version was published; free space and rerun"
    if len(kept) == 1:
        return f"version {kept[0]} is unchanged; free space and rerun"
    listed = ", ".join(map(str, kept))
    return f"versions {listed} are unchanged; free space and rerun"


def new_temp_dir(model_dir, prefix=TMP_PREFIX):
    token = secrets.token_hex(4)
    return os.path.join(
        model_dir, f"{prefix}{_host_tag()}-{os.getpid()}-{token}"
    )


def publish(temp_dir, model_dir, version, auto_version, overwrite):
    """Renames the finished temp dir to its version dir; returns that path."""
    for _ in range(100):
        if auto_version:
            version = max(integer_versions(model_dir), default=0) + 1
        final_dir = os.path.join(model_dir, str(version))
        if os.path.exists(final_dir) and overwrite:
            retired = new_temp_dir(model_dir, RETIRED_PREFIX)
            os.rename(final_dir, retired)
            os.rename(temp_dir, final_dir)
            shutil.rmtree(retired, ignore_errors=True)
            return final_dir
        if os.path.exists(final_dir):
            if auto_version:
                continue
            raise version_exists(version, final_dir)
        try:
            os.rename(temp_dir, final_dir)
        except OSError:
            # Another export took this version between the check and the
            # rename (or made an empty dir there).
            if auto_version:
                continue
            raise
        return final_dir
    raise RuntimeError(f"Could not find a free version number in {model_dir}")
