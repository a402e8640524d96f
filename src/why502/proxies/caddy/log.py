"""Caddy's log family: its JSON logs (access: ``logger`` ``http.log.access*``; errors:
``http.log.error*``) and the Caddy 1 error line, read into ``LbRecord`` (``CADDY``, reached
through ``Hooks.log_family``; ``parsers.lblogs`` names no registered proxy, issue 23).

Caddy is a Go program whose reverse proxy puts Go's own error text in the error log (``dial tcp
127.0.0.1:9000: connect: connection refused``, ``net/http: timeout awaiting response headers``,
``EOF``): ``parsers.lblogs.golang.go_error_code`` maps it onto the Caddy terms of
``proxy_terms.toml``.

Caddy answers 502 for a proxy error, 504 for a timeout and 503 for ``no upstreams available``
(``modules/caddyhttp/reverseproxy/reverseproxy.go`` ``statusError()``,
https://caddyserver.com/docs/caddyfile/directives/reverse_proxy).  Its access log has no upstream
error text: a 5xx with a response of size 0 and no header but ``Server`` is Caddy's own (the
backend's 502 carries the backend's headers and body).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from why502.catalog.terms import term
from why502.parsers.lblogs.family import LogFamily, json_object
from why502.parsers.lblogs.golang import clf_time, go_error_code, go_target
from why502.parsers.lblogs.model import LbRecord, resolved, to_float, to_int
from why502.proxies.caddy.counts import COUNTS, FOLD

if TYPE_CHECKING:
    import polars as pl

    from why502.parsers.lblogs.fold import BlockFold

NAME = "caddy"  # the family: this proxy's name (--log-type caddy, the vocabulary's family)

_CADDY1 = re.compile(
    r"^(?P<time>\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}) "
    r"\[ERROR (?P<status>\d{3}) (?P<path>[^\]]*)\] (?P<msg>.*)$"
)


def _unix(ts: object) -> str | None:
    if isinstance(ts, (int, float)) and not isinstance(ts, bool):
        try:
            stamp = dt.datetime.fromtimestamp(float(ts), dt.timezone.utc)
            return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        except (OverflowError, OSError, ValueError):
            return None
    return ts if isinstance(ts, str) else None


# The reverse proxy handler's own logger: its line "failed getting dynamic upstreams; falling
# back to static upstreams" with the Go error of the lookup (caddyserver/caddy
# modules/caddyhttp/reverseproxy/reverseproxy.go proxyLoopIteration(): ``h.logger`` at error,
# ``zap.Error(err)`` from ``DynamicUpstreams.GetUpstreams``).  With no static upstream beside the
# dynamic ones the request then finds none: "no upstreams available", 503, in the request's error
# line, which names no lookup; this line says why the list was empty.
_PROXY_LOGGER = "http.handlers.reverse_proxy"
_DYNAMIC_FAILED = "failed getting dynamic upstreams"
# Go's net.DNSError.Error(): "lookup " + Name + (" on " + Server) + ": " + Err (src/net/net.go)
_LOOKUP = re.compile(r"\blookup (\S+?)(?: on \S+)?: ")


def is_caddy(obj: dict[str, Any]) -> bool:
    logger = obj.get("logger")
    # the reverse proxy's own lines only for its failed dynamic lookup (``_parse_dynamic``): its
    # others (debug round trips, "selected upstream") are read as before, by the go-proxy patterns
    return isinstance(logger, str) and (logger.startswith("http.log.") or _is_layer4(logger)
                                        or (logger == _PROXY_LOGGER
                                            and str(obj.get("msg") or "").startswith(_DYNAMIC_FAILED)))


def _parse_dynamic(obj: dict[str, Any], time: str | None) -> LbRecord | None:
    """The reverse proxy's failed lookup of its dynamic upstreams (``_PROXY_LOGGER``): a record
    of the Go error with the name looked up as its target (``lookup NAME on SERVER: no such
    host`` names no address to dial); the handler's other lines are not requests."""
    err = obj.get("error")
    if not str(obj.get("msg") or "").startswith(_DYNAMIC_FAILED) or not isinstance(err, str):
        return None
    code = go_error_code(err)
    if code is None:
        return None
    lookup = _LOOKUP.search(err)
    rec = LbRecord(family=NAME, status=None, made_by="lb", time=time, code=code,
                   target=go_target(err) or (lookup.group(1) if lookup else None), detail=err, kind="error")
    return resolved(rec)


def _is_layer4(logger: str) -> bool:
    """The caddy-l4 app's logger (``layer4``, its servers and handlers ``layer4.*``)."""
    return logger == "layer4" or logger.startswith("layer4.")


def _parse_layer4(obj: dict[str, Any], time: str | None) -> LbRecord | None:
    """caddy-l4's record of a connection its route failed: ``Server.handle()`` logs
    ``s.logger.Error("handling connection", zap.String("remote", ...), zap.Error(err))``
    (mholt/caddy-l4 layer4/server.go), where ``err`` is the proxy handler's Go error when the dial
    to the upstream failed (``dial tcp: lookup NAME on DNS: no such host``).  A TCP proxy has no
    HTTP status: the client's connection is closed; the Go error names the cause as in Caddy's
    HTTP error log.  Other layer4 records (start-up, matching) are Caddy's own lines."""
    err = obj.get("error")
    if obj.get("msg") != "handling connection" or not isinstance(err, str):
        return None
    code = go_error_code(err)
    if code is None:
        return None
    remote = obj.get("remote")
    rec = LbRecord(family=NAME, status=None, made_by="lb", time=time, code=code, target=go_target(err),
                   client=str(remote) if remote else None, detail=err, kind="error")
    return resolved(rec)


def _req(obj: dict[str, Any]) -> dict[str, Any]:
    r = obj.get("request")
    return r if isinstance(r, dict) else {}


def parse_caddy(obj: dict[str, Any]) -> LbRecord | None:
    if not is_caddy(obj):
        return None
    logger = str(obj.get("logger"))
    req = _req(obj)
    request = f"{req.get('method')} {req.get('uri')}" if req.get("method") and req.get("uri") else None
    host = str(req["host"]) if req.get("host") else None
    client = req.get("client_ip") or req.get("remote_ip") or req.get("remote_addr")
    duration = to_float(obj.get("duration"))
    time = _unix(obj.get("ts"))
    if _is_layer4(logger):
        return _parse_layer4(obj, time)
    if logger == _PROXY_LOGGER:
        return _parse_dynamic(obj, time)
    if logger.startswith("http.log.error"):
        msg = str(obj.get("msg") or "")
        code = go_error_code(msg)
        method = req.get("method") if req else obj.get("method")  # a cut line is scanned flat
        if method == "CONNECT" and msg.startswith(("read tcp", "readfrom tcp", "write tcp")):
            # a CONNECT tunnel (the forward_proxy plugin, or an HTTP/2 extended CONNECT) broke
            # while bytes were copied, after its 200 was sent: no 5xx reached the client
            # (caddyserver/forwardproxy forwardproxy.go ServeHTTP: 200, then dualStream copies)
            code = None
        t = term(NAME, code) if code else None
        status = to_int(obj.get("status")) or (t.status[0] if t and t.status else None)
        rec = LbRecord(
            family=NAME, status=status, made_by="lb", time=time, code=code, target=go_target(msg),
            request=request, host=host, group=host, client=str(client) if client else None,
            duration_ms=duration * 1000.0 if duration is not None else None, detail=msg, kind="error",
        )
        return resolved(rec)
    if not logger.startswith("http.log.access"):
        return None
    status = to_int(obj.get("status"))
    headers = obj.get("resp_headers")
    names = {str(k).lower() for k in headers} if isinstance(headers, dict) else set()
    own = not (names - {"server", "alt-svc", "date"}) and not to_int(obj.get("size"))
    if status is not None and status >= 500:
        made_by = "lb" if own else "backend"
    else:
        made_by = "backend" if status is not None and status < 400 else "unknown"
    code = None
    if made_by == "lb":
        code = {503: "no upstreams available", 504: "timeout awaiting response headers"}.get(status or 0)
    rec = LbRecord(
        family=NAME, status=status, made_by=made_by, time=time, code=code, request=request,
        host=host, group=host, client=str(client) if client else None,
        duration_ms=duration * 1000.0 if duration is not None else None,
    )
    return resolved(rec)


def parse_caddy1(line: str) -> LbRecord | None:
    m = _CADDY1.match(line)
    if m is None:
        return None
    code = go_error_code(m["msg"])
    rec = LbRecord(
        family=NAME, status=int(m["status"]), made_by="lb", time=clf_time(m["time"]), code=code,
        target=go_target(m["msg"]), request=m["path"], detail=m["msg"], kind="error",
    )
    return resolved(rec)


# zap's console encoder, Caddy's default when its log goes to a terminal (and how people paste
# it): "<time>\t<LEVEL>\t<logger>\t<msg>\t<the fields as JSON>" (go.uber.org/zap
# zapcore/console_encoder.go EncodeEntry: the entry's time, level, name and message, then the
# context fields as one JSON object; Caddy's time format "2006/01/02 15:04:05.000", local time,
# caddy logging.go ConsoleEncoder).  Tabs may have become runs of spaces in a paste.
_CONSOLE = re.compile(
    r"(?P<time>\d{4}/\d\d/\d\d \d\d:\d\d:\d\d(?:\.\d+)?)\s+(?P<level>[A-Z]+)\s+"
    r"(?P<logger>http\.log\.(?:error|access)\S*)\s+(?P<msg>.*?)(?:\s+(?P<fields>\{.*\}))?\s*$")


def parse_caddy_console(line: str) -> LbRecord | None:
    """A console-encoded Caddy line of its HTTP loggers, read as its JSON twin: the fields
    object with the logger, the message and the entry's time (local time, as written: the
    console encoder writes no zone)."""
    m = _CONSOLE.search(line)
    if m is None:
        return None
    obj = json_object(m["fields"]) if m["fields"] else None
    fields: dict[str, Any] = dict(obj) if obj is not None else {}
    when = m["time"].replace("/", "-", 2).replace(" ", "T", 1)
    fields.update(logger=m["logger"], msg=m["msg"], level=m["level"].lower(), ts=when)
    return parse_caddy(fields)


def caddy_own(line: str) -> bool:
    """A line of Caddy's default logger that is not a request (start-up, TLS, admin): JSON with
    ``ts``, ``level`` and ``msg``.  It counts for Caddy when judging a whole file."""
    obj = json_object(line) if line.lstrip().startswith("{") else None
    return obj is not None and {"ts", "level", "msg"} <= obj.keys()


def _frame(lines: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """The vectorised reader (``frame.caddy_frame``), imported when a batch is read."""
    from why502.proxies.caddy.frame import caddy_frame

    return caddy_frame(lines)


def _block(data: bytes) -> tuple[pl.DataFrame, list[int]] | None:
    """The native block reader (``frame.caddy_block``)."""
    from why502.proxies.caddy.frame import caddy_block

    return caddy_block(data)


def _answers(data: bytes) -> tuple[pl.DataFrame, list[int], pl.DataFrame] | None:
    """The native block reader that counts the answered requests (``frame.caddy_answers_block``)."""
    from why502.proxies.caddy.frame import caddy_answers_block

    return caddy_answers_block(data)


def _fold() -> BlockFold | None:
    """``stats``' fold of its access lines (``parsers.lblogs.jsonfold``), imported when a read starts."""
    from why502.parsers.lblogs.jsonfold import json_fold

    return json_fold(COUNTS, FOLD, parse_caddy)


#: ``watch``'s status regex (``LogFamily.status_patterns``): the first ``"status":NNN`` after an
#: access logger's name.  The name is found once (an atomic group): a status after a later
#: ``"logger":"http.log.access`` is after the first too, so no other is worth a try -- the two
#: lazy runs as they were tried every one, each to the line's end (a line of the name over and
#: over: 14 s for 208 KB in ``watch``, the square of it; tests/cli/test_qa_long_runs.py).
STATUS = re.compile(rb'^(?>[^\n]*?"logger":"http\.log\.access)[^\n]*?"status":(\d{1,3})[,}]', re.M)

CADDY = LogFamily(
    counts=COUNTS,
    name=NAME, title="Caddy", rank=40, is_json=is_caddy, parse_json=parse_caddy,
    sniffers=((50, lambda line: parse_caddy1(line) is not None),
              (55, lambda line: parse_caddy_console(line) is not None)),
    text_parsers=(parse_caddy1, parse_caddy_console),
    own_line=caddy_own, frame=_frame, block=_block, fold=_fold, answers=_answers,
    status_patterns=(STATUS,),
)
"""Caddy's family: no default timeout (it waits for a response header without limit)."""
