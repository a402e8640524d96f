"""The lab's HTTP client: a few bounded HTTP/1.1 requests to the lab nginx on 127.0.0.1.

A failing request is what the lab is for, so nothing here raises on a network error: connection
errors and client timeouts come back as ``Response(status=None, error=...)``.  Counts and
concurrency are capped (:data:`MAX_REQUESTS`, :data:`MAX_CONCURRENCY`): a scenario provokes a
failure with a handful of requests, never a load test.
"""

from __future__ import annotations

import contextlib
import http.client
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

MAX_CONCURRENCY = 16
MAX_REQUESTS = 200


@dataclass
class Response:
    """What the lab client saw.  ``status`` is None when the connection failed or was cut."""

    status: int | None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    error: str | None = None
    elapsed: float = 0.0


class SourcePorts:
    """Explicit client source ports 20001-29999, handed out in turn (thread-safe).

    In a namespace whose ephemeral range may be tiny on purpose (port exhaustion), the client must
    not compete with nginx for it: it binds ports below the range instead.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last = 20000

    def next(self) -> tuple[str, int]:
        with self._lock:
            self._last = self._last + 1 if self._last < 29999 else 20001
            return ("127.0.0.1", self._last)


def request(port: int, path: str = "/", *, method: str = "GET", body: bytes | None = None,
            headers: dict[str, str] | None = None, timeout: float = 10.0,
            host: str = "lab.example", source: tuple[str, int] | None = None,
            enter: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext) -> Response:
    """One HTTP/1.1 request to ``127.0.0.1:port`` (``Connection: close``).

    The socket is connected inside ``enter()`` (the stack's network namespace, if any): a socket
    belongs to the namespace it was made in.  A response whose body is cut keeps its status with
    ``error="truncated body: ..."``.
    """
    start = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout, source_address=source)
    hdrs = {"Host": host, "Connection": "close", "User-Agent": "why502-lab"}
    hdrs.update(headers or {})
    try:
        with enter():
            conn.connect()
        conn.request(method, path, body=body, headers=hdrs)
        resp = conn.getresponse()
        try:
            data = resp.read()
        except (OSError, http.client.HTTPException) as err:
            # The status line arrived, the body was cut (an error "while reading upstream").
            return Response(status=resp.status, headers=dict(resp.getheaders()),
                            error=f"truncated body: {type(err).__name__}",
                            elapsed=time.monotonic() - start)
        return Response(status=resp.status, body=data, headers=dict(resp.getheaders()),
                        elapsed=time.monotonic() - start)
    except (OSError, http.client.HTTPException) as err:
        return Response(status=None, error=f"{type(err).__name__}: {err}",
                        elapsed=time.monotonic() - start)
    finally:
        conn.close()


def fan_out(one: Callable[[], Response], count: int, concurrency: int) -> list[Response]:
    """``count`` calls of ``one`` with at most ``concurrency`` in flight (both bounded), in order."""
    count = max(1, min(count, MAX_REQUESTS))
    concurrency = max(1, min(concurrency, MAX_CONCURRENCY, count))
    if concurrency == 1:
        return [one() for _ in range(count)]
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        futures = [pool.submit(one) for _ in range(count)]
        return [f.result() for f in futures]
