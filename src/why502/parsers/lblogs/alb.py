"""AWS Application Load Balancer and Classic Load Balancer access-log entries.

ALB entry syntax (space-separated, some fields double-quoted), in order:
``type time elb client:port target:port request_processing_time target_processing_time
response_processing_time elb_status_code target_status_code received_bytes sent_bytes "request"
"user_agent" ssl_cipher ssl_protocol target_group_arn "trace_id" "domain_name" "chosen_cert_arn"
matched_rule_priority request_creation_time "actions_executed" "redirect_url" "error_reason"
"target:port_list" "target_status_code_list" "classification" "classification_reason"
conn_trace_id`` (and newer fields after it, ignored).  AWS: "target_processing_time ... is set to
-1 if the load balancer can't dispatch the request to a target ... or if the target closes the
connection before the idle timeout"; ``target_status_code`` is ``-`` when no response came from
the target (https://docs.aws.amazon.com/elasticloadbalancing/latest/application/load-balancer-access-logs.html#access-log-entry-syntax).
Who made a 5xx is read from those two fields, never from the status alone.

Classic ELB: ``time elb client:port backend:port request_processing_time
backend_processing_time response_processing_time elb_status_code backend_status_code
received_bytes sent_bytes "request" "user_agent" ssl_cipher ssl_protocol``
(https://docs.aws.amazon.com/elasticloadbalancing/latest/classic/access-log-collection.html).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING

from why502.parsers.lblogs.family import LogFamily
from why502.parsers.lblogs.model import LbRecord, resolved, to_float, to_int

if TYPE_CHECKING:
    import polars as pl

    from why502.parsers.lblogs.batch import AlbFold

_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|(\S+)')
_ALB_HEAD = re.compile(r"^(?:http|https|h2|grpcs|ws|wss) \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z \S+ ")
_ELB = re.compile(
    r"(?:^|[\s:])(?P<time>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (?P<elb>[^\s/]+) (?P<client>\S+) "
    r"(?P<backend>\S+) (?P<rq>-?[\d.]+) (?P<bk>-?[\d.]+) (?P<rs>-?[\d.]+) (?P<status>\S+) "
    r"(?P<bstatus>\S+) \d+ \d+ \"(?P<request>[^\"]*)\""
)


def is_alb(line: str) -> bool:
    return _ALB_HEAD.match(line) is not None


def is_elb(line: str) -> bool:
    return not is_alb(line) and _ELB.search(line) is not None


def _tokens(line: str) -> list[str]:
    return [m.group(1) if m.group(1) is not None else m.group(2) for m in _TOKEN.finditer(line)]


def _request(raw: str | None) -> str | None:
    if not raw or raw.startswith("- - -"):
        return None
    parts = raw.split(" ")
    if len(parts) >= 2:
        url = parts[1]
        path = re.sub(r"^[a-z]+://[^/]*", "", url) or "/"
        return f"{parts[0]} {path}"
    return raw


def _host(raw: str | None) -> str | None:
    m = re.match(r"^\S+ [a-z]+://([^/:]+)", raw or "")
    return m.group(1) if m else None


# AWS ALB troubleshooting, "HTTP 504: Gateway timeout": "The load balancer failed to establish a
# connection to the target before the connection timeout expired (10 seconds)".  A 504 whose request
# was never dispatched (request_processing_time -1: "the load balancer can't dispatch the request to
# a target", access-log field docs) and whose response came about 10 s after request_creation_time
# is that connect timeout; a -1 row that waited the idle timeout (60 s by default) is not.
CONNECT_TIMEOUT_S = (9.0, 11.5)


def _waited(time: str | None, created: str | None) -> float | None:
    """Seconds from ``request_creation_time`` to ``time`` (both ISO 8601 with a Z), or None."""
    try:
        a = datetime.fromisoformat((time or "").replace("Z", "+00:00"))
        b = datetime.fromisoformat((created or "").replace("Z", "+00:00"))
    except ValueError:
        return None
    return (a - b).total_seconds()


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None or seconds < 0 else seconds * 1000.0


def parse_alb(line: str) -> LbRecord | None:
    if not is_alb(line):
        return None
    f = _tokens(line)
    if len(f) < 12:
        return None

    def at(i: int) -> str | None:
        return f[i] if i < len(f) and f[i] != "-" else None

    status = to_int(f[8])
    tstatus = to_int(f[9])
    target = at(4)
    tproc = to_float(f[6])
    error_reason = at(24)
    tg = at(16)
    # the name after the ARN's ":targetgroup/" (the first: the readers of a batch take that one)
    group = tg.split(":targetgroup/", 1)[1].split("/")[0] if tg and ":targetgroup/" in tg else tg
    made_by = "backend"
    code: str | None = None
    if status is not None and (tstatus is None or tstatus != status):
        made_by = "lb"
        if error_reason:
            code = error_reason
        elif status == 504 and (to_float(f[5]) or 0.0) < 0 and CONNECT_TIMEOUT_S[0] <= (
                _waited(f[1], at(21)) or 0.0) <= CONNECT_TIMEOUT_S[1]:
            code = "target-connect-timeout"
        elif status == 504:
            code = "target-timeout"
        elif status == 503 and target is None:
            code = "no-targets"
        elif status in (502, 503) and (tproc is None or tproc < 0):
            code = "target-unreachable"
        elif status == 502:
            code = "target-closed"
        elif 400 <= status < 500 and tstatus is None:
            code = "lb-rejected"
    targets = at(25)
    retries = None
    if targets and " " in targets.strip():
        retries = len(targets.split()) - 1
    total = sum(x for x in (to_float(f[5]), tproc, to_float(f[7])) if x is not None and x >= 0)
    rec = LbRecord(
        family="alb", status=status, made_by=made_by, time=f[1], code=code,
        backend_status=tstatus, target=target, group=group, request=_request(at(12)),
        host=_host(at(12)), client=at(3), duration_ms=total * 1000.0 if tproc is not None else None,
        upstream_ms=_ms(tproc), retries=retries, detail=error_reason,
    )
    return resolved(rec)


def parse_elb(line: str) -> LbRecord | None:
    m = _ELB.search(line)
    if m is None or is_alb(line):
        return None
    status = to_int(m["status"])
    bstatus = to_int(m["bstatus"])
    backend = m["backend"] if m["backend"] != "-" else None
    bproc = to_float(m["bk"])
    made_by = "backend"
    code = None
    if status is not None and bstatus is None and status >= 500:
        made_by, code = "lb", "backend-unreachable"
    elif status is not None and bstatus is not None and bstatus != status:
        made_by = "lb"
    parts = [to_float(m[k]) for k in ("rq", "bk", "rs")]
    total = sum(x for x in parts if x is not None and x >= 0)
    rec = LbRecord(
        family="elb", status=status, made_by=made_by, time=m["time"], code=code,
        backend_status=bstatus, target=backend, group=m["elb"], request=_request(m["request"]),
        host=_host(m["request"]), client=m["client"], duration_ms=total * 1000.0,
        upstream_ms=_ms(bproc), detail=None,
    )
    return resolved(rec)


def _alb_frame(lines: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    from why502.parsers.lblogs.batch import alb_frame  # polars only when a batch is read

    return alb_frame(lines)


def _alb_block(data: bytes) -> tuple[pl.DataFrame, list[int]] | None:
    from why502.parsers.lblogs.batch import alb_block

    return alb_block(data)


def _alb_answers(data: bytes) -> tuple[pl.DataFrame, list[int], pl.DataFrame] | None:
    """The native block reader that counts the answered requests (``batch.alb_answers_block``)."""
    from why502.parsers.lblogs.batch import alb_answers_block

    return alb_answers_block(data)


def _alb_fold() -> AlbFold | None:
    from why502.parsers.lblogs.batch import alb_fold

    return alb_fold()


ALB = LogFamily(
    name="alb", title="the ALB", rank=0, sniffers=((10, is_alb),), text_parsers=(parse_alb,),
    frame=_alb_frame, block=_alb_block, fold=_alb_fold, answers=_alb_answers,
    default_timeout=(60.0, "ALB idle timeout, default 60 s (idle_timeout.timeout_seconds)"),
)
ELB = LogFamily(
    name="elb", title="the Classic ELB", rank=10, sniffers=((40, is_elb),), text_parsers=(parse_elb,),
    default_timeout=(60.0, "Classic ELB idle timeout, default 60 s"),
)
