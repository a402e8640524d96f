"""Caddy's JSON logs (access: ``logger`` ``http.log.access*``; errors: ``http.log.error*``), the
Caddy 1 error line, and Traefik's access logs (JSON and Common Log Format) and error lines.

Both are Go programs whose reverse proxies put Go's own error text in the log (``dial tcp
127.0.0.1:9000: connect: connection refused``, ``net/http: timeout awaiting response headers``,
``EOF``): ``go_error_code`` maps that text onto the vocabulary (the Caddy terms of
``proxy_terms.toml``), for both.

Caddy answers 502 for a proxy error, 504 for a timeout and 503 for ``no upstreams available``
(``modules/caddyhttp/reverseproxy/reverseproxy.go`` ``statusError()``,
https://caddyserver.com/docs/caddyfile/directives/reverse_proxy).  Its access log has no upstream
error text: a 5xx with a response of size 0 and no header but ``Server`` is Caddy's own (the
backend's 502 carries the backend's headers and body).

Traefik (https://doc.traefik.io/traefik/observability/access-logs/) writes ``OriginStatus`` =
``DownstreamStatus`` = 502 both when it failed to reach the server and when the server answered
502; its own error bodies are Go's ``http.StatusText`` (``Bad Gateway``, 11 bytes; ``Gateway
Timeout``, 15; ``pkg/proxy/httputil/proxy.go`` ``ErrorHandler()``), so ``OriginContentSize``
equal to that length (or no ``ServiceURL`` at all) says Traefik made it.
"""

from __future__ import annotations

import datetime as dt
import re
from http import HTTPStatus
from typing import Any

from why502.catalog.terms import term
from why502.parsers.lblogs.model import LbRecord, resolved, to_float, to_int

# Go error texts -> the Caddy term code, most specific first.
# A TLS or DNS failure is written inside "dial tcp ...", so they come before the dial errors;
# Windows words refusal and reset its own way (WSAECONNREFUSED, WSAECONNRESET).  The go-proxy
# patterns (catalog/data/patterns.toml) read the same texts outside an access log.
_GO_ERRORS: tuple[tuple[str, str], ...] = (
    ("no upstreams available", "no upstreams available"),
    ("unknown network", "unknown network"),
    ("x509: ", "TLS"),
    ("tls: ", "TLS"),
    ("remote error: tls", "TLS"),
    ("no such host", "no such host"),
    (": lookup ", "DNS lookup"),
    ("connection refused", "connection refused"),
    ("actively refused", "connection refused"),
    ("no route to host", "no route to host"),
    ("timeout awaiting response headers", "timeout awaiting response headers"),
    ("i/o timeout", "i/o timeout"),
    ("connection reset by peer", "connection reset by peer"),
    ("forcibly closed by the remote host", "connection reset by peer"),
    ("goaway", "GOAWAY"),
    ("malformed", "malformed"),
    ("eof", "EOF"),
)
_DIAL = re.compile(r"dial tcp (\S+?): ")
_READ = re.compile(r"read tcp \S+->(\S+?): ")
_CADDY1 = re.compile(
    r"^(?P<time>\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d [+-]\d{4}) "
    r"\[ERROR (?P<status>\d{3}) (?P<path>[^\]]*)\] (?P<msg>.*)$"
)
_TRAEFIK_CLF = re.compile(
    r'^(?P<client>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<req>[^"]*)" (?P<status>\S+) (?P<size>\S+) '
    r'(?:"[^"]*"|-) (?:"[^"]*"|-) (?P<count>\d+) (?:"(?P<router>[^"]*)"|-) (?:"(?P<url>[^"]*)"|-) '
    r'(?P<dur>\d+)ms$'
)
_TRAEFIK_ERR = re.compile(
    r"'(?P<status>\d{3}) [A-Za-z ]+' caused by: (?P<msg>[^\"]+)|"
    r"\b(?P<status2>5\d\d) [A-Z][A-Za-z ]+ error=\"(?P<msg2>(?:[^\"\\]|\\.)*)\""
)


def go_error_code(msg: str) -> str | None:
    low = msg.lower()
    for needle, code in _GO_ERRORS:
        if needle == "eof":
            if low == "eof" or low.endswith(": eof") or "unexpected eof" in low:
                return code
        elif needle in low:
            return code
    return None


def _target(msg: str) -> str | None:
    m = _DIAL.search(msg) or _READ.search(msg)
    return m.group(1) if m else None


def _unix(ts: object) -> str | None:
    if isinstance(ts, (int, float)) and not isinstance(ts, bool):
        try:
            stamp = dt.datetime.fromtimestamp(float(ts), dt.timezone.utc)
            return stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        except (OverflowError, OSError, ValueError):
            return None
    return ts if isinstance(ts, str) else None


def is_caddy(obj: dict[str, Any]) -> bool:
    logger = obj.get("logger")
    return isinstance(logger, str) and logger.startswith("http.log.")


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
    if logger.startswith("http.log.error"):
        msg = str(obj.get("msg") or "")
        code = go_error_code(msg)
        t = term("caddy", code) if code else None
        status = to_int(obj.get("status")) or (t.status[0] if t and t.status else None)
        rec = LbRecord(
            family="caddy", status=status, made_by="lb", time=time, code=code, target=_target(msg),
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
        family="caddy", status=status, made_by=made_by, time=time, code=code, request=request,
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
        family="caddy", status=int(m["status"]), made_by="lb", time=_clf_time(m["time"]), code=code,
        target=_target(m["msg"]), request=m["path"], detail=m["msg"], kind="error",
    )
    return resolved(rec)


# ------------------------------------------------------------------------------------------ traefik

def _traefik_own(status: int | None, size: int | None, service_url: str | None) -> bool:
    if status is None or status < 500:
        return False
    if not service_url or service_url == "-":
        return True
    try:
        text = HTTPStatus(status).phrase
    except ValueError:
        return False
    return size in (len(text), len(text) + 1)


def _traefik_code(status: int | None, service_url: str | None, router: str | None = "") -> str | None:
    if router is None and (status in (None, 404)):
        return "no router"
    if status == 503 and (not service_url or service_url == "-"):
        return "503 no healthy server"
    codes = {500: "500 Internal Server Error", 502: "502 Bad Gateway", 504: "504 Gateway Timeout"}
    return codes.get(status or 0)


def is_traefik(obj: dict[str, Any]) -> bool:
    return "DownstreamStatus" in obj or "OriginStatus" in obj


def parse_traefik_json(obj: dict[str, Any]) -> LbRecord | None:
    if not is_traefik(obj):
        return None
    status = to_int(obj.get("DownstreamStatus"))
    url = obj.get("ServiceURL")
    url_s = str(url) if url else None
    router = str(obj.get("RouterName") or "") or None
    own = (_traefik_own(status, to_int(obj.get("OriginContentSize")), url_s)
           or (router is None and url_s is None))
    method, path = obj.get("RequestMethod"), obj.get("RequestPath")
    dur = to_float(obj.get("Duration"))
    odur = to_float(obj.get("OriginDuration"))
    rec = LbRecord(
        family="traefik", status=status, made_by="lb" if own else "backend",
        time=str(obj.get("StartUTC") or obj.get("time") or "") or None,
        code=_traefik_code(status, url_s, router) if own else None,
        backend_status=to_int(obj.get("OriginStatus")) or None,
        target=str(obj.get("ServiceAddr") or "") or url_s, group=str(obj.get("ServiceName") or "") or None,
        request=f"{method} {path}" if method and path else None,
        host=str(obj.get("RequestHost") or "") or None, client=str(obj.get("ClientHost") or "") or None,
        duration_ms=dur / 1e6 if dur is not None else None,
        upstream_ms=odur / 1e6 if odur is not None and url_s else None,
        retries=to_int(obj.get("RetryAttempts")),
    )
    return resolved(rec)


def is_traefik_clf(line: str) -> bool:
    return _TRAEFIK_CLF.match(line) is not None


def parse_traefik_clf(line: str) -> LbRecord | None:
    m = _TRAEFIK_CLF.match(line)
    if m is None:
        return None
    status = to_int(m["status"])
    url = m["url"] if m["url"] not in (None, "-") else None
    router = m["router"] if m["router"] not in (None, "-") else None
    own = _traefik_own(status, to_int(m["size"]), url) or (router is None and url is None)
    req = m["req"].split(" ")
    rec = LbRecord(
        family="traefik", status=status, made_by="lb" if own else "backend",
        time=_clf_time(m["time"]), code=_traefik_code(status, url, router) if own else None,
        target=url, group=router,
        request=f"{req[0]} {req[1]}" if len(req) >= 2 else None, client=m["client"],
        duration_ms=float(m["dur"]),
    )
    return resolved(rec)


def _clf_time(raw: str) -> str:
    try:
        return dt.datetime.strptime(raw, "%d/%b/%Y:%H:%M:%S %z").isoformat()
    except ValueError:
        return raw


def parse_traefik_error(line: str) -> LbRecord | None:
    """Traefik's debug line for a failed proxy attempt: v1 ``'504 Gateway Timeout' caused by:
    dial tcp ...: i/o timeout``; v2/v3 ``502 Bad Gateway error="dial tcp ...: connect: connection
    refused"``."""
    m = _TRAEFIK_ERR.search(line)
    if m is None:
        return None
    status = int(m["status"] or m["status2"])
    msg = (m["msg"] or m["msg2"] or "").replace('\\"', '"')
    code = go_error_code(msg)
    t = term("caddy", code) if code else None
    tm = re.match(r"^(?:time=\")?(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S*?)\"?\s", line)
    rec = LbRecord(
        family="traefik", status=status, made_by="lb", time=tm.group(1) if tm else None, code=code,
        symptom=t.symptom or None if t else None, proxy_status=t.proxy_status or None if t else None,
        cause=t.cause or None if t else None, target=_target(msg), detail=msg, kind="error",
    )
    return rec
