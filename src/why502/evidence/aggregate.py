"""nginx's (and other proxies') error-log lines aggregated per symptom and peer, and other
programs' lines as events, from the classify engines' frames.

Aggregated because a busy host has millions of lines: the analyzers need counts, the time span,
the statuses and a few real lines to show.  The peer comes from nginx's ``upstream: "..."``
field (``parsers.errorlog.UPSTREAM_PEER``, the regex the classify summary uses too) or, for DNS
failures, from the message.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice
from typing import Any

import polars as pl

from why502.catalog.patterns import once_patterns
from why502.evidence.events import log_event
from why502.evidence.model import LogEvent, Sample, SymptomGroup
from why502.parsers.errorlog import UPSTREAM_PEER
from why502.proxies import ENGINE, PROXIES, Capability

# proxy/backend-side symptom sources: lines a proxy of the registry wrote
PROXY_SOURCES = set(PROXIES)
# the proxies whose lines name the upstream as the config's key, without nginx's scheme
PEER_AS_WRITTEN = [n for n, p in PROXIES.items() if p.can(Capability.PEER_AS_WRITTEN)]
# ... and of those, the ones that name a unix socket by its bare path (``unix:`` is prefixed)
PEER_SOCKET_PATH = [n for n, p in PROXIES.items() if p.can(Capability.PEER_SOCKET_PATH)]
MAX_TIMES = 300
MAX_SAMPLES = 3
MAX_EVENTS_PER_KIND = 200
# (symptom, peer) groups kept: a real host has tens of upstream peers; an error log whose every
# line names its own upstream (hostile, or a DNS-per-request setup) would make a group, its
# samples and times per line.  Past the bound new peers are counted in one group per symptom.
MAX_GROUPS = 10_000
OTHER_PEER = "(other peers)"
# minutes kept in ``per_minute`` (34 days; the report shows the last 1440): times spread wide
# would add a dict per minute.  Past the bound the oldest half is dropped, with a note.
MAX_MINUTES = 50_000
# distinct time texts whose parse is kept (``LogAggregator._time``): ~28 hours of seconds, ~15 MB
MAX_CACHED_TIMES = 100_000
_UNSEEN = object()
#: the batch of each row of the frames ``LogAggregator.add_all`` joins
BATCH = "_batch"

_PEER = re.compile(UPSTREAM_PEER)
_RESOLVE = re.compile(r"(?:no resolver defined to resolve|host not found in upstream) \"?([^\s\",]+)"
                      r"|^([^\s]+) could not be resolved")


def peer_of(upstream: str | None, message: str | None = None) -> tuple[str | None, str | None]:
    """``(peer key, scheme)`` from nginx's ``upstream: "..."`` field (or a DNS message)."""
    if upstream:
        m = _PEER.match(upstream)
        if m and m.group("scheme") and m.group("peer"):
            return m.group("peer"), m.group("scheme")
    if message:
        m = _RESOLVE.search(message)
        if m:
            name = (m.group(1) or m.group(2) or "").strip('"')
            return name or None, None
    return None, None


def parse_time(value: datetime | str | None) -> datetime | None:
    """A naive *local* time: nginx writes local time without a zone (``ngx_times.c``), so zoned
    times (journal, ISO syslog) are converted to the local zone before comparing them."""
    if value is None:
        return None
    when: datetime
    if isinstance(value, datetime):
        when = value
    else:
        try:
            when = datetime.fromisoformat(value)
        except ValueError:
            return None
    if when.tzinfo is not None:
        when = when.astimezone()
    return when.replace(tzinfo=None)


@dataclass
class _Acc:
    symptom: str
    peer: str | None
    scheme: str | None
    source: str
    count: int = 0
    first: datetime | None = None
    last: datetime | None = None
    statuses: dict[int, int] = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)
    message: str | None = None
    # lines of ``once`` rules (a state change, not a request): counted only without request lines
    once: int = 0
    once_statuses: dict[int, int] = field(default_factory=dict)


class LogAggregator:
    """Accumulates classified rows (polars frames, batch by batch) into groups and events.

    Frames need the ``classify`` columns (``symptom, source, status, time, upstream, message``)
    plus ``file``, ``line`` and ``text`` (the raw line).  Aggregation is vectorised per batch so
    a 100 MB log costs one group_by per batch, not a Python loop per line.
    """

    def __init__(self, route: Callable[[str | None, str | None], str | None] | None = None) -> None:
        # (host, request) -> the peer of a line that names none (the proxy's routing), if known
        self._route = route
        self._groups: dict[tuple[str, str | None], _Acc] = {}
        self._events: dict[str, list[LogEvent]] = {}
        self.lines = 0
        # minute ("YYYY-MM-DDTHH:MM") -> status (or symptom when no status) -> count, exact
        self.per_minute: dict[str, dict[str, int]] = {}
        self.other_peers = 0  # distinct (symptom, peer) keys counted in an OTHER_PEER group
        self.minutes_dropped = 0
        self._minute_floor: str | None = None  # the newest minute dropped from per_minute
        # time text -> parse_time() of it: a log's lines share their second, and the groups'
        # times were ~28k datetime parses per 100 MB host (bench/diagnose_bench.py, issue 28)
        self._times: dict[str, datetime | None] = {}

    def add(self, df: pl.DataFrame, batches: Sequence[int] = ()) -> None:
        """Count a classified batch; ``batches``: the heights of the batches ``df`` joins
        (``add_all``), each of whose first 5,000 other rows are kept as ``add`` of it alone keeps
        them."""
        if df.height == 0:
            return
        self.lines += df.height
        for col in ("upstream", "message", "text", "file", "time", "status", "source", "line",
                    "pattern"):
            if col not in df.columns:
                df = df.with_columns(pl.lit(None).alias(col))
        # nginx's upstream field names the peer after its scheme; a field without one is no peer.
        # The regex runs once, into a column the next step reads three times (an expression
        # used thrice was run thrice: 62 -> 37 ms on the 100 MB host's 37k rows, BENCHMARKS.md
        # stop 44)
        df = df.with_columns(pl.col("upstream").cast(pl.Utf8).str.extract_groups(UPSTREAM_PEER).alias("_up"))
        scheme, peer = pl.col("_up").struct.field("scheme"), pl.col("_up").struct.field("peer")
        df = df.with_columns(
            pl.when(scheme.is_not_null() & (peer != "")).then(peer)
            # HAProxy names the peer ``backend/server`` (httplog ``%b/%s``) or ``backend``
            # (``backend app has no server available!``): kept as written, the config maps it
            # Apache names it ``host:port``, ``host`` or a socket path (``evidence.apache_facts``)
            .when(pl.col("source").cast(pl.Utf8).is_in(PEER_SOCKET_PATH)
                  & pl.col("upstream").cast(pl.Utf8).str.starts_with("/"))
            .then(pl.lit("unix:") + pl.col("upstream").cast(pl.Utf8))
            .when(pl.col("source").cast(pl.Utf8).is_in(PEER_AS_WRITTEN)
                  & pl.col("upstream").is_not_null())
            .then(pl.col("upstream").cast(pl.Utf8)).alias("_peer"),
            scheme.alias("_scheme"),
        ).drop("_up")
        of_proxy = pl.col("source").cast(pl.Utf8).is_in(list(PROXY_SOURCES)) | pl.col("source").is_null()
        proxy = df.filter(of_proxy)
        other = df.filter(~of_proxy)
        if proxy.height:
            self._add_proxy(proxy)
        if other.height:  # (the first 5,000 of each batch ``add_all`` joined)
            first = other.head(5000)
            if len(batches) > 1:
                of_batch = pl.int_range(len(batches), dtype=pl.UInt32, eager=True).repeat_by(
                    pl.Series(batches, dtype=pl.UInt32)).explode()
                first = (df.with_columns(of_batch.alias(BATCH)).filter(~of_proxy)
                         .filter(pl.int_range(pl.len()).over(BATCH) < 5000))
            for row in first.iter_rows(named=True):
                self._add_event(row)

    def add_all(self, frames: Sequence[pl.DataFrame]) -> None:
        """``add`` of each of ``frames`` in turn, counted as one: the same groups, samples, times,
        minutes and events (each batch's first 5,000 other rows, as ``add`` takes them), for one
        set of queries -- ~13 a call, ~0.3-0.5 ms each whatever the rows, were most of what
        ``diagnose`` spent counting a failure-dense HAProxy log's 3 MiB batches (BENCHMARKS.md
        stop 66).  Only the minutes past ``MAX_MINUTES`` are dropped once, not after each."""
        frames = [f for f in frames if f.height]
        if len(frames) <= 1:
            for f in frames:
                self.add(f)
            return
        self.add(pl.concat(frames, how="diagonal_relaxed"), [f.height for f in frames])

    def _add_proxy(self, df: pl.DataFrame) -> None:
        # rows without upstream: take the peer from DNS messages (in their place: the groups, their
        # samples and times are in the lines' order, whatever the batches)
        missing = df.with_row_index("_at").filter(pl.col("_peer").is_null() & pl.col("message").is_not_null())
        if missing.height:
            peers = [peer_of(None, m)[0] for m in missing["message"].to_list()]
            df = df.with_columns(df["_peer"].clone().scatter(missing["_at"], pl.Series(peers, dtype=pl.Utf8)))
        if self._route is not None and {"host", "request"} <= set(df.columns):
            df = self._routed(df)
        keys = ["symptom", "_peer"]
        # 1 for a request's line, 0 for a state change logged once (catalog ``once``): HAProxy's
        # "backend app has no server available!" made 6 503s of 5 requests (issue 31)
        df = df.with_columns((~pl.col("pattern").cast(pl.Utf8).is_in(list(once_patterns())))
                             .fill_null(True).cast(pl.Int64).alias("_req"))
        agg = df.group_by(keys, maintain_order=True).agg(
            pl.len().alias("n"),
            pl.col("_req").sum().alias("nreq"),
            pl.col("time").cast(pl.Utf8).min().alias("tmin"),
            pl.col("time").cast(pl.Utf8).max().alias("tmax"),
            pl.col("time").cast(pl.Utf8).head(MAX_TIMES).alias("times"),
            pl.col("text").cast(pl.Utf8).head(MAX_SAMPLES).alias("texts"),
            pl.col("file").cast(pl.Utf8).head(MAX_SAMPLES).alias("files"),
            pl.col("line").cast(pl.Int64).head(MAX_SAMPLES).alias("lines"),
            pl.col("time").cast(pl.Utf8).head(MAX_SAMPLES).alias("stimes"),
            pl.col("_scheme").first().alias("scheme"),
            pl.col("source").cast(pl.Utf8).first().alias("src"),
            pl.col("message").cast(pl.Utf8).first().alias("msg"),
        )
        st = df.filter(pl.col("status").is_not_null()).group_by(
            [*keys, "status"]).agg(pl.len().alias("n"), pl.col("_req").sum().alias("nreq"))
        minutes = df.filter(pl.col("time").is_not_null() & (pl.col("_req") == 1)).select(
            pl.col("time").cast(pl.Utf8).str.slice(0, 16).alias("m"),
            pl.coalesce(pl.col("status").cast(pl.Utf8), pl.col("symptom").cast(pl.Utf8)).alias("k"),
        ).group_by(["m", "k"]).agg(pl.len().alias("n"))
        for m, k, n in minutes.iter_rows():
            if self._minute_floor is not None and m <= self._minute_floor:
                continue  # older than the minutes kept (counted in the groups all the same)
            bucket = self.per_minute.setdefault(m, {})
            bucket[k] = bucket.get(k, 0) + n
        self._prune_minutes()
        for row in agg.iter_rows(named=True):
            key = (row["symptom"], row["_peer"])
            acc = self._groups.get(key)
            if acc is None and len(self._groups) >= MAX_GROUPS:
                self.other_peers += 1
                key = (row["symptom"], OTHER_PEER)
                acc = self._groups.get(key)
            if acc is None:
                acc = self._groups[key] = _Acc(row["symptom"], key[1], row["scheme"],
                                               row["src"] or ENGINE, message=row["msg"])
            acc.count += row["nreq"]
            acc.once += row["n"] - row["nreq"]
            for t in (self._time(row["tmin"]), self._time(row["tmax"])):
                if t is not None:
                    acc.first = t if acc.first is None or t < acc.first else acc.first
                    acc.last = t if acc.last is None or t > acc.last else acc.last
            if len(acc.times) < MAX_TIMES:
                acc.times += islice(filter(None, map(self._time, row["times"])), MAX_TIMES - len(acc.times))
            for text, file, line, t in zip(row["texts"], row["files"], row["lines"], row["stimes"]):
                if len(acc.samples) < MAX_SAMPLES:
                    acc.samples.append(Sample(text=text or "", file=file, line=line,
                                              time=self._time(t)))
        for row in st.iter_rows(named=True):
            acc = (self._groups.get((row["symptom"], row["_peer"]))
                   or self._groups[(row["symptom"], OTHER_PEER)])
            status = int(row["status"])
            if row["nreq"]:
                acc.statuses[status] = acc.statuses.get(status, 0) + row["nreq"]
            if row["n"] - row["nreq"]:
                acc.once_statuses[status] = acc.once_statuses.get(status, 0) + row["n"] - row["nreq"]

    def _time(self, value: str | None) -> datetime | None:
        """``parse_time(value)``, each distinct text parsed once (the cache is bounded: cleared
        past ``MAX_CACHED_TIMES`` texts).  datetimes are immutable, so sharing one is safe."""
        if value is None:
            return None
        when = self._times.get(value, _UNSEEN)
        if when is _UNSEEN:
            if len(self._times) >= MAX_CACHED_TIMES:
                self._times.clear()
            when = self._times[value] = parse_time(value)
        return when  # type: ignore[return-value]

    def _routed(self, df: pl.DataFrame) -> pl.DataFrame:
        """Rows that name no peer get the one their request is routed to (one call per
        distinct host and request line)."""
        assert self._route is not None
        missing = df.with_row_index("_at").filter(pl.col("_peer").is_null())
        if not missing.height:
            return df
        cache: dict[tuple[str | None, str | None], str | None] = {}
        fill = []
        for host, request in zip(missing["host"].cast(pl.Utf8).to_list(),
                                 missing["request"].cast(pl.Utf8).to_list(), strict=True):
            key = (host, request)
            if key not in cache:
                cache[key] = self._route(host, request)
            fill.append(cache[key])
        return df.with_columns(df["_peer"].clone().scatter(missing["_at"], pl.Series(fill, dtype=pl.Utf8)))

    def _prune_minutes(self) -> None:
        """Drop the oldest half of ``per_minute`` past ``MAX_MINUTES`` minutes."""
        if len(self.per_minute) <= MAX_MINUTES:
            return
        keys = sorted(self.per_minute)
        drop = keys[: len(keys) - MAX_MINUTES // 2]
        for key in drop:
            del self.per_minute[key]
        self.minutes_dropped += len(drop)
        self._minute_floor = drop[-1] if self._minute_floor is None else max(self._minute_floor, drop[-1])

    def notes(self) -> list[str]:
        """What the bounds left out, for the report's diagnostics."""
        out = []
        if self.other_peers:
            out.append(f"error log: more than {MAX_GROUPS} distinct (symptom, upstream) pairs; "
                       f"{self.other_peers} more are counted together as '{OTHER_PEER}'")
        if self.minutes_dropped:
            out.append(f"error log: times span more than {MAX_MINUTES} distinct minutes; the per-minute "
                       f"counts keep the most recent {len(self.per_minute)} ({self.minutes_dropped} "
                       "older minutes are counted in the totals only)")
        return out

    def _add_event(self, row: Mapping[str, Any]) -> None:  # Any: a polars row (JSON-like values)
        kind = str(row.get("symptom") or "")
        bucket = self._events.setdefault(kind, [])
        if len(bucket) >= MAX_EVENTS_PER_KIND:
            return
        captures = tuple((c["name"], c["value"]) for c in row.get("captures") or ())
        bucket.append(log_event(kind, str(row.get("text") or row.get("message") or ""),
                                source=str(row.get("source") or ""),
                                pattern=str(row.get("pattern") or ""), captures=captures,
                                time=parse_time(row.get("time")),
                                file=row.get("file"), line=row.get("line")))

    def groups(self) -> list[SymptomGroup]:
        out = []
        for acc in self._groups.values():
            requests = acc.count > 0  # else only state-change lines: they are all there is
            if not requests and self._has_requests(acc):
                continue  # the requests' own lines count them (HAProxy: app/<NOSRV> for "app")
            out.append(SymptomGroup(
                symptom=acc.symptom, peer=acc.peer, count=acc.count if requests else acc.once,
                first=acc.first, last=acc.last,
                statuses=dict(acc.statuses if requests else acc.once_statuses), samples=tuple(acc.samples),
                scheme=acc.scheme, source=acc.source, times=tuple(sorted(acc.times)),
                message=acc.message))
        out.sort(key=lambda g: -g.count)
        return out

    def _has_requests(self, once: _Acc) -> bool:
        """Do request lines of the same symptom and backend exist (HAProxy names the backend
        ``app`` in its alert, ``app/<NOSRV>`` or ``app/web1`` in a request's line)?"""
        return any(acc.count and acc.symptom == once.symptom and acc.peer is not None and once.peer
                   and (acc.peer == once.peer or acc.peer.startswith(once.peer + "/"))
                   for acc in self._groups.values())

    def events(self) -> list[LogEvent]:
        out = [e for bucket in self._events.values() for e in bucket]
        out.sort(key=lambda e: e.time or datetime.min)
        return out
