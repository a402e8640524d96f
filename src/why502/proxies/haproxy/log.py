"""HAProxy httplog lines as rows of the access-log statistics (``why502 stats``).

HAProxy's ``option httplog`` line (configuration.txt 8.2.3) is::

    %ci:%cp [%tr] %ft %b/%s %TR/%Tw/%Tc/%Tr/%Ta %ST %B %CC %CS %tsc %ac/%fc/%bc/%sc/%rc %sq/%bq %{+Q}r

with the timers in milliseconds (8.4): ``TR`` to receive the request, ``Tw`` in the queues,
``Tc`` to connect to the server, ``Tr`` for the server's response headers (-1: none came),
``Ta`` the whole request.  Who made the status is the termination state's (8.5): its second
letter is the phase the session was in when it ended -- ``R`` request, ``Q`` queue, ``C``
connect, ``H`` waiting for or reading the response headers, ``T`` tarpit -- and a session that
ended in one of those never passed a server's status on: HAProxy wrote it (``SH`` 502 "the
server aborted before sending its full headers", ``sH`` 504, ``PH`` 502 "the proxy blocked the
server's response because it was invalid", whatever ``Tr`` says: the manual's own ``PH``
example has ``Tr`` 1).  ``----`` (normal completion) or a ``D``/``L`` phase means the
server's headers went through, with the server's status: a 5xx on such a line is the
backend's, relayed.  The statistics engine reads nginx's variables, so each line is
rewritten into the engine's ``why502`` format (``parsers.log_format.WHY502``) with nginx's
meanings: ``$upstream_connect_time`` = Tc, ``$upstream_header_time`` = Tc + Tr (nginx counts from
the connect), ``-`` when HAProxy got no header (it made the 5xx itself, as nginx's ``-``),
``$upstream_response_time`` = the time spent on the server side (Tc onwards), ``$request_time``
= Ta, ``$upstream_addr`` = the server's address from the config (else ``backend/server``).
"""

from __future__ import annotations

import importlib
import os
import re
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from types import ModuleType

HTTPLOG_TEXT = (
    r"(?P<client>[\w.:\[\]-]+?):\d+ \[(?P<time>\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d)(?:\.\d+)?\] "
    r"(?P<frontend>\S+) (?P<backend>[^/\s]+)/(?P<server>\S+) "
    r"(?P<TR>-?\d{1,18})/(?P<Tw>-?\d{1,18})/(?P<Tc>-?\d{1,18})/(?P<Tr>-?\d{1,18})/\+?(?P<Ta>-?\d{1,18}) "
    r"(?P<status>\d{3}) \+?(?P<bytes>\d+) \S+ \S+ (?P<ts>[-A-Za-z]{4}) "
    r"\S+ \S+(?: \{[^}]*\})*(?: \"(?P<request>[^\"]*)\"?)?")
"""HAProxy's httplog line as a regex both Python's ``re`` and polars' (Rust's ``regex``) read."""

_RUN_START = r"(?<![\w.:\[\]-])"
HTTPLOG = re.compile(_RUN_START + HTTPLOG_TEXT)
"""``HTTPLOG_TEXT`` for Python's ``re``, its client starting where a run of the client's
characters starts.  Searched as it was, a line with a long run of them (a 256 KiB URL of
letters, the head ``diagnose`` sniffs) took minutes: Python's backtracking ``re`` tried the
lazy client from every character of the run, each try walking to the run's end (quadratic:
tests/cli/test_qa_long_runs.py).  The matches are the same: the client cannot hold the space that ends its
``:port``, so a try from inside a run succeeds exactly when the try from the run's start does,
and the leftmost match starts there.  Rust's ``regex`` has no look-behind and needs none (it
runs in linear time): polars reads ``HTTPLOG_TEXT``."""


# A request that went well (httplog, configuration.txt 8.2.3): a status below 500 and the
# termination state "----" (8.5: no error, no timeout, the session ended normally).  HAProxy's log
# is its access log too, one line per request: these lines are most of it and ``classify_line``
# finds nothing in them (~40 us each), so ``watch`` counts them out (``quiet``): by the native
# pass (``_hapscan.httplog_quiet``, the same lines: tests/haproxy/test_hapscan_counts.py), else by
# this regex.  The prefix is greedy: the same lines go (a line goes whichever "] " the rest
# matches after), at 2.4x the speed of a lazy one (Python's regex tries the rest after every
# character of a lazy prefix; bench/watch_bench.py).
_OK = re.compile(rb"^[^\n]*\] \S+ \S+/\S+ -?\d+/-?\d+/-?\d+/-?\d+/\+?-?\d+ [1-4]\d\d "
                 rb"\+?\d+ \S+ \S+ ---- [^\n]*\n", re.M)


@cache
def _module() -> ModuleType | None:
    """The native pass (``_hapscan.c``), when it was built with watch's entries (``setup.py``)."""
    try:
        module = importlib.import_module("why502.proxies.haproxy._hapscan")
    except ImportError:
        return None
    return module if hasattr(module, "httplog_counts") else None


def _native() -> ModuleType | None:
    """The native pass, unless it is turned off (``WHY502_NATIVE=0``: the regexes do all)."""
    return None if os.environ.get("WHY502_NATIVE", "1") == "0" else _module()


def quiet(block: bytes) -> bytes:
    """A block of the log without its requests that went well (``Hooks.watch_quiet``).  Every
    error log ``watch`` follows goes through it, most of them no HAProxy's: a block without
    " ---- " (which ``_OK`` needs) is handed back as it is -- by the native pass, whose search
    for it is ~3x Python's ``in``."""
    native = _native()
    if native is not None:
        return native.httplog_quiet(block)  # type: ignore[no-any-return]
    return _OK.sub(b"", block) if b" ---- " in block else block


# termination-state phases (the second letter, configuration.txt 8.5) in which the server's
# response headers had not been passed on: a status logged then is HAProxy's own
_OWN_PHASES = frozenset("RQCHT")


def _secs(ms: int) -> str:
    return f"{max(ms, 0) / 1000:.3f}"


#: the engine's ``why502`` format (``parsers.log_format.WHY502``) filled with :func:`to_fields`:
#: the line ``to_nginx_line`` writes, what ``watch``'s block counter is checked against
#: (tests/watch/test_watch_counter.py); ``stats`` and ``diagnose`` read the same fields as
#: columns (``proxies.haproxy.stats.httplog_fields``), without writing this text
NGINX_LINE = ('{remote_addr} - - [{time_local}] "{request}" {status} {body_bytes_sent} "-" "-" "-" '
              'rt={request_time} ua="{upstream_addr}" us="{upstream_status}" '
              'uct="{upstream_connect_time}" uht="{upstream_header_time}" urt="{upstream_response_time}"')


def to_fields(line: str, addresses: Mapping[str, str] | None = None,
              zone: str | None = None) -> dict[str, str] | None:
    """The line's facts under the statistics engine's names (nginx's variables, with nginx's
    meanings), or None when it is no httplog request line.

    ``addresses`` maps ``backend/server`` to ``host:port`` (``proxies.haproxy.facts`` aliases);
    ``zone`` is the ``+hhmm`` offset HAProxy's local time is in (default: this machine's).
    """
    m = HTTPLOG.search(line)
    if not m:
        return None
    tr, tw, tc, t_r, ta = (int(m.group(k)) for k in ("TR", "Tw", "Tc", "Tr", "Ta"))
    server = m.group("server")
    name = f"{m.group('backend')}/{server}"
    status = m.group("status")
    addr = m.group("backend") if server == "<NOSRV>" else (addresses or {}).get(name, name)
    connected = tc >= 0
    # the server's headers reached the client (module docstring): the status is the server's
    relayed = connected and t_r >= 0 and m.group("ts")[1] not in _OWN_PHASES
    if zone is None:
        zone = datetime.now().astimezone().strftime("%z")
    return {"remote_addr": m.group("client"), "time_local": f"{m.group('time')} {zone}",
            "request": (m.group("request") or "-").replace('"', "%22"), "status": status,
            "body_bytes_sent": m.group("bytes"), "request_time": _secs(ta),
            "upstream_addr": addr, "upstream_status": status,
            "upstream_connect_time": _secs(tc) if connected else "-",
            "upstream_header_time": _secs(tc + t_r) if relayed else "-",
            "upstream_response_time": _secs(ta - max(tr, 0) - max(tw, 0)) if connected else "-"}


def to_nginx_line(line: str, addresses: Mapping[str, str] | None = None,
                  zone: str | None = None) -> str | None:
    """The line in the ``why502`` nginx format (:data:`NGINX_LINE`), or None when it is no
    httplog request line (:func:`to_fields`)."""
    fields = to_fields(line, addresses, zone)
    return None if fields is None else NGINX_LINE.format(**fields)


def looks_like_httplog(lines: list[str]) -> bool:
    """Do most of these lines look like HAProxy httplog lines?"""
    hits = sum(1 for ln in lines if HTTPLOG.search(ln))
    return hits > 0 and hits * 2 >= len([ln for ln in lines if ln.strip()])


# HTTPLOG with only the fields ``why502 watch`` counts captured, kept within a line, over a
# block.  ``_BLOCK`` starts where ``search`` on the line would (its leftmost match): ~100k
# lines/s, Python's regex trying the lazy client at every character.  ``_FAST`` starts at the
# literal "[" of the time, the client and port checked behind it (a look-behind has a fixed
# width: one per port length, up to 20 digits): the same lines and fields (a client token is
# all characters the client may hold, so where it starts does not change the match), ~3x faster
_COUNTED = ("backend", "server", "TR", "Tw", "Tc", "Ta", "status")
_IN_LINE = re.sub(r"\(\?P<(\w+)>", lambda m: m.group(0) if m.group(1) in _COUNTED else "(?:",
                  HTTPLOG.pattern).replace("[^}]", "[^}\n]").replace('[^\\"]', '[^\\"\n]')
_BLOCK = re.compile(r"^[^\n]*?" + _IN_LINE, re.MULTILINE)
_TIME = _IN_LINE.index(r" \[(?:")
_FAST = re.compile(r"\[(?:" + "|".join(rf"(?<=[\w.:\[\]-]:\d{{{k}}} \[)" for k in range(1, 21))
                   + ")" + _IN_LINE[_TIME + 3:])


class HttplogCounter:
    """HAProxy's httplog lines in a block counted as ``why502 watch`` counts an nginx access
    log (``app.watch.traffic.LineCounter``'s shape: requests by status and Host, by status and
    ``$upstream_addr``, the histogram of ``$upstream_response_time`` by upstream), with the
    meanings of :func:`to_nginx_line` -- without writing each line as nginx text and reading it
    again (~25 us a line in Python).  The lines are grouped by the fields the regex captures
    (backend, server, timers, status) and Python runs once per distinct group, not per line:
    the native pass groups the lines it is sure of (``_hapscan.httplog_counts``, ~0.2 us a
    line) and hands the others back to one ``findall`` over them (~2 us a line, the whole block
    without the pass: ``WHY502_NATIVE=0``), the same groups either way
    (``tests/haproxy/test_hapscan_counts.py``).  The histogram's sum is added up in whole
    milliseconds (exact: the same whichever order the groups come in).  The rewritten line's
    Host is ``-``; a line whose ``$upstream_addr`` would not fit nginx's shape (a ``,`` or
    ``"`` in a name) is unparsed, as the rewritten line was, and so is any other line that is
    not blank (the caller knows whether the log holds other lines)."""

    index = (0, 1, 2, 3)  # a Host field (always "-"), as LineCounter.index has it
    fmt: None = None  # no log_format: compared as such when the config is read again

    def __init__(self, addresses: Mapping[str, str] | None = None) -> None:
        self.addresses = dict(addresses or {})

    def count(self, data: bytes, buckets: tuple[float, ...]) -> tuple[
            dict[bytes, int], dict[bytes, int], dict[bytes, tuple[tuple[int, ...], int, float]], int]:
        from bisect import bisect_left
        from collections import Counter

        req: dict[bytes, int] = {}
        resp: dict[bytes, int] = {}
        acc: dict[bytes, list[float]] = {}
        millis: dict[bytes, int] = {}  # the sum, exact: the same whichever order the groups come in
        unparsed = 0
        # the native pass groups the lines it is sure of (``_hapscan.httplog_counts``: each one
        # _FAST match, the search's, or none) and hands the others back to the regex; the count
        # of _FAST's matches decides between _FAST and _BLOCK as over the whole block
        native = _native()
        groups: dict[tuple[str, ...], int] = {}
        taken = 0
        if native is not None:
            groups, rest, newlines = native.httplog_counts(data)
            taken = sum(groups.values())
            text = rest.decode("utf-8", "replace")
        else:
            text = data.decode("utf-8", "replace")
            newlines = data.count(b"\n")
        found = _FAST.findall(text)
        if taken + len(found) > newlines:  # a line matched twice: one match a line, as search
            found = _BLOCK.findall(text)
        counted = Counter(found)
        for key, n in groups.items():
            counted[key] += n
        for (backend, server, tr, tw, tc, ta, status), n in counted.items():
            addr = backend if server == "<NOSRV>" else self.addresses.get(f"{backend}/{server}",
                                                                          f"{backend}/{server}")
            if not addr or any(c in addr for c in ',"') or any(c.isspace() for c in addr):
                unparsed += n
                continue
            key = status.encode()
            req[key + b"-"] = req.get(key + b"-", 0) + n
            up = addr.encode()
            resp[key + up] = resp.get(key + up, 0) + n
            c = int(tc)
            if c < 0:  # never connected: no $upstream_response_time ("-")
                continue
            ms = max(int(ta) - max(int(tr), 0) - max(int(tw), 0), 0)
            secs = float(_secs(ms))
            row = acc.setdefault(up, [0.0] * (len(buckets) + 1))
            for i in range(bisect_left(buckets, secs), len(buckets)):
                row[i] += n
            row[-1] += n
            millis[up] = millis.get(up, 0) + ms * n
        hist = {up: (tuple(int(v) for v in row[:-1]), int(row[-1]), millis[up] / 1000)
                for up, row in acc.items()}
        matched = sum(req.values()) + unparsed
        lines = newlines if data.endswith(b"\n") else len(data.splitlines())
        if matched < lines:
            unparsed += sum(1 for line in data.splitlines() if line.strip()) - matched
        return req, resp, hist, unparsed
