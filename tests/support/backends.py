"""A backend on loopback for the tests that probe one live: a threaded HTTP server whose answer
to each path is ``status(path)`` (200 by default), with an empty body."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Callable, Iterator


@contextlib.contextmanager
def http_backend(status: Callable[[str], int] = lambda _path: 200) -> Iterator[int]:
    """Serve on 127.0.0.1 while the block runs; yields the port."""

    class App(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(status(self.path))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), App)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
