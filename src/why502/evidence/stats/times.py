"""The log's time field (``$time_local``, ``$time_iso8601`` or ``$msec``) as minute keys, ISO
minutes and datetimes.

Why a cheap key first: the timeline counts every request per minute, so each row gets only a
slice of its time string (``minute_expr``) and the few distinct keys of a chunk are turned into
``YYYY-MM-DDTHH:MM`` once each (``minute_to_iso``); a full datetime (``time_expr``) is parsed
for the kept 5xx rows and for ``--since``/``--until`` only.
"""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl

_MONTHS = {
    m: i + 1
    for i, m in enumerate(
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    )
}


def minute_expr(kind: str | None) -> pl.Expr:
    """The per-minute key of the ``time`` column, in the field's own notation."""
    if kind == "time_local":
        return pl.col("time").str.slice(0, 17)
    if kind == "time_iso8601":
        return pl.col("time").str.slice(0, 16)
    if kind == "msec":
        return (pl.col("time").cast(pl.Float64, strict=False) // 60).cast(pl.Int64).cast(pl.String)
    return pl.lit("")


def minute_to_iso(key: str, kind: str | None, tz: str | None = None) -> str:
    """The per-minute key of a chunk as ``YYYY-MM-DDTHH:MM`` (the log's own local time;
    ``$msec`` epoch minutes are shown in ``tz``, the machine's zone, else UTC)."""
    if not key:
        return ""
    if kind == "time_local":  # 20/Nov/2026:00:00
        try:
            return f"{key[7:11]}-{_MONTHS[key[3:6]]:02d}-{key[0:2]}T{key[12:17]}"
        except (KeyError, IndexError):
            return key
    if kind == "msec":
        try:
            zone = ZoneInfo(tz) if tz else timezone.utc
            return datetime.fromtimestamp(int(key) * 60, zone).strftime("%Y-%m-%dT%H:%M")
        except (ValueError, OverflowError, OSError, ZoneInfoNotFoundError):
            return key
    return key


def time_expr(kind: str | None, tz: str | None = None) -> pl.Expr:
    """Naive local datetime of the request (the wall time the log shows; offsets dropped, as
    nginx writes the error log in local time without an offset).  ``$msec`` is seconds since
    the epoch: it is turned into the wall time of ``tz`` (the machine's zone, so it lines up
    with the error log nginx wrote on the same machine), else UTC."""
    if kind == "time_local":
        return (
            pl.col("time").str.slice(0, 20).str.strptime(pl.Datetime("us"), "%d/%b/%Y:%H:%M:%S", strict=False)
        )
    if kind == "time_iso8601":
        return (
            pl.col("time").str.slice(0, 19).str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M:%S", strict=False)
        )
    if kind == "msec":
        utc = (
            (pl.col("time").cast(pl.Float64, strict=False) * 1_000_000).cast(pl.Int64).cast(pl.Datetime("us"))
        )
        if not tz:
            return utc
        return utc.dt.replace_time_zone("UTC").dt.convert_time_zone(tz).dt.replace_time_zone(None)
    return pl.lit(None, dtype=pl.Datetime("us"))
