"""`fetch`: download a published checkpoint into the Keras cache, safely.

Built on `urllib.request`, not `keras.utils.get_file`: `get_file` writes in
place at the cache path (a killed download leaves a partial file that later
calls trust), keeps a downloaded file whose hash mismatches, sets no socket
timeout and reports failures as a bare `Exception`, so wrapping it would
take more of our own code than streaming to a temporary file and renaming.
The cache layout (`$KERAS_HOME` or `~/.keras`, then `cache_subdir`) is
`get_file`'s, so existing caches keep working.
"""

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
import uuid

from absl import logging
from tqdm import tqdm

from nonlocal_tf import fileio

#: Seconds a connect or a read may block before the download is refused.
SOCKET_TIMEOUT_S = 60.0
_CHUNK = 1 << 20


class DownloadError(ValueError):
    """A download that failed or was refused; the message is one line."""


def fetch(
    url,
    file_name,
    *,
    file_hash=None,
    cache_dir=None,
    cache_subdir="models/nonlocal_tf",
):
    """Local path of `url`'s file, downloading it into the cache if needed.

    The file is streamed (with a progress bar) into a temporary file next to
    its cache path and renamed there only once complete and, when
    `file_hash` is given, verified; so the cache never holds a partial or
    mismatching file. A cached file is returned without network access,
    after checking `file_hash` (a mismatching one is downloaded again).

    Args:
        url: where the file is published.
        file_name: its name in the cache (no directory part).
        file_hash: expected sha256 (hex) of the file, or None.
        cache_dir: cache root; default `$KERAS_HOME` or `~/.keras`, as
            `keras.utils.get_file`.
        cache_subdir: folder under `cache_dir` (or an absolute path).

    Returns:
        The cached file's path (str).

    Raises:
        DownloadError: no network, an HTTP error, a cut-off transfer or a
            sha256 mismatch; the message is one line naming the URL.

    Example:
        >>> path = fetch("https://dl.fbaipublicfiles.com/video-nonlocal/"
        ...              "i3d_nonlocal_8x8_IN_pretrain_400k.pkl",
        ...              "i3d_nonlocal_8x8_IN_pretrain_400k.pkl")
    """
    if not file_name or os.sep in file_name or file_name in (".", ".."):
        raise ValueError(f"file_name must be a bare file name: {file_name!r}")
    expected = file_hash.strip().lower() if file_hash else None
    directory = os.path.join(_cache_root(cache_dir), cache_subdir)
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, file_name)
    if os.path.isfile(path):
        if expected is None:
            return path
        actual = fileio.sha256(path)
        if actual == expected:
            return path
        logging.warning(
            "%s: sha256 %s differs from the expected %s; downloading it "
            "again from %s",
            path,
            actual,
            expected,
            url,
        )
        os.remove(path)
    partial = os.path.join(directory, f".{file_name}.{uuid.uuid4().hex}.part")
    try:
        actual = _download(url, file_name, partial)
        if expected is not None and actual != expected:
            raise DownloadError(
                f"refused {url}: its sha256 {actual} differs from the "
                f"expected {expected}; nothing cached at {path} (a damaged "
                f"or different file)"
            )
        os.replace(partial, path)
    finally:
        if os.path.exists(partial):
            os.remove(partial)
    return path


def _cannot(url, file_name, reason):
    reason = " ".join(str(reason).split())
    return DownloadError(
        f"cannot download {url} ({reason}); download it yourself and pass "
        f'the file: weights="/path/{file_name}" (or --weights=/path/'
        f"{file_name})"
    )


def _download(url, file_name, partial):
    """Streams `url` into the new file `partial`; returns its sha256."""
    try:
        response = urllib.request.urlopen(url, timeout=SOCKET_TIMEOUT_S)
    except urllib.error.HTTPError as e:
        raise _cannot(url, file_name, f"HTTP {e.code} {e.reason}") from e
    except urllib.error.URLError as e:
        raise _cannot(url, file_name, e.reason) from e
    except (OSError, http.client.HTTPException) as e:
        raise _cannot(url, file_name, str(e) or type(e).__name__) from e
    length = response.headers.get("Content-Length", "")
    total = int(length) if length.isdigit() else None
    hasher = hashlib.sha256()
    received = 0
    with (
        response,
        open(partial, "xb") as out,
        tqdm(
            desc=file_name,
            total=total,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
        ) as bar,
    ):
        while True:
            try:  # Only network errors are reported as such, not writes.
                chunk = response.read(_CHUNK)
            except (OSError, http.client.HTTPException) as e:
                reason = str(e) or type(e).__name__
                raise _cannot(url, file_name, reason) from e
            if not chunk:
                break
            out.write(chunk)
            hasher.update(chunk)
            received += len(chunk)
            bar.update(len(chunk))
    if total is not None and received != total:
        raise _cannot(
            url,
            file_name,
            f"connection closed after {received} of {total} bytes",
        )
    return hasher.hexdigest()


def _cache_root(cache_dir):
    """`cache_dir`, else Keras's home: `$KERAS_HOME` or `~/.keras`."""
    if cache_dir is None:
        cache_dir = os.environ.get("KERAS_HOME")
    if cache_dir is None:
        home = os.path.expanduser("~")
        if not os.access(home, os.W_OK):
            home = tempfile.gettempdir()
        cache_dir = os.path.join(home, ".keras")
    return os.path.expanduser(os.fspath(cache_dir))
