"""One bounded reader for every HTTP answer why502 reads (Prometheus's API for ``fleet``,
Alertmanager's for ``watch``): bytes, JSON depth and a *total* deadline.

Why a total deadline: ``urlopen(url, timeout=T)`` sets a socket timeout, which bounds each
``recv()`` and not the exchange -- a server (or a proxy in front of it) that sends one byte every
``T - 1`` seconds holds the caller forever (Python docs, ``socket.settimeout``: the timeout
applies to each blocking operation).  Here every ``recv``/``send`` on the connection first sets
the socket's timeout to what is *left* of one deadline taken when the exchange starts, so
connect, TLS handshake (its own deadline is the socket timeout at its start: CPython
``Modules/_ssl.c``, ``_PyDeadline_Init``), status line, headers and body together end by it.
Name resolution has no timeout in ``getaddrinfo(3)``; it runs in a helper thread that is
abandoned at the deadline.

Why bytes before JSON: ``json.loads`` turns bytes into Python objects of ~10-20x their size
(1M Prometheus series, 72 MB: 800 MB and 6 s), so the body is refused past ``max_bytes`` while it
arrives (and at once when ``Content-Length`` says so).  Why depth before JSON: CPython's decoder
recurses per nesting level and raises ``RecursionError`` past ~1000 (an internal error, exit 4,
where a hostile answer deserves one line and exit 3); :func:`check_depth` measures the nesting
in linear time without recursing, and ``NaN``/``Infinity`` (not JSON, RFC 8259 section 6) are
refused.

Proxies (``http_proxy``/``https_proxy``) and redirects work as with ``urlopen``: the deadline is
put in through urllib's own handler hooks.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import ssl
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import partial
from typing import Any

from why502.errors import InputError

__all__ = ["Answer", "Bounds", "check_depth", "fetch", "get_json", "parse_json"]


@dataclass(frozen=True)
class Bounds:
    """What one exchange may take.  The defaults fit a Prometheus answer for ~100k series
    (~80 bytes each) and keep ``json.loads`` of the worst case under ~150 MB."""

    max_bytes: int = 8 << 20
    max_depth: int = 32
    seconds: float = 30.0


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes


class _Deadline:
    """The monotonic time an exchange must end by; ``left()`` is what remains, or ``TimeoutError``."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def left(self) -> float:
        left = self.at - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"no complete answer within {self.seconds:g} s")
        return left


class _DeadlineSocket(socket.socket):
    """A socket whose every blocking call gets the time left of the exchange as its timeout."""

    deadline: _Deadline

    def recv(self, n: int, flags: int = 0) -> bytes:
        self.settimeout(self.deadline.left())
        return super().recv(n, flags)

    def recv_into(self, buffer: Any, nbytes: int = 0, flags: int = 0) -> int:
        self.settimeout(self.deadline.left())
        return super().recv_into(buffer, nbytes, flags)

    def send(self, data: Any, flags: int = 0) -> int:
        self.settimeout(self.deadline.left())
        return super().send(data, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        self.settimeout(self.deadline.left())
        super().sendall(data, flags)


class _DeadlineSSLSocket(ssl.SSLSocket):
    """The same for TLS (``SSLContext.sslsocket_class``); the deadline is set once the handshake,
    bounded by the timeout the plain socket had, is done."""

    deadline: _Deadline | None = None

    def _left(self) -> None:
        if self.deadline is not None:
            self.settimeout(self.deadline.left())

    def recv(self, buflen: int = 1024, flags: int = 0) -> bytes:
        self._left()
        return super().recv(buflen, flags)

    def recv_into(self, buffer: Any, nbytes: int | None = None, flags: int = 0) -> int:
        self._left()
        return super().recv_into(buffer, nbytes, flags)  # type: ignore[arg-type]

    def send(self, data: Any, flags: int = 0) -> int:
        self._left()
        return super().send(data, flags)

    def sendall(self, data: Any, flags: int = 0) -> None:
        self._left()
        super().sendall(data, flags)


def _resolve(host: str, port: int, deadline: _Deadline) -> list[Any]:
    """``getaddrinfo`` bounded by the deadline (it has no timeout of its own)."""
    got: list[Any] = []
    failed: list[BaseException] = []

    def run() -> None:
        try:
            got.extend(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except OSError as err:
            failed.append(err)

    t = threading.Thread(target=run, name="why502-resolve", daemon=True)
    t.start()
    t.join(deadline.left())
    if t.is_alive():
        raise TimeoutError(f"resolving {host} took more than {deadline.seconds:g} s")
    if failed:
        raise failed[0]
    return got


def _connect(deadline: _Deadline, address: tuple[str, int], timeout: Any = None,
             source_address: Any = None) -> socket.socket:
    """``socket.create_connection`` with a :class:`_DeadlineSocket` (``HTTPConnection`` calls it
    as ``self._create_connection``)."""
    last: OSError | None = None
    for family, kind, proto, _, addr in _resolve(address[0], address[1], deadline):
        sock = _DeadlineSocket(family, kind, proto)
        sock.deadline = deadline
        try:
            sock.settimeout(deadline.left())
            if source_address:
                sock.bind(source_address)
            sock.connect(addr)
            return sock
        except OSError as err:
            sock.close()
            last = err
    raise last or OSError(f"{address[0]}: no address")


class _HTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, *, deadline: _Deadline, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self._create_connection = partial(_connect, deadline)  # type: ignore[assignment]


class _HTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, *, deadline: _Deadline, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self._deadline = deadline
        self._create_connection = partial(_connect, deadline)  # type: ignore[assignment]

    def connect(self) -> None:
        super().connect()
        if isinstance(self.sock, _DeadlineSSLSocket):
            self.sock.deadline = self._deadline


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: _Deadline) -> None:
        super().__init__()
        self.deadline = deadline

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(partial(_HTTPConnection, deadline=self.deadline), req)  # type: ignore[arg-type]


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: _Deadline) -> None:
        context = ssl.create_default_context()
        context.sslsocket_class = _DeadlineSSLSocket
        super().__init__(context=context)
        self.context = context
        self.deadline = deadline

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(partial(_HTTPSConnection, deadline=self.deadline), req,  # type: ignore[arg-type]
                            context=self.context)


def _read_body(resp: Any, limit: int, where: str) -> bytes:
    length = resp.headers.get("Content-Length")
    if length and length.strip().isdigit() and int(length) > limit:
        raise InputError(f"{where}: the answer is {int(length):,} bytes, more than the "
                         f"{limit:,} allowed")
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = resp.read(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise InputError(f"{where}: the answer is more than the {limit:,} bytes allowed")
        chunks.append(chunk)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A 3xx is the answer (urllib then raises it as an ``HTTPError`` with its status)."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def fetch(url: str, bounds: Bounds, *, data: bytes | None = None,
          headers: dict[str, str] | None = None, what: str = "", follow_redirects: bool = True,
          read_body: bool = True, proxies: bool = True) -> Answer:
    """``GET url`` (``POST`` with ``data``) within ``bounds``: the status and the body (none
    without ``read_body``: the status is all that is wanted).  Any status is an answer (a 4xx
    body says why; a 3xx too without ``follow_redirects``); unreachable, too slow or too big is
    an ``InputError`` of one line naming ``what`` (default: the URL).  ``proxies=False`` ignores
    ``http_proxy``/``https_proxy`` (a URL of this host must be asked directly)."""
    where = what or url
    deadline = _Deadline(bounds.seconds)
    handlers: list[urllib.request.BaseHandler] = [_HTTPHandler(deadline), _HTTPSHandler(deadline)]
    if not follow_redirects:
        handlers.append(_NoRedirect())
    if not proxies:
        handlers.append(urllib.request.ProxyHandler({}))
    opener = urllib.request.build_opener(*handlers)
    req = urllib.request.Request(url, data=data, headers=headers or {},
                                 method="POST" if data is not None else "GET")
    try:
        try:
            resp = opener.open(req, timeout=bounds.seconds)
        except urllib.error.HTTPError as err:
            resp = err  # an error status with its body
        with resp:
            body = _read_body(resp, bounds.max_bytes, where) if read_body else b""
            return Answer(resp.status or 0, body)
    except InputError:
        raise
    except TimeoutError:
        raise InputError(f"{where}: no complete answer within {bounds.seconds:g} s") from None
    except urllib.error.URLError as err:
        if isinstance(err.reason, TimeoutError):
            raise InputError(f"{where}: no complete answer within {bounds.seconds:g} s") from None
        raise InputError(f"{where}: {err.reason}") from None
    except (OSError, http.client.HTTPException, ValueError) as err:
        raise InputError(f"{where}: {type(err).__name__ if not str(err) else err}") from None


# A JSON string once its escapes are gone (terminated, or running to the end of the text: then
# the text is invalid and json.loads says so).  No alternation, no backtracking: linear.
_STRING = re.compile(rb'"[^"]*(?:"|\Z)')
_NOT_BRACKET = bytes(sorted(set(range(256)) - set(b"[]{}")))


def check_depth(data: bytes, max_depth: int) -> str | None:
    """Why ``data`` must not reach ``json.loads``, or ``None``: nesting deeper than ``max_depth``
    or brackets that do not pair.  Strings are cut out first (a ``[`` in a label is text: the
    escapes ``\\\\`` then ``\\"`` go first, so every ``"`` left opens or closes one), then the
    innermost ``[]``/``{}`` pairs are removed once per level: at most ``max_depth`` passes of
    C-speed ``bytes.replace`` over the brackets alone, and no recursion (8 MiB: 0.1-1.3 s)."""
    unescaped = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    skeleton = _STRING.sub(b"", unescaped).translate(None, _NOT_BRACKET)
    for _ in range(max_depth):
        if not skeleton:
            return None
        shorter = skeleton.replace(b"[]", b"").replace(b"{}", b"")
        if len(shorter) == len(skeleton):
            return "brackets that do not pair"
        skeleton = shorter
    return None if not skeleton else f"JSON nested deeper than {max_depth} levels"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259 section 6)")


def parse_json(data: bytes, bounds: Bounds, where: str) -> Any:
    """The JSON value of ``data`` (already within ``bounds.max_bytes``); anything else, one line."""
    why = check_depth(data, bounds.max_depth)
    if why:
        raise InputError(f"{where}: the answer is not usable JSON: {why}")
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise InputError(f"{where}: the answer is not JSON: {str(err)[:120]}") from None
    return value


def get_json(url: str, bounds: Bounds, what: str = "") -> tuple[int, Any]:
    """``GET url`` within ``bounds``, its status and JSON body (``None`` for an empty body)."""
    answer = fetch(url, bounds, what=what, headers={"Accept": "application/json"})
    if not answer.body.strip():
        return answer.status, None
    return answer.status, parse_json(answer.body, bounds, what or url)

