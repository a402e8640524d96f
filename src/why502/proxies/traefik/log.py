"""Traefik's log family: its access logs (JSON and Common Log Format) and error lines, read into
``LbRecord`` (``TRAEFIK``, reached through ``Hooks.log_family``; moved here from
``parsers.lblogs.traefik`` when Traefik joined the registry, as Envoy's and Caddy's did).

Traefik (https://doc.traefik.io/traefik/observability/access-logs/) writes ``OriginStatus`` =
``DownstreamStatus`` = 502 both when it failed to reach the server and when the server answered
502; its own error bodies are Go's ``http.StatusText`` (``Bad Gateway``, 11 bytes; ``Gateway
Timeout``, 15; ``pkg/proxy/httputil/proxy.go`` ``ErrorHandler()``), so ``OriginContentSize``
equal to that length (or no ``ServiceURL`` at all) says Traefik made it.  Its error lines carry
Go's error text (``parsers.lblogs.golang``).
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from why502.catalog.terms import go_error_family, term
from why502.parsers.lblogs.family import LogFamily
from why502.parsers.lblogs.golang import clf_time, go_error_code, go_target
from why502.parsers.lblogs.model import LbRecord, resolved, to_float, to_int
from why502.proxies.traefik.counts import COUNTS, FOLD

if TYPE_CHECKING:
    import polars as pl

    from why502.parsers.lblogs.fold import BlockFold

_TRAEFIK_CLF = re.compile(
    r'^(?P<client>\S+) \S+ \S+ \[(?P<time>[^\]]+)\] "(?P<req>[^"]*)" (?P<status>\S+) (?P<size>\S+) '
    r'(?:"[^"]*"|-) (?:"[^"]*"|-) (?P<count>\d+) (?:"(?P<router>[^"]*)"|-) (?:"(?P<url>[^"]*)"|-) '
    r'(?P<dur>\d+)ms$'
)
_TRAEFIK_ERR = re.compile(
    # oxy utils/handler.go StdHandler: log.Debugf("'%d %s' caused by: %v"); people retype it
    # in titles without the quotes ("502 Bad Gateway caused by: EOF")
    r"(?:'|\b)(?P<status>\d{3}) [A-Za-z ]+'? caused by: (?P<msg>[^\"]+)|"
    r"\b(?P<status2>5\d\d) [A-Z][A-Za-z ]+ error=\"(?P<msg2>(?:[^\"\\]|\\.)*)\"|"
    # Traefik 1.x's forwarder (vulcand/oxy forward/fwd.go ServeHTTP(): log.Errorf("Error forwarding
    # to %v, err: %v", req.URL, err), then the error handler answers): the status is not in the line,
    # ComputeStatusCode's reading of the error gives it (``_computed_status``)
    r"\bError forwarding to (?P<url3>[a-z]+://\S+), err: (?P<msg3>[^\"]+?)\s*\"?\s*$|"
    # Traefik 3's error handler named by its caller (v3.0-3.2 pkg/server/service/proxy.go, v3.3+
    # pkg/proxy/httputil/proxy.go ErrorHandlerWithContext(): Msgf("%d %s", ComputeStatusCode(err), ...)
    # with Err(err)), its ``error`` field unquoted: zerolog's ConsoleWriter quotes a value only when
    # needsQuote() finds a space, a quote or a control byte (rs/zerolog console.go), so ``error=EOF`` is
    # bare, and a log viewer that re-renders the fields (``> 502 Bad Gateway | error=dial tcp ...``,
    # fosrl/pangolin#1028) drops the quotes: the status and the error are the same event either way
    r"\b(?:server/service|httputil)/proxy\.go:\d{1,6} > (?P<status4>5\d\d) [A-Z][A-Za-z ]{1,40}?"
    r"\s{0,4}[|,;]?\s{0,4}error=(?P<msg4>[^\"\s][^\"\r\n]*)"
)
# a field after a bare value (zerolog writes ``error=EOF routerName=...``): where the value ends.
# Started at a run's first blank only: a start inside the run finds what the first does, and
# each read the run to its end (12 s for 32 KB of blanks); tests/project/test_linear_regexes.py
_NEXT_FIELD = re.compile(r"(?<!\s)\s+[A-Za-z]\w{0,64}=")


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
    return "DownstreamStatus" in obj or "OriginStatus" in obj or is_traefik_error_json(obj)


# Traefik 3's proxy ErrorHandler, the file its zerolog JSON names as ``caller``: v3.0-3.2
# pkg/server/service/proxy.go errorHandler(), v3.3+ pkg/proxy/httputil/proxy.go
# ErrorHandlerWithContext(); both log ``logger.Debug().Err(err).Msgf("%d %s", statusCode, ...)``
_ERROR_CALLER = re.compile(r"traefik/v\d+/pkg/(?:server/service|proxy/httputil)/proxy\.go:\d+")


def is_traefik_error_json(obj: dict[str, Any]) -> bool:
    """Traefik 3's JSON log of a failed proxy attempt (the ``error`` field beside a ``caller`` in
    its proxy's error handler), whole or cut before its ``message``."""
    caller, err = obj.get("caller"), obj.get("error")
    return isinstance(err, str) and isinstance(caller, str) and _ERROR_CALLER.search(caller) is not None


def _computed_status(err: str) -> int:
    """The status Traefik's ComputeStatusCode() gives ``err`` (pkg/proxy/httputil/proxy.go): 502
    for EOF and a network error, 504 for a network error that timed out, 499 for a request the
    client cancelled; read from the Go error's text when the line lost its message."""
    if "context canceled" in err:
        return 499
    if "i/o timeout" in err or "timeout awaiting" in err or "Timeout exceeded" in err:
        return 504
    if "x509: " in err or "tls: " in err:
        return 500  # a certificate error is no net.Error: ComputeStatusCode's default (oxy's StdHandler too)
    return 502


def parse_traefik_json(obj: dict[str, Any]) -> LbRecord | None:
    if is_traefik_error_json(obj):
        err = str(obj["error"])
        m = re.match(r"^(\d{3}) ", str(obj.get("message") or ""))
        answered = int(m.group(1)) if m else _computed_status(err)
        if answered < 500:
            return None  # a client that went away (499), no failure of the proxy
        return _error_record(answered, err, str(obj.get("time") or "") or None)
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
        family=TRAEFIK.name, status=status, made_by="lb" if own else "backend",
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
        family=TRAEFIK.name, status=status, made_by="lb" if own else "backend",
        time=clf_time(m["time"]), code=_traefik_code(status, url, router) if own else None,
        target=url, group=router,
        request=f"{req[0]} {req[1]}" if len(req) >= 2 else None, client=m["client"],
        duration_ms=float(m["dur"]),
    )
    return resolved(rec)


def parse_traefik_error(line: str) -> LbRecord | None:
    """Traefik's debug line for a failed proxy attempt: v1 ``'504 Gateway Timeout' caused by:
    dial tcp ...: i/o timeout`` (and v1's forwarder line ``Error forwarding to URL, err: ...``); v2/v3
    ``502 Bad Gateway error="dial tcp ...: connect: connection refused"`` (after its caller, the ``error``
    value bare too: ``httputil/proxy.go:121 > 502 Bad Gateway error=EOF``)."""
    m = _TRAEFIK_ERR.search(line)
    if m is None:
        return None
    msg = (m["msg"] or m["msg2"] or m["msg3"] or "").replace('\\"', '"')
    if m["msg4"]:
        msg = _NEXT_FIELD.split(m["msg4"], 1)[0].rstrip("` ")
    tm = re.match(r"^(?:time=\")?(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\S*?)\"?\s", line)
    status = int(m["status"] or m["status2"] or m["status4"] or 0)
    if not status:  # v1's forwarder line says no status: ComputeStatusCode's reading of the error
        status = _computed_status(msg)
        if status < 500:
            return None  # a client that went away (context canceled: 499), no failure of the proxy
    return _error_record(status, msg, tm.group(1) if tm else None)


def _error_record(status: int, msg: str, time: str | None) -> LbRecord:
    """A failed proxy attempt: the status Traefik answered and the Go error that made it."""
    code = go_error_code(msg)
    t = term(go_error_family(), code) if code else None
    return LbRecord(
        family=TRAEFIK.name, status=status, made_by="lb", time=time, code=code,
        symptom=t.symptom or None if t else None, proxy_status=t.proxy_status or None if t else None,
        cause=t.cause or None if t else None, target=go_target(msg), detail=msg, kind="error",
    )


def _frame(lines: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """The vectorised reader (``frame.traefik_frame``), imported when a batch is read."""
    from why502.proxies.traefik.frame import traefik_frame

    return traefik_frame(lines)


def _block(data: bytes) -> tuple[pl.DataFrame, list[int]] | None:
    """The native block reader (``frame.traefik_block``)."""
    from why502.proxies.traefik.frame import traefik_block

    return traefik_block(data)


def _answers(data: bytes) -> tuple[pl.DataFrame, list[int], pl.DataFrame] | None:
    """The native block reader that counts the answered requests (``frame.traefik_answers_block``)."""
    from why502.proxies.traefik.frame import traefik_answers_block

    return traefik_answers_block(data)


def _fold() -> BlockFold | None:
    """``stats``' and ``classify``'s summary's fold of its JSON lines (``parsers.lblogs.jsonfold``)
    and of its common-format lines (``clffold``), imported when a read starts."""
    from why502.parsers.lblogs.jsonfold import json_fold
    from why502.proxies.traefik.clffold import traefik_fold

    json = json_fold(COUNTS, FOLD, parse_traefik_json)
    return traefik_fold(json) if json is not None else None


TRAEFIK = LogFamily(
    counts=COUNTS,
    name="traefik", title="Traefik", rank=50, is_json=is_traefik, parse_json=parse_traefik_json,
    # its CLF line is strict (anchored, ``NNNms`` at the end): tried early; its error line is a
    # search, tried after every strict format
    sniffers=((20, is_traefik_clf), (60, lambda line: parse_traefik_error(line) is not None)),
    text_parsers=(parse_traefik_clf, parse_traefik_error), frame=_frame, block=_block, fold=_fold,
    answers=_answers,
    # the status of a request line: its JSON key, or the field after the quoted request (CLF)
    status_patterns=(re.compile(rb'^[^\n]*?"DownstreamStatus":(\d{1,3})[,}]', re.M),
                     re.compile(rb'^[^\n]*?\] "[A-Z]+ [^"\n]*" (\d{1,3}) ', re.M)),
)
"""Traefik: no default timeout (it waits without limit by default)."""
