"""The access-log hot path of ``why502 watch``: a block of lines to counts, without polars.

Why not one Python regex match and one prometheus_client call per line: that was ~20k lines/s
(``bench/watch_bench.py``), 12 us of regex and 15 us of ``labels().inc()`` per line.  Then the
block went through ``why502 stats``' parser (polars' CSV reader, ~2M lines per CPU-second), but
polars held the agent at ~100 MB of RSS (issue 28 item 5: a light agent is <= 64 MB).  So a
block of whole lines is counted by ``LineCounter``: the native scanner
(``proxies/nginx/_scan_access.h``) runs the format's own regex as fixed steps over each line and
counts in C (~1.7M lines per CPU-second), the regex itself over the block when the extension is
absent or a line is in doubt (~400k); Python runs once per distinct key, not per line.  The
counts are kept in plain dicts exposed by one custom collector (prometheus_client's documented
``Collector`` interface).

Counted per batch: requests by final status, requests by upstream (the last attempt of
``$upstream_addr``, what the client got) and status, and the histogram of the last attempt's
``$upstream_response_time`` per upstream (cumulative buckets, as Prometheus exposes them).
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from prometheus_client.metrics_core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from why502.parsers.log_format import FIXED_SHAPES, CompiledFormat, compile_format, split_pieces
from why502.sources.newlines import newlines

__all__ = ["BUCKETS", "BlockCounter", "LineCounter", "Traffic", "make_parser"]

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
_WANTED = frozenset({"status", "upstream_addr", "upstream_response_time", "host", "server_name",
                     "http_host"})
_HOSTS = ("server_name", "host", "http_host")  # which names the virtual host, best first


class Traffic(Collector):
    """Counts of the access logs, updated by the watch loop, read by a scrape (one lock)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        # the server label: a server_name of the config, "other" for any other Host (the Host
        # header is the client's: an unbounded label otherwise); "" when the format has none
        self.servers: frozenset[str] = frozenset()
        self.requests: dict[tuple[str, str], int] = {}
        self.responses: dict[tuple[str, str], int] = {}
        self.buckets: dict[str, list[int]] = {}  # upstream -> cumulative counts per BUCKETS
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, data: bytes, parser: BlockCounter,
            upstream_of: Callable[[str], str]) -> tuple[dict[int, int], int]:
        """Count a block of whole lines; returns the requests per status code and the unparsed
        lines.  ``parser`` counts the block in C (``LineCounter``): Python runs once per
        distinct (status, host) and (status, upstream), not per line."""
        req, resp, hist, unparsed = parser.count(data, BUCKETS)
        statuses: dict[int, int] = {}
        requests: dict[tuple[str, str], int] = {}
        for key, n in req.items():
            status = key[:3].decode("ascii")
            statuses[int(status)] = statuses.get(int(status), 0) + n
            server = "" if parser.index[0] < 0 else _server(key[3:], self.servers)
            requests[(server, status)] = requests.get((server, status), 0) + n
        responses: dict[tuple[str, str], int] = {}
        for key, n in resp.items():
            up = _last_attempt(key[3:])
            if up not in ("", "-"):
                k = (upstream_of(up), key[:3].decode("ascii"))
                responses[k] = responses.get(k, 0) + n
        with self.lock:
            for k, n in requests.items():
                self.requests[k] = self.requests.get(k, 0) + n
            for k, n in responses.items():
                self.responses[k] = self.responses.get(k, 0) + n
            for raw_up, (cum, n, total) in hist.items():
                label = upstream_of(raw_up.decode("utf-8", "replace"))
                have = self.buckets.setdefault(label, [0] * len(BUCKETS))
                for i, c in enumerate(cum):
                    have[i] += c
                self.sums[label] = self.sums.get(label, 0.0) + total
                self.counts[label] = self.counts.get(label, 0) + n
        return statuses, unparsed

    def count(self, statuses: dict[int, int], server: str = "") -> None:
        """Requests by final status read by another reader (a load balancer's log)."""
        with self.lock:
            for code, n in statuses.items():
                key = (server, str(code))
                self.requests[key] = self.requests.get(key, 0) + n

    def collect(self) -> Iterator[Metric]:
        with self.lock:
            req = CounterMetricFamily(
                "why502_requests", "Requests in the access logs, by server_name and final status.",
                labels=["server", "status"])
            for (server, status), n in sorted(self.requests.items()):
                req.add_metric([server, status], n)
            resp = CounterMetricFamily(
                "why502_upstream_responses",
                "Requests passed to an upstream (last attempt's $upstream_addr), by final status.",
                labels=["upstream", "status"])
            for (up, status), n in sorted(self.responses.items()):
                resp.add_metric([up, status], n)
            hist = HistogramMetricFamily(
                "why502_upstream_response_time_seconds",
                "Upstream response time ($upstream_response_time of the last attempt).",
                labels=["upstream"])
            for up, cum in sorted(self.buckets.items()):
                buckets = [(_le(b), float(c)) for b, c in zip(BUCKETS, cum)]
                buckets.append(("+Inf", float(self.counts[up])))
                hist.add_metric([up], buckets, sum_value=self.sums[up])
        yield req
        yield resp
        yield hist


def _last_attempt(raw: bytes) -> str:
    """The last attempt of an ``$upstream_*`` list ("a, b : c" -> "c"), as text."""
    cut = max(raw.rfind(b", ") + 2, raw.rfind(b" : ") + 3, 0) if b" " in raw else 0
    return raw[cut:].decode("utf-8", "replace")


_PORT = re.compile(r":[0-9]+$")


def _server(raw: bytes, servers: frozenset[str]) -> str:
    """The server label of a Host (or ``$server_name``): a server_name of the config, else
    "other" (the Host header is the client's: an unbounded label otherwise)."""
    name = _PORT.sub("", raw.decode("utf-8", "replace").lower())
    return name if name in servers else "other"


# the text of an $upstream_*_time nginx cannot have written ("%T.%03M" joined by ", ", " : ")
_BAD_TIME = re.compile(rb"[^0-9., :\r-]|-[0-9]")
# a negated class that could run over a line's end: ``[^"]*`` in a block of lines
_CLASS = re.compile(r"(?<!\\)((?:\\\\)*)\[\^")


Counts = tuple[dict[bytes, int], dict[bytes, int], dict[bytes, tuple[tuple[int, ...], int, float]], int]


class BlockCounter(Protocol):
    """What counts a block of a log for ``Traffic.add``: ``LineCounter`` (a ``log_format``), or
    a proxy's own (``Hooks.watch_access``: HAProxy's ``proxies.haproxy.log.HttplogCounter``)."""

    @property
    def index(self) -> tuple[int, int, int, int]:
        """Where each counted field is; ``index[0] < 0``: no Host field (server label "")."""

    @property
    def fmt(self) -> CompiledFormat | None:
        """The ``log_format`` counted (None: the proxy's own lines)."""

    def count(self, data: bytes, buckets: tuple[float, ...]) -> Counts: ...


class LineCounter:
    """An access-log block in one ``log_format``, counted: requests by status and host, by
    status and upstream, and the last attempt's response-time histogram by upstream.

    No polars (~30 MB on import, ~50 MB more in use: the light agent, issue 28 item 5,
    ``bench/watch_bench.py``).  The native scanner (``proxies.nginx._scan.access_counts``) runs
    the format's own regex (``compile_format``, the regex ``why502 stats`` checks lines with)
    as a fixed program of steps over each line, in C; a line it cannot decide, and every line
    of a format it cannot run (a ``.*?`` between two variables, ``escape=json``, a shape it has
    no step for), or without the extension, goes to the regex itself: one ``re.findall`` over
    the block, made to stay within a line (multi-line anchors, no class that matches a newline)."""

    def __init__(self, fmt: CompiledFormat) -> None:
        self.fmt = compile_format(fmt.format, fmt.escape, name=fmt.name, capture=_WANTED)
        pattern = _CLASS.sub(lambda m: m.group(1) + "[^\\n", self.fmt.pattern)
        # text after the format's last piece is let be, as ``why502 stats``' parser does (a
        # format that lost fields at its end still counts the lines): no "$" anchor
        pattern = pattern.removesuffix(r"\r?$")
        self.regex = re.compile(pattern.encode(), re.MULTILINE)
        groups = self.regex.groupindex
        host = next((g for g in _HOSTS if g in groups), None)
        # positions in each findall tuple: host (-1: none), status, upstream, response time
        order = sorted(groups, key=groups.__getitem__)
        pos = {name: i for i, name in enumerate(order)}
        self.index = (pos[host] if host else -1, pos["status"], pos.get("upstream_addr", -1),
                      pos.get("upstream_response_time", -1))
        self.single = len(order) == 1  # findall gives the field itself, not a 1-tuple
        self.program = native_program(self.fmt, host)

    def count(self, data: bytes, buckets: tuple[float, ...] = BUCKETS) -> Counts:
        """The block's counts (``Counts``: the native scanner's shape) and its unparsed lines."""
        native = _native()
        if native is None or self.program is None:
            return self._regex_counts(data, buckets)
        req, resp, hist, undecided = native.access_counts(data, self.program, buckets)
        if undecided:
            more = self._regex_counts(b"\n".join(undecided) + b"\n", buckets)
            _merge(req, more[0])
            _merge(resp, more[1])
            for up, (cum, n, total) in more[2].items():
                had = hist.get(up)
                hist[up] = (cum, n, total) if had is None else (
                    tuple(a + b for a, b in zip(had[0], cum)), had[1] + n, had[2] + total)
            return req, resp, hist, more[3]
        return req, resp, hist, 0

    def _regex_counts(self, data: bytes, buckets: tuple[float, ...]) -> Counts:
        """``count`` by the regex: one ``findall`` per block, ``Counter`` over the tuples."""
        found: list[Any] = self.regex.findall(data)
        if self.single:
            found = [(f,) for f in found]
        if len(found) == newlines(data):  # the usual case: every line matched
            unparsed = 0
        else:  # blank lines are nobody's (nginx never writes one)
            unparsed = max(sum(1 for line in data.splitlines() if line.strip()) - len(found), 0)
        h, s, u, t = self.index
        if t >= 0 and any(_BAD_TIME.search(r[t]) for r in found):
            # NaN, inf, 1e309 or -1.000 are not what nginx wrote: the line is unparsed, as
            # ``why502 stats``' parser has it (``evidence.stats.parser._shape_ok``)
            kept = [r for r in found if not _BAD_TIME.search(r[t])]
            unparsed += len(found) - len(kept)
            found = kept
        req = dict(Counter(r[s] + (r[h] if h >= 0 else b"") for r in found))
        resp = dict(Counter(r[s] + r[u] for r in found)) if u >= 0 else {}
        hist: dict[bytes, tuple[tuple[int, ...], int, float]] = {}
        if u >= 0 and t >= 0:
            acc: dict[bytes, list[float]] = {}  # up -> counts per bucket, then n, then sum
            for (raw_up, raw_t), n in Counter((r[u], r[t]) for r in found).items():
                up = _last_attempt(raw_up)
                if up in ("", "-"):
                    continue
                try:
                    secs = float(_last_attempt(raw_t))
                except ValueError:  # "-": that attempt got no response
                    continue
                row = acc.setdefault(up.encode(), [0.0] * (len(buckets) + 2))
                for i in range(bisect_left(buckets, secs), len(buckets)):
                    row[i] += n
                row[-2] += n
                row[-1] += secs * n
            hist = {up: (tuple(int(c) for c in row[:-2]), int(row[-2]), row[-1])
                    for up, row in acc.items()}
        return req, resp, hist, unparsed


def _merge(into: dict[bytes, int], more: dict[bytes, int]) -> None:
    for k, n in more.items():
        into[k] = into.get(k, 0) + n


# the steps of the native scanner (proxies/nginx/_scan_access.h) and the slots of its fields
_OP_LIT, _OP_TEXT, _OP_STATUS, _OP_INT, _OP_DEC, _OP_MSEC, _OP_LIST, _OP_TIME = range(8)
_SHAPE_OPS = {"status": _OP_STATUS, "time_local": _OP_TIME, "msec": _OP_MSEC,
              "request_time": _OP_DEC, "body_bytes_sent": _OP_INT, "bytes_sent": _OP_INT,
              "request_length": _OP_INT, "connection": _OP_INT, "connection_requests": _OP_INT,
              "pid": _OP_INT}


def native_program(fmt: CompiledFormat, host: str | None) -> tuple[tuple[int, bytes, int], ...] | None:
    """``fmt`` as the native scanner's steps, each what ``compile_format`` makes of that piece
    of the format; None when a piece has no step (the regex counts every line then)."""
    if fmt.escape == "json":
        return None
    slots = {host: 0, "status": 1, "upstream_addr": 2, "upstream_response_time": 3}
    pieces = split_pieces(fmt.format)
    steps: list[tuple[int, bytes, int]] = []
    seen: set[str] = set()
    for i, (kind, value) in enumerate(pieces):
        if kind == "lit":
            steps.append((_OP_LIT, value.encode(), -1))
            continue
        slot = slots.get(value, -1) if value not in seen else -1
        seen.add(value)
        nxt = pieces[i + 1] if i + 1 < len(pieces) else None
        if value in _SHAPE_OPS:
            steps.append((_SHAPE_OPS[value], b"", slot))
        elif value.startswith("upstream_") and value in FIXED_SHAPES:
            if value == "upstream_cache_status":
                return None
            steps.append((_OP_LIST, b"", slot))
        elif value in FIXED_SHAPES:
            return None  # a shape with no step of its own (time_iso8601)
        elif nxt is None:
            steps.append((_OP_TEXT, b"", slot))
        elif nxt[0] == "lit" and nxt[1][0] not in "\\\n":
            steps.append((_OP_TEXT, nxt[1][0].encode(), slot))
        else:
            return None  # ".*?" between two variables, or a backslash: the regex decides
    return tuple(steps)


def _native() -> Any:
    """The native scanner, when it was built and is not turned off (``WHY502_NATIVE=0``)."""
    from why502.parsers import errorlog_native

    return errorlog_native.native() if errorlog_native.available() else None


def make_parser(fmt: CompiledFormat) -> LineCounter:
    """The block counter of ``fmt`` that captures only what the watch counts."""
    return LineCounter(fmt)


def _le(bound: float) -> str:
    return repr(bound)
