"""cloudflared's log: the origin errors of a Cloudflare Tunnel, one line per request it failed
(``CLOUDFLARED``, reached through ``Hooks.log_family``; moved here from ``parsers.lblogs.cloudflared``
when cloudflared joined the registry, as Envoy's, Caddy's and Traefik's did, unchanged).

cloudflared serves each request that reaches the tunnel by asking the ingress rule's origin
(``originService``).  When the origin cannot be reached, cloudflared answers 502 to Cloudflare's
edge and logs the Go error wrapped in its own words: ``errors.Wrap(err, "Unable to reach the origin
service. The service may be down or it may not be responding to traffic from cloudflared")``
(cloudflare/cloudflared proxy/proxy.go ``proxyHTTPRequest``), logged at ERR with the request's
``cfRay``, ``ingressRule`` and ``originService`` (zerolog's console writer:
``2024-07-10T17:08:33Z ERR  error="..." connIndex=0 event=1 ingressRule=4
originService=http://192.168.3.180:3000``; with ``--log-format json`` the same fields as JSON).
The connection layer logs the same failure again as ``ERR Request failed error="..." dest=...``
(the public URL, no origin): read too, since a paste or an older log may hold only those, so a
request both lines record is counted twice (the report counts lines of the log here, not
requests; docs/limits.md).

The Go error after the wrap is read as Go's own texts are for Caddy and Traefik (``golang``:
``dial tcp ADDR: connect: connection refused``, ``i/o timeout``, ``x509: ...``, ``lookup ... no
such host``, ``EOF``), so the cause model is the same; the origin named is the one the Go error
dials, else the ingress rule's ``originService``.  A request the client gave up on (``context
canceled``, ``Incoming request ended abruptly``, ``stream N canceled by remote``) is no origin
error and no line of this family.

cloudflared before the 2021 proxy rewrite wrapped the same origin failure as ``errors.Wrap(err,
"Error proxying request to origin")`` and logged it with ``logRequestError()`` as ``CF-RAY: %s
Proxying to ingress %d error: %v`` (cloudflare/cloudflared origin/proxy.go, 2021.x): read the
same way, the Go error after the wrap's colon.  Other errors that line can carry (``Error writing
response header``: the client side) are not origin errors and no line of this family.

``cloudflared access`` (the client end of a tunnel: ``access tcp``/``ssh``, a SOCKS proxy) carries a
stream over a WebSocket to the public hostname and logs a failed dial as ``ERR failed to connect to
origin error="<Go error>" originURL=...`` (cloudflare/cloudflared carrier/websocket.go
``ServeStream``): read with its Go error too (gorilla/websocket's ``websocket: bad handshake``: the
hostname answered the upgrade with something other than 101, an invalid response).  No status is
written: the client's dial failed, what the edge answered is not in the line.

cloudflared of 2018-2020 logged with logrus, not zerolog: ``TunnelHandler.logError()`` writes
``h.logger.WithError(err).Error("HTTP request error")`` and answers the edge ``502 Bad Gateway``
(cloudflare/cloudflared origin/tunnel.go, release 2018.12.1 c69437ba), the error being the origin
round trip's Go error.  Its formatter is logrus' ``TextFormatter`` (log/log.go ``CreateLogger()``):
on a terminal ``printColored()`` writes ``ERRO[0054] HTTP request error<padded to 44>
connectionID=2 error="..."`` (the level's first four letters, seconds since start; ``[<time>]``
with ``FullTimestamp``, nothing with ``DisableTimestamp``), off a terminal ``time="..."
level=error msg="HTTP request error" ... error="..."`` (sirupsen/logrus text_formatter.go
``Format()``, ``printColored()``).  Both are read (``_LOGRUS``): a 502 whose cause is the Go
error.  The other logrus lines of those years (``Serve tunnel error``: the edge connection;
``unable to connect to the origin``: the start-up check) are no request's failure, left unread.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from why502.catalog.terms import go_error_family, term
from why502.parsers.lblogs.family import LogFamily
from why502.parsers.lblogs.golang import go_error_code, go_target
from why502.parsers.lblogs.model import LbRecord

#: cloudflared's wrap of an origin error (proxy/proxy.go), in the words people also retype
WRAP = "Unable to reach the origin service"
#: the older wrap (origin/proxy.go before 2021.9), cut off the Go error by its colon
OLD_WRAP = "Error proxying request to origin:"
# a blank that starts or ends its run, and an optional time with the blanks after it: the head
# of the three console lines below
_EDGE_BLANK = r"(?<!\s)\s|\s(?!\s)"
_TIME = r"(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d))?\s*"
# the older console line: logRequestError()'s "CF-RAY: %s Proxying to ingress %d error: %v".
# In it and the two lines below, the mark before the time is a quote (here) or the first or last
# blank of a run: a start at a blank inside a run reads what the run's first blank reads (no
# time can follow it, ``\s*`` takes the rest), and trying each one read the run to its end -- a
# line of blanks cost its square (3.2-13 s for 32 KB); the same matches
# (tests/proxies/test_cloudflared.py)
_OLD_CONSOLE = re.compile(
    r"(?:^|[`'\"]|" + _EDGE_BLANK + ")" + _TIME +
    r"ERR\s+(?:CF-RAY: (?P<ray>\S+) )?Proxying to ingress (?P<rule>\d+) error: "
    r"(?P<error>Error proxying request to origin: .*?)[`'\"]?\s*$")
_CONSOLE = re.compile(
    r"(?:^|" + _EDGE_BLANK + ")" + _TIME +
    r"(?P<level>ERR|WRN)\s+(?P<request_failed>Request failed\s+)?"
    r'error="(?P<error>(?:[^"\\]|\\.)*)"(?P<fields>.*)$')
# cloudflared access's carrier (carrier/websocket.go ServeStream: Msg("failed to connect to origin"))
_CARRIER = re.compile(
    r"(?:^|" + _EDGE_BLANK + ")" + _TIME +
    r'ERR\s+failed to connect to origin\s+error="(?P<error>(?:[^"\\]|\\.)*)"(?P<fields>.*)$')
# logrus' TextFormatter, both forms, of cloudflared's "HTTP request error" (origin/tunnel.go logError())
_LOGRUS = re.compile(
    r"(?:(?:^|[\s`'\"])(?:\x1b\[\d+m)?ERRO(?:\x1b\[0m)?(?:\[(?P<stamp>[^\]]*)\])?\s+"
    r"|\blevel=error\s+msg=\"?)HTTP request error\"?(?P<fields>\s.*)$")
_LOGRUS_TIME = re.compile(r'(?:^|[\s`\'"])time="(?P<time>[^"]+)"')
_LOGRUS_ERROR = re.compile(r'\berror=(?:"(?P<q>(?:[^"\\]|\\.)*)"|(?P<bare>[^\s"`]+))')
_FIELD = re.compile(r"\b(cfRay|originService|originURL|ingressRule|connIndex|dest)=(\S+)")
# a line of cloudflared's own (zerolog console: time, level, message, key=value fields it alone
# writes): counts for the family when a file's family is sniffed
_OWN = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (?:DBG|INF|WRN|ERR|FTL) .*(?:\bconnIndex=|\btunnelID=|"
    r"\boriginService=|\bcfRay=|\bingressRule=|Registered tunnel connection|Starting tunnel|"
    r"quick Tunnel|argotunnel|Initial protocol)")


def _origin(service: str | None) -> str | None:
    """``http://localhost:8080`` -> ``localhost:8080`` (the scheme's port when none is written)."""
    if not service:
        return None
    try:
        url = urlsplit(service)
        port = url.port
    except ValueError:
        return None
    if not url.hostname:
        return None
    port = port or {"http": 80, "https": 443}.get(url.scheme)
    host = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
    return f"{host}:{port}" if port else host


def _record(error: str, time: str | None, service: str | None, ray: str | None,
            carrier: bool = False, bare: bool = False) -> LbRecord | None:
    """``carrier``: the access client's dial (no status); ``bare``: the Go error unwrapped, as
    logrus-era cloudflared logged it (502, origin/tunnel.go logError())."""
    if carrier or bare:
        cause_text = error
    elif WRAP.lower() in error.lower():
        cause_text = error.split("cloudflared:", 1)[1].strip() if "cloudflared:" in error else ""
    elif error.startswith(OLD_WRAP):
        cause_text = error[len(OLD_WRAP):].strip()
    else:
        return None
    code = go_error_code(cause_text) if cause_text else None
    t = term(go_error_family(), code) if code else None
    return LbRecord(
        family=CLOUDFLARED.name, status=None if carrier else 502, made_by="lb", time=time, code=code,
        symptom=(t.symptom or None) if t else None,
        proxy_status=(t.proxy_status or None) if t else None,
        cause=(t.cause or None) if t else None,
        target=go_target(cause_text) or _origin(service), group=service,
        detail=error if not ray else f"{error} (cfRay {ray})", kind="error")


def parse_cloudflared_text(line: str) -> LbRecord | None:
    """One console line of cloudflared (the proxy's own origin-error line), or None."""
    if "HTTP request error" in line:
        return _parse_logrus(line)
    if "Proxying to ingress" in line:
        old = _OLD_CONSOLE.search(line)
        if old is not None:
            return _record(old["error"], old["time"], None, old["ray"])
    if "failed to connect to origin" in line:
        c = _CARRIER.search(line)
        if c is not None:
            url = dict(_FIELD.findall(c["fields"])).get("originURL")
            return _record(c["error"].replace('\\"', '"'), c["time"], url, None, carrier=True)
    if WRAP not in line and WRAP.lower() not in line.lower():
        return None
    m = _CONSOLE.search(line)
    if m is None:
        return None
    fields = dict(_FIELD.findall(m["fields"]))
    return _record(m["error"].replace('\\"', '"'), m["time"], fields.get("originService"),
                   fields.get("cfRay"))


def _parse_logrus(line: str) -> LbRecord | None:
    """cloudflared 2018-2020's logrus line of an origin error (module doc), or None."""
    m = _LOGRUS.search(line)
    if m is None:
        return None
    e = _LOGRUS_ERROR.search(m["fields"])
    if e is None:
        return None
    error = (e["q"] if e["q"] is not None else e["bare"]).replace('\\"', '"')
    stamp = m["stamp"]
    t = _LOGRUS_TIME.search(line)
    time = t["time"] if t else (stamp if stamp and not stamp.isdigit() else None)
    return _record(error, time, None, None, bare=True)


def is_cloudflared(obj: dict[str, Any]) -> bool:
    error = obj.get("error")
    return isinstance(error, str) and WRAP in error and (
        "originService" in obj or "cfRay" in obj or "connIndex" in obj or "level" in obj)


def parse_cloudflared_json(obj: dict[str, Any]) -> LbRecord | None:
    """One JSON line (``--log-format json``) of an origin error, or None."""
    if not is_cloudflared(obj):
        return None
    time = obj.get("time")
    service = obj.get("originService")
    ray = obj.get("cfRay")
    return _record(str(obj["error"]), time if isinstance(time, str) else None,
                   service if isinstance(service, str) else None, ray if isinstance(ray, str) else None)


def _is_origin_error(line: str) -> bool:
    return parse_cloudflared_text(line) is not None


def _own_line(line: str) -> bool:
    return bool(_OWN.search(line))


CLOUDFLARED = LogFamily(
    name="cloudflared", title="cloudflared", rank=70, is_json=is_cloudflared,
    parse_json=parse_cloudflared_json,
    # a search, not anchored (shippers' prefixes): tried after every strict format
    sniffers=((70, _is_origin_error),), text_parsers=(parse_cloudflared_text,),
    own_line=_own_line,
)
"""cloudflared: no default origin timeout of its own here (its ``connectTimeout`` is 30 s, the
request itself is not bounded by it)."""
