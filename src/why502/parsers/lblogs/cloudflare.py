"""Cloudflare Logpush / Logpull ``http_requests`` records (one JSON object per line).

Fields used (https://developers.cloudflare.com/logs/reference/log-fields/zone/http_requests/):
``EdgeResponseStatus`` (what the client got), ``OriginResponseStatus`` (what the origin answered;
0 when Cloudflare got no HTTP response from it), ``OriginIP``, ``OriginResponseDurationMs`` /
``OriginResponseHeaderReceiveDurationMs`` (newer) or ``OriginResponseTime`` (nanoseconds, older),
``EdgeStartTimestamp`` (RFC 3339, or Unix seconds / nanoseconds depending on the job's
``timestamp_format``), ``ClientRequestHost``/``Method``/``URI``, ``RayID``.

Who made the status: a 52x/530 is always the edge's own (Cloudflare's 5xx pages,
https://developers.cloudflare.com/support/troubleshooting/http-status-codes/cloudflare-5xx-errors/);
otherwise the origin made it when ``OriginResponseStatus`` equals the edge status, the edge when
the origin answered nothing (WAF, rate limit); a record without ``Origin*`` fields cannot tell.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import TYPE_CHECKING, Any

from why502.parsers.lblogs.family import LogFamily
from why502.parsers.lblogs.model import LbRecord, resolved, to_float, to_int

if TYPE_CHECKING:
    import polars as pl

    from why502.parsers.lblogs.fold import BlockFold

EDGE_CODES = frozenset({520, 521, 522, 523, 524, 525, 526, 530})


def is_cloudflare(obj: dict[str, Any]) -> bool:
    return "EdgeResponseStatus" in obj or (
        "RayID" in obj and any(k.startswith(("Edge", "Client", "Origin")) for k in obj))


def _time(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
        if seconds > 1e17:
            seconds /= 1e9  # unixnano
        elif seconds > 1e14:
            seconds /= 1e6
        elif seconds > 1e11:
            seconds /= 1e3
        try:
            return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        except (OverflowError, OSError, ValueError):
            return None
    return None


def parse_cloudflare(obj: dict[str, Any]) -> LbRecord | None:
    if not is_cloudflare(obj):
        return None
    status = to_int(obj.get("EdgeResponseStatus"))
    has_origin = "OriginResponseStatus" in obj
    origin = to_int(obj.get("OriginResponseStatus")) if has_origin else None
    code: str | None = None
    if status in EDGE_CODES:
        made_by, code = "lb", str(status)
    elif not has_origin:
        made_by = "unknown"
    elif origin and origin == status:
        made_by = "backend"
    elif not origin and status is not None:
        made_by = "lb"
        code = str(status) if status in (403, 429) else None
    else:
        made_by = "backend"  # e.g. a cached or revalidated answer: the edge did not fail
    upstream_ms = to_float(obj.get("OriginResponseHeaderReceiveDurationMs"))
    if upstream_ms is None:
        upstream_ms = to_float(obj.get("OriginResponseDurationMs"))
    if upstream_ms is None:
        ns = to_float(obj.get("OriginResponseTime"))
        upstream_ms = ns / 1e6 if ns is not None else None
    method = obj.get("ClientRequestMethod")
    uri = obj.get("ClientRequestURI") or obj.get("ClientRequestPath")
    start = obj.get("EdgeStartTimestamp")
    end = obj.get("EdgeEndTimestamp")
    duration_ms = None
    if isinstance(start, (int, float)) and isinstance(end, (int, float)) and end >= start > 1e17:
        duration_ms = (float(end) - float(start)) / 1e6
    origin_ip = obj.get("OriginIP")
    rec = LbRecord(
        family="cloudflare", status=status, made_by=made_by, time=_time(start), code=code,
        backend_status=origin or None, target=str(origin_ip) if origin_ip else None,
        group=str(obj.get("ClientRequestHost") or "") or None,
        request=f"{method} {uri}" if method and uri else None,
        host=str(obj.get("ClientRequestHost") or "") or None,
        client=str(obj.get("ClientIP") or "") or None,
        duration_ms=duration_ms, upstream_ms=upstream_ms,
        detail=f"RayID {obj['RayID']}" if obj.get("RayID") else None,
    )
    return resolved(rec)


def _cloudflare_frame(lines: pl.Series) -> tuple[pl.DataFrame, pl.Series]:
    from why502.parsers.lblogs.batch import cloudflare_frame  # polars only when a batch is read

    return cloudflare_frame(lines)


def _cloudflare_block(data: bytes) -> tuple[pl.DataFrame, list[int]] | None:
    from why502.parsers.lblogs.batch import cloudflare_block

    return cloudflare_block(data)


def _cloudflare_answers(data: bytes) -> tuple[pl.DataFrame, list[int], pl.DataFrame] | None:
    """The native block reader that counts the answered requests (``batch.cloudflare_answers_block``)."""
    from why502.parsers.lblogs.batch import cloudflare_answers_block

    return cloudflare_answers_block(data)


def _cloudflare_fold() -> BlockFold | None:
    """``stats``' fold of its lines (``parsers.lblogs.jsonfold``), imported when a read starts."""
    from why502.parsers.lblogs.counts import CLOUDFLARE_COUNTS, CLOUDFLARE_FOLD
    from why502.parsers.lblogs.jsonfold import json_fold

    return json_fold(CLOUDFLARE_COUNTS, CLOUDFLARE_FOLD, parse_cloudflare)


CLOUDFLARE = LogFamily(
    name="cloudflare", title="Cloudflare's edge", rank=20, is_json=is_cloudflare,
    parse_json=parse_cloudflare, frame=_cloudflare_frame, block=_cloudflare_block, fold=_cloudflare_fold,
    answers=_cloudflare_answers,
    default_timeout=(120.0, "Cloudflare Proxy Read Timeout, 120 s by default (formerly 100 s)"),
    status_patterns=(re.compile(rb'^[^\n]*?"EdgeResponseStatus":(\d{1,3})[,}]', re.M),),
    # the edge's own 403 (a WAF rule) and 429 (a rate limit) when the origin never answered
    # (``parse_cloudflare``; the vocabulary's "403" and "429")
    own_below_500=(re.compile(rb'"EdgeResponseStatus":4(?:03|29)[,}]'),),
)
