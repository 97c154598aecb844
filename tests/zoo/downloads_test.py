"""`zoo.downloads.fetch` against a local HTTP server on 127.0.0.1."""

import hashlib
import http.server
import os
import socket
import threading
import time

import pytest

from nonlocal_tf.zoo import downloads

BODY = bytes(range(256)) * 400  # 100 KiB
SHA = hashlib.sha256(BODY).hexdigest()
NAME = "weights.pkl"
SUBDIR = "models/nonlocal_tf"


class _Handler(http.server.BaseHTTPRequestHandler):
    """Serves `server.mode`: "ok", "truncated", "wrong" or an HTTP status."""

    def do_GET(self):
        server = self.server
        server.requests += 1
        if isinstance(server.mode, int):
            self.send_error(server.mode)
            return
        body = b"not the weights" if server.mode == "wrong" else BODY
        truncated = server.mode == "truncated"
        self.send_response(200)
        self.send_header(
            "Content-Length", str(len(body) * (2 if truncated else 1))
        )
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()
        if truncated:
            # Mid-transfer: what is in the cache dir while the client writes?
            deadline = time.monotonic() + 5
            while not os.listdir(server.cache) and time.monotonic() < deadline:
                time.sleep(0.01)
            server.seen_mid_transfer = sorted(os.listdir(server.cache))
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture(autouse=True)
def _short_timeouts(monkeypatch):
    monkeypatch.setattr(downloads, "SOCKET_TIMEOUT_S", 5.0)


@pytest.fixture
def cache(tmp_path):
    return tmp_path / "keras"


@pytest.fixture
def server(cache):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    httpd.mode = "ok"
    httpd.requests = 0
    httpd.cache = cache / SUBDIR
    httpd.seen_mid_transfer = None
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}/{NAME}"
    thread = threading.Thread(
        target=httpd.serve_forever, args=(0.05,), daemon=True
    )
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def _fetch(url, cache, **kwargs):
    return downloads.fetch(url, NAME, cache_dir=str(cache), **kwargs)


def _cached(cache):
    directory = cache / SUBDIR
    return sorted(os.listdir(directory)) if directory.is_dir() else []


def test_downloads_once_then_serves_the_cache_offline(server, cache):
    path = _fetch(server.url, cache, file_hash=SHA)
    assert isinstance(path, str)
    assert path == str(cache / SUBDIR / NAME)
    with open(path, "rb") as f:
        assert f.read() == BODY
    assert server.requests == 1
    assert _cached(cache) == [NAME]  # no temporary file left behind

    server.shutdown()
    server.server_close()
    assert _fetch(server.url, cache, file_hash=SHA) == path
    assert _fetch(server.url, cache) == path
    assert server.requests == 1


def test_sha_mismatch_is_refused_and_nothing_cached(server, cache):
    wrong = "0" * 64
    with pytest.raises(downloads.DownloadError) as info:
        _fetch(server.url, cache, file_hash=wrong.upper())
    message = str(info.value)
    assert isinstance(info.value, ValueError)
    assert "\n" not in message
    assert server.url in message
    assert str(cache / SUBDIR / NAME) in message
    assert wrong in message and SHA in message
    assert _cached(cache) == []

    # Nothing was cached: the next call downloads again.
    _fetch(server.url, cache)
    assert server.requests == 2


def test_stale_cached_file_is_downloaded_again(server, cache):
    (cache / SUBDIR).mkdir(parents=True)
    (cache / SUBDIR / NAME).write_bytes(BODY[:100])
    path = _fetch(server.url, cache, file_hash=SHA)
    with open(path, "rb") as f:
        assert f.read() == BODY
    assert server.requests == 1

    # A stale file whose fresh download also mismatches is refused the same
    # way, and removed.
    (cache / SUBDIR / NAME).write_bytes(BODY[:100])
    server.mode = "wrong"
    with pytest.raises(downloads.DownloadError, match=SHA):
        _fetch(server.url, cache, file_hash=SHA)
    assert _cached(cache) == []


def test_cut_off_download_leaves_no_partial_file(server, cache):
    server.mode = "truncated"
    with pytest.raises(downloads.DownloadError) as info:
        _fetch(server.url, cache)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"cannot download {server.url} (")
    assert f"after {len(BODY)} of {2 * len(BODY)} bytes" in message
    # Mid-transfer the bytes went to a temporary file, never the cache path
    # (an in-place writer fails here even if it cleans up afterwards).
    seen = server.seen_mid_transfer
    assert seen and NAME not in seen, seen
    assert all(n.startswith(f".{NAME}.") and n.endswith(".part") for n in seen)
    assert _cached(cache) == []

    server.mode = "ok"
    path = _fetch(server.url, cache, file_hash=SHA)
    with open(path, "rb") as f:
        assert f.read() == BODY
    assert _cached(cache) == [NAME]


def test_connection_refused_names_url_and_local_file_hint(cache):
    # Bound but not listening: connecting is refused at once.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}/{NAME}"
        started = time.monotonic()
        with pytest.raises(downloads.DownloadError) as info:
            _fetch(url, cache)
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"cannot download {url} (")
    assert "refused" in message.lower()
    assert f'weights="/path/{NAME}" (or --weights=/path/{NAME})' in message
    assert _cached(cache) == []


@pytest.mark.parametrize("status", [404, 500])
def test_http_error_names_url_and_status(server, cache, status):
    server.mode = status
    with pytest.raises(downloads.DownloadError) as info:
        _fetch(server.url, cache)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"cannot download {server.url} (HTTP {status} ")
    assert _cached(cache) == []


def test_default_cache_dir_follows_keras_home(server, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    path = downloads.fetch(server.url, NAME)
    assert path == str(tmp_path / "home" / SUBDIR / NAME)
