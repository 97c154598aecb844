"""A REST "server" that answers predict requests badly, one way per path.

`POST /v1/models/<mode>:predict` answers according to `<mode>`:

- `garbage`: 200 with an HTML page; `empty`: 200 with no body;
- `latin1`: 200 with bytes that are not UTF-8;
- `list`: 200 with a JSON list instead of an object;
- `no_top_k`: 200 with `outputs` lacking `top_k_labels` / `top_k_scores`;
- `close`: closes the connection without answering;
- `slow`: answers after `SLOW_SECONDS` (longer than the tests' timeout);
- `html_error`: 503 with an HTML page.

Run it in-process: `with BadRestServer() as server: server.port`.
"""

import http.server
import json
import socket
import time

from tests.export import fake_serving

SLOW_SECONDS = 5.0

_BODIES = {
    "garbage": (200, b"<html><body>It works!</body></html>"),
    "empty": (200, b""),
    "latin1": (200, b'{"outputs": "caf\xe9"}'),
    "list": (200, b"[1, 2, 3]"),
    "no_top_k": (
        200,
        json.dumps({"outputs": {"probabilities": [[0.25, 0.75]]}}).encode(),
    ),
    "html_error": (503, b"<html>Service Unavailable</html>"),
}


class _Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        del args

    def do_POST(self):  # noqa: N802 - http.server's name
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        mode = self.path.split("/v1/models/", 1)[-1].split(":", 1)[0]
        if mode == "close":
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        if mode == "slow":
            time.sleep(SLOW_SECONDS)
            mode = "no_top_k"
        status, body = _BODIES.get(mode, (404, b'{"error": "no such mode"}'))
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class BadRestServer(fake_serving.LocalHttpServer):
    """The misbehaving server on a free local port (a context manager)."""

    def __init__(self):
        super().__init__(_Handler)
