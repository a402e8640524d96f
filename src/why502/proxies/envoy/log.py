"""Envoy's log family (``ENVOY``, reached through ``Hooks.log_family``; ``parsers.lblogs`` names no
registered proxy, issue 23).

Envoy access logs: the default text format, Istio's sidecar format (text, old and new), and
JSON formats (snake_case, camelCase, nested keys as users configure them).

Envoy's default format (https://www.envoyproxy.io/docs/envoy/latest/configuration/observability/access_log/usage#default-format-string)::

    [%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE%
    %RESPONSE_FLAGS% %BYTES_RECEIVED% %BYTES_SENT% %DURATION% %RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%
    "%REQ(X-FORWARDED-FOR)%" "%REQ(USER-AGENT)%" "%REQ(X-REQUEST-ID)%" "%REQ(:AUTHORITY)%" "%UPSTREAM_HOST%"

Istio's default adds ``%RESPONSE_CODE_DETAILS% %CONNECTION_TERMINATION_DETAILS%
"%UPSTREAM_TRANSPORT_FAILURE_REASON%"`` after the flags and ``%UPSTREAM_CLUSTER%`` (and
addresses) after the upstream host (https://istio.io/latest/docs/tasks/observability/logs/access-log/).
So the text parser reads the fixed head, then finds the three integers (bytes received, bytes
sent, duration) that every variant has, and reads what stands before and after them.

Who made the status: a failure flag (``UF``, ``UH``, ``UT`` ...,
https://www.envoyproxy.io/docs/envoy/latest/configuration/observability/access_log/usage#config-access-log-format-response-flags)
means Envoy answered itself; ``via_upstream`` or no flag means the upstream's response was relayed.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from why502.parsers.lblogs.family import LogFamily
from why502.parsers.lblogs.model import LbRecord, resolved, to_float, to_int
from why502.proxies.envoy.counts import COUNTS, FOLD
from why502.proxies.envoy.keys import (
    CLIENT_KEYS,
    CLUSTER_KEYS,
    DETAILS_KEYS,
    DURATION_KEYS,
    FLAG_KEYS,
    HOST_KEYS,
    METHOD_KEYS,
    PATH_KEYS,
    RESPONSE_DURATION_KEYS,
    STATUS_KEYS,
    TFR_KEYS,
    TIME_KEYS,
    UPSTREAM_KEYS,
    UST_KEYS,
)
from why502.proxies.envoy.proxy import ROUTE_TIMEOUT

if TYPE_CHECKING:
    import polars as pl

    from why502.parsers.lblogs.counts import BlockCounter
    from why502.parsers.lblogs.fold import BlockFold

NAME = "envoy"  # the family: this proxy's name (--log-type envoy, the vocabulary's family)

# The flag that names the failure, most specific first (URX only says "retried").
PRIMARY_FLAGS: tuple[str, ...] = (
    "UH", "UF", "UO", "UT", "UC", "UR", "LR", "UPE", "NR", "NC", "DF", "RL", "UAEX", "URX",
)
CLIENT_FLAGS = frozenset({"DC", "DPE", "SI", "DT"})

_HEAD = re.compile(
    r'(?:\[(?P<time>\d{4}-\d\d-\d\dT[^\]]*)\] )?"(?P<req>[^"]*)" (?P<code>\d{1,3}) '
    r'(?P<flags>[A-Z]+(?:,[A-Z]+)*|-) '
)
_TOKEN = re.compile(r'"([^"]*)"|(\S+)')
# a key=value line's flags key (``parse_envoy_kv``; ``frame._kv`` takes the same lines)
_KV_FLAG = re.compile(r"(?:^|\s)(?:response_flags?|responseFlags)=")


def is_envoy_text(line: str) -> bool:
    m = _HEAD.search(line)
    return m is not None and (m["time"] is not None or "|" in line or " - " in line[m.end():])


# Keys a JSON access log names after command operators only Envoy has
# (envoyproxy/envoy docs/root/configuration/observability/access_log/usage.rst:
# %RESPONSE_FLAGS%, %RESPONSE_CODE_DETAILS%, %UPSTREAM_TRANSPORT_FAILURE_REASON%), in the
# snake_case of Envoy's own examples and the camelCase of Gloo's and users' formats.  A format
# may leave the flags out and keep the others (Gloo Edge's documented JSON access log:
# "upstreamTransportFailureReason" beside "responseCode", no flags).
_ENVOY_KEYS = ("response_flags", "responseFlags", "response_flag", "response_code_details",
               "responseCodeDetails", "upstream_transport_failure_reason",
               "upstreamTransportFailureReason")


def is_envoy_json(obj: dict[str, Any]) -> bool:
    return any(k in obj for k in _ENVOY_KEYS)


def _primary(flags: list[str]) -> str | None:
    for f in PRIMARY_FLAGS:
        if f in flags:
            return f
    return None


# The transport failure reason of a UF: source/common/network/connection_impl.cc writes
# "delayed connect error: " + errno, or in newer Envoy its strerror text (errorDetails());
# %RESPONSE_CODE_DETAILS% turns the spaces into '_' ("delayed_connect_error:_Connection_refused").
_REFUSED = r"connect[_ ]error:[_ ]?(?:111\b|connection[_ ]refused)"
_UNREACHABLE = r"connect[_ ]error:[_ ]?(?:11[23]\b|no[_ ]route[_ ]to[_ ]host|host[_ ]is[_ ]unreachable)"


def _refine(code: str | None, details: str, tfr: str, status: int | None) -> tuple[str | None, str | None]:
    """(symptom, proxy_status) more precise than the flag alone, from the details and the
    transport failure reason (``delayed_connect_error:_111``, ``TLS_error``, ``connection_termination``)."""
    text = f"{details} {tfr}".lower()
    if code == "UAEX" and status is not None and status >= 500:
        return None, "proxy_internal_error"  # the authorization service failed, not a denial
    if code == "UF":
        if "tls_error" in text or "certificate" in text:
            return "tls-failure", "tls_protocol_error"
        if "timeout" in text or "_110" in text or "timed_out" in text:
            return "connect-timeout", "connection_timeout"
        # connection_impl.cc: "delayed connect error: " + errno (111) or, newer, its strerror text
        if re.search(_REFUSED, text):
            return "connection-refused", "connection_refused"
        if re.search(_UNREACHABLE, text):
            return "unreachable", "destination_ip_unroutable"
    if code in ("NR", "NC") and status is not None and status >= 500:
        # router.cc Filter::decodeHeaders(): a route whose cluster does not exist ("unknown cluster")
        # is answered with the route's cluster_not_found_response_code (503 unless set otherwise)
        # and the flag NC (NoClusterFound); Envoy before NC existed set NR (NoRouteFound) there.  A
        # route that matches nothing is NR with 404: only a 5xx with NR/NC is a missing cluster.
        return "upstream-not-configured", "destination_not_found"
    if code in ("UC", "UR") and "connection_termination" in text:
        return "premature-close", "connection_terminated"
    if code == "UPE" and ("too_large" in text or "too_many_headers" in text or "headers_too" in text):
        return "header-too-big", "http_protocol_error"
    return None, None


# %RESPONSE_CODE_DETAILS% of an answer Envoy wrote itself with no response flag: the route's
# ``direct_response`` (Envoy's response_code_details reference: "direct_response: The request
# was handled by a direct response"; Envoy Gateway answers 500 this way for a route whose
# backendRefs do not resolve, its troubleshooting page).  Not the backend's 5xx.
_OWN_DETAILS = ("direct_response",)


def _made_by(flags: list[str], details: str, status: int | None) -> str:
    primary = _primary(flags)
    if primary is not None and not (primary == "URX" and "via_upstream" in details):
        return "lb"
    if "via_upstream" in details:
        return "backend"
    if details.startswith(_OWN_DETAILS):
        return "lb"
    if not status:
        return "unknown"  # a TCP proxy entry (code 0) with no flag: nothing failed that Envoy saw
    return "backend"


def _record(
    *, status: int | None, flags: list[str], details: str, tfr: str, time: str | None,
    request: str | None, host: str | None, upstream: str | None, cluster: str | None,
    duration: float | None, upstream_ms: float | None, client: str | None,
) -> LbRecord:
    flags = [f for f in flags if f and f != "-"]
    code = _primary(flags)
    symptom, proxy_status = _refine(code, details, tfr, status)
    made_by = _made_by(flags, details, status)
    retries = 1 if "URX" in flags else None
    rec = LbRecord(
        family=NAME, status=status, made_by=made_by, time=time,
        code=code if made_by == "lb" else None, symptom=symptom, proxy_status=proxy_status,
        target=upstream, group=cluster, request=request, host=host, client=client,
        duration_ms=duration, upstream_ms=upstream_ms, retries=retries,
        detail=" ".join(x for x in (",".join(flags), details, tfr) if x and x != "-") or None,
    )
    return resolved(rec)


def _dash(v: str | None) -> str | None:
    return None if v in (None, "", "-") else v


def parse_envoy_text(line: str) -> LbRecord | None:
    m = _HEAD.search(line)
    if m is None:
        return None
    req = m["req"].split(" ")
    request = f"{req[0]} {req[1]}" if len(req) >= 2 and req[0] != "-" else None
    toks = [(t.group(1), True) if t.group(1) is not None else (t.group(2), False)
            for t in _TOKEN.finditer(line[m.end():])]
    # find bytes_received bytes_sent duration: three unquoted integers in a row
    idx = next((i for i in range(len(toks) - 2)
                if all(not q and t.isdigit() for t, q in toks[i:i + 3])), None)
    if idx is None:
        return None
    before = toks[:idx]
    details = next((t for t, q in before if not q), "")
    tfr = next((t for t, q in reversed(before) if q), "")
    after = toks[idx + 3:]
    duration = to_float(toks[idx + 2][0])
    ust = to_float(after[0][0]) if after else None
    quoted = [t for t, q in after if q]
    host = _dash(quoted[3]) if len(quoted) > 3 else None
    upstream = _dash(quoted[4]) if len(quoted) > 4 else None
    # Istio: %UPSTREAM_CLUSTER% is the first unquoted token after the quoted block
    cluster = None
    if len(quoted) >= 5:
        last_q = max(i for i, (_, q) in enumerate(after) if q)
        tail = [t for t, q in after[last_q + 1:] if not q]
        cluster = _dash(tail[0]) if tail else None
    return _record(
        status=to_int(m["code"]), flags=m["flags"].split(","), details=details if details != "-" else "",
        tfr=tfr if tfr != "-" else "", time=m["time"], request=request, host=host, upstream=upstream,
        cluster=cluster, duration=duration, upstream_ms=ust, client=None,
    )


def _get(obj: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        cur: Any = obj
        for part in k.split("."):
            cur = cur.get(part) if isinstance(cur, dict) else None
        if cur not in (None, "", "-"):
            return cur
    return None


def _text(obj: dict[str, Any], *keys: str) -> str | None:
    """``_get`` of a text field: a string as written, a number as its text (a cluster named 12),
    anything else (an object, a list, a boolean) None.  A record's text fields are text: a float
    there failed ``stats``' String column with an internal error (``tests/stats/test_json_native.py``)."""
    value = _get(obj, *keys)
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def parse_envoy_json(obj: dict[str, Any]) -> LbRecord | None:
    if not is_envoy_json(obj):
        return None
    flags = str(_get(obj, *FLAG_KEYS) or "")
    status = to_int(_get(obj, *STATUS_KEYS))
    method = _text(obj, *METHOD_KEYS)
    path = _text(obj, *PATH_KEYS)
    rec = _record(
        status=status, flags=flags.split(","),
        details=str(_get(obj, *DETAILS_KEYS) or ""),
        tfr=str(_get(obj, *TFR_KEYS) or ""),
        time=_text(obj, *TIME_KEYS),
        request=f"{method} {path}" if method and path else None,
        host=_text(obj, *HOST_KEYS),
        upstream=_text(obj, *UPSTREAM_KEYS, "upstream.host"),
        cluster=_text(obj, *CLUSTER_KEYS, "upstream.service"),
        duration=to_float(_get(obj, *DURATION_KEYS)),
        upstream_ms=to_float(_get(obj, *UST_KEYS, "upstream.duration")),
        client=_text(obj, *CLIENT_KEYS),
    )
    if rec.made_by == "backend" and status is not None and status >= 500 and _no_upstream_byte(obj):
        return replace(rec, made_by="lb")
    return rec


def _no_upstream_byte(obj: dict[str, Any]) -> bool:
    """The format logs %RESPONSE_DURATION% and it is empty: no upstream answered, so a 5xx
    without a response flag is still the proxy's own (a local reply), not the backend's."""
    for k in RESPONSE_DURATION_KEYS:
        if k in obj:
            return obj[k] in (None, "", "-")
    return False


# A ``key=value`` line: a word of letters, digits and ``_.-`` after a space (or the line's
# start), ``=``, and a value up to the next space or a double-quoted one (Envoy writes a format
# string's operators as they come: a user quoting %REQ(USER-AGENT)% keeps its spaces inside).
_KV_PAIR = re.compile(r'(?:^|(?<=\s))([A-Za-z_][\w.\-]*)=("(?:[^"\\]|\\.)*"|\S*)')
# %RESPONSE_FLAGS%: the flags, comma-separated, or "-" when there are none (usage.rst); a
# line of this format has the key whatever the request's outcome.
_FLAGS_VALUE = re.compile(r"[A-Z]+(?:,[A-Z]+)*|-")


def kv_fields(line: str) -> dict[str, str]:
    """The ``key=value`` pairs of a line (the first of a key written twice), quotes removed."""
    out: dict[str, str] = {}
    for m in _KV_PAIR.finditer(line):
        value = m.group(2)
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        out.setdefault(m.group(1), value)
    return out


def parse_envoy_kv(line: str) -> LbRecord | None:
    """A ``key=value`` format (users' own).  Its keys are read as a JSON format's
    (``parse_envoy_json``: the operators' snake_case or camelCase names, ``status`` for the
    code), so a user who names them after the operators gets the same record either way.  It
    is Envoy's when it has a flags key whose value is flags or ``-``: a success line is one
    too (only failed lines were read before, and a log of 25 % 503s read as not Envoy's at all
    and came out "healthy")."""
    if "=" not in line or _KV_FLAG.search(line) is None:
        return None
    fields = kv_fields(line)
    flags = next((fields[k] for k in FLAG_KEYS if k in fields), None)
    if flags is None or not _FLAGS_VALUE.fullmatch(flags):
        return None
    if "status_details" in fields:  # this format's first reader's name for the details
        fields.setdefault("response_code_details", fields["status_details"])
    return parse_envoy_json(fields)


def envoy_frame(lines: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    """The vectorised reader (``frame.envoy_frame``: text and JSON lines), imported when a batch
    is read."""
    from why502.proxies.envoy.frame import envoy_frame as frame

    return frame(lines)


#: ``watch``'s status regexes (``LogFamily.status_patterns``): a JSON line's response_code, and
#: the field after the quoted request of the text formats (``_envoyscan.c`` takes only lines it
#: reads as this one does)
JSON_STATUS = re.compile(rb'^[^\n]*?"response_code":(\d{1,3})[,}]', re.M)
TEXT_STATUS = re.compile(rb'^[^\n]*?\] "[A-Z]+ [^"\n]*" (\d{1,3}) ', re.M)
#: a request below 500 may still be its own failure: a response flag (a gRPC 200 with UT after
#: the route timed out) -- ``LogFamily.own_below_500``, a JSON line's flags key or the text
#: line's field after the status that is not "-"
OWN_FLAGGED = (re.compile(rb'"(?:response_flags?|responseFlags)":"[A-Z]'),
               re.compile(rb'\] "[A-Z]+ [^"\n]*" \d{1,3} [A-Z]'))


def _text_counter(status_rx: re.Pattern[bytes] | None) -> BlockCounter | None:
    """``watch``'s native counter of the text lines (``textcount.py``, imported when the agent
    follows this family: it imports this module)."""
    from why502.proxies.envoy.textcount import text_counter

    return text_counter(status_rx)


def _block(data: bytes) -> tuple[pl.DataFrame, list[int]] | None:
    """The native block reader of its JSON lines (``frame.envoy_block``)."""
    from why502.proxies.envoy.frame import envoy_block

    return envoy_block(data)


def _answers(data: bytes) -> tuple[pl.DataFrame, list[int], pl.DataFrame] | None:
    """``diagnose``'s block reader that counts the lines that surely answered, text or JSON
    (``frame.envoy_answers_block``)."""
    from why502.proxies.envoy.frame import envoy_answers_block

    return envoy_answers_block(data)


def _fold() -> BlockFold | None:
    """``stats``' and ``classify``'s summary's fold of its JSON lines (``parsers.lblogs.jsonfold``)
    and of its text lines (``textfold``), imported when a read starts."""
    from why502.parsers.lblogs.jsonfold import json_fold
    from why502.proxies.envoy.textfold import envoy_fold

    json = json_fold(COUNTS, FOLD, parse_envoy_json)
    return envoy_fold(json) if json is not None else None


def _is_kv(line: str) -> bool:
    return parse_envoy_kv(line) is not None


ENVOY = LogFamily(
    counts=COUNTS,
    name=NAME, title="Envoy", rank=30, is_json=is_envoy_json, parse_json=parse_envoy_json,
    # its default/Istio text line is strict (a bracketed time or Istio's separators): tried
    # early; the key=value format is a search for a flags key, tried after every strict format
    sniffers=((30, is_envoy_text), (70, _is_kv)),
    text_parsers=(parse_envoy_text, parse_envoy_kv), frame=envoy_frame, block=_block, fold=_fold,
    answers=_answers,
    default_timeout=(ROUTE_TIMEOUT,
                     "Envoy route timeout, default 15 s (Istio: none unless a VirtualService sets one)"),
    # the status of a request line: JSON's response_code, or the field after the quoted request
    status_patterns=(JSON_STATUS, TEXT_STATUS), own_below_500=OWN_FLAGGED,
    text_counts=_text_counter,
)
