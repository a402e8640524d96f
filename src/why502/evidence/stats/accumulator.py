"""The totals of a run: ``StatsAccumulator`` folds the ``Partial`` aggregates of every piece of
the log, in input order, and ``finish`` builds the ``AccessStats``.

Why a separate step from ``reduce``: reducing a piece touches no shared state and runs in
worker threads; folding is ordered (line numbers continue from one chunk of a file to the next)
and cheap (the partials are small), so it runs on the main thread.  Accumulators of files in
different log formats fold into one (``absorb``).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from datetime import datetime

import polars as pl

from why502.evidence.stats.breakdown import breakdown_5xx
from why502.evidence.stats.frames import FrameStore, MemoryFrames
from why502.evidence.stats.histogram import Histogram
from why502.evidence.stats.join import ErrorParts
from why502.evidence.stats.model import (
    NEAR_TIMEOUT_FRACTION,
    TOP_N,
    UNPARSED_SAMPLES,
    AccessStats,
    HostCounts,
    UnparsedSample,
    UpstreamStats,
)
from why502.evidence.stats.plan import RowPlan, location_label
from why502.evidence.stats.reduce import Partial, Reducer
from why502.evidence.stats.timeline import MinuteCounts, detect_incidents, timeline_rows
from why502.evidence.stats.times import minute_to_iso
from why502.facts.routes import RouteModel
from why502.parsers.log_format import ByteChunk, CompiledFormat

MAX_5XX_ROWS = 2_000_000  # 5xx rows kept for the error-log join; beyond them only counted


class StatsAccumulator:
    """Feed chunks with ``add``, or fold the ``Partial`` results of ``reducer`` (a streaming
    scan's batches, chunks reduced in worker threads) with ``merge``; ``finish`` builds the
    ``AccessStats``."""

    def __init__(
        self,
        fmt: CompiledFormat,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        locations: RouteModel | None = None,
        tz: str | None = None,
        store: FrameStore | None = None,
        stats_views: bool = True,
    ) -> None:
        self.plan = RowPlan(fmt, since=since, until=until, locations=locations, tz=tz,
                            stats_views=stats_views)
        self.reducer = Reducer(self.plan)
        self.fmt = fmt
        self.tz = tz  # IANA zone for ``$msec`` times (the machine's), None = UTC
        self.locations = locations
        self.kind = fmt.time_field
        self.loc_hists: dict[tuple[str, str], Histogram] = {}
        self.has_uht = fmt.has("upstream_header_time")
        self.lines = 0
        self.requests = 0
        self.unparsed = 0
        self.samples: list[UnparsedSample] = []
        self.filtered = 0
        self.by_status: Counter[str] = Counter()
        self.timeline = MinuteCounts()  # bounded: a log of random times must not grow it
        self.hosts = HostCounts()  # bounded: a log of unique Host headers must not grow it
        self.ups: dict[str, UpstreamStats] = {}
        self.rescued = 0
        self.retried = 0
        self.redirected = 0
        self.fivexx: FrameStore = store if store is not None else MemoryFrames()
        self.fivexx_dropped = 0
        self.files: list[str] = []
        self._iso: dict[str, str] = {}  # raw minute key -> ISO minute (few per chunk)
        self.made_counts: Counter[tuple[str, str | None]] = Counter()
        self._next_line: dict[str, int] = {}  # path -> number of the line after the last chunk
        self.bad_rows: dict[str, list[pl.Series]] = {}  # path -> rows to re-match (scan path)
        self.short_rows: dict[str, list[pl.Series]] = {}  # path -> counted rows, for samples

    def fresh(self) -> StatsAccumulator:
        """An empty accumulator with the same format and options (one per file of a scan, so a
        file can be read again, e.g. with lossy UTF-8, without counting it twice)."""
        p = self.plan
        return StatsAccumulator(
            p.fmt, since=p.since, until=p.until, locations=p.locations, tz=p.tz, store=self.fivexx.new(),
            stats_views=p.stats_views,
        )

    def _up(self, addr: str) -> UpstreamStats:
        u = self.ups.get(addr)
        if u is None:
            u = self.ups[addr] = UpstreamStats(addr)
        return u

    @staticmethod
    def _later_ok(u: UpstreamStats, ts: datetime) -> None:
        if u.last_ok is None or ts > u.last_ok:
            u.last_ok = ts

    def add(self, chunk: ByteChunk) -> None:
        """Parse and aggregate one chunk of whole lines."""
        self.merge(self.reducer.partial(chunk))

    def merge(self, part: Partial) -> int:
        """Fold a chunk's ``Partial`` into the totals (call in input order); returns the number
        of the chunk's first line in its file."""
        if part.path not in self.files:
            self.files.append(part.path)
        first = part.first_line
        if part.renumber:  # number this chunk's lines after the previous chunk of the file
            first = self._next_line.get(part.path, 1)
            if first > 1:
                for smp in part.samples:
                    smp["line"] += first - 1
                if part.five is not None:
                    part.five = part.five.with_columns(pl.col("line") + (first - 1))
        if part.counts_lines:
            self._next_line[part.path] = first + part.newlines
        if part.bad_rows is not None and part.bad_rows.len():
            self.bad_rows.setdefault(part.path, []).append(part.bad_rows)
        if part.short_rows is not None and part.short_rows.len():
            have = self.short_rows.setdefault(part.path, [])
            if sum(r.len() for r in have) < UNPARSED_SAMPLES:
                have.append(part.short_rows)
        self.lines += part.rows
        self.unparsed += part.unparsed
        self.filtered += part.filtered
        for smp in part.samples:
            if len(self.samples) < UNPARSED_SAMPLES:
                self.samples.append(smp)
        self.requests += part.requests
        if part.timeline is not None:
            # per (minute, status) in Python (few rows), per host in polars (as many as lines)
            per_minute = part.timeline.group_by(part.timeline.columns[0], part.timeline.columns[1]).agg(
                pl.col(part.timeline.columns[3]).sum())
            if len(self._iso) > 4096:  # a log of random times: the cache would grow with it
                self._iso.clear()
            for minute, status, n in per_minute.iter_rows():
                iso = self._iso.get(minute)
                if iso is None:
                    iso = self._iso[minute] = minute_to_iso(minute or "", self.kind, self.tz)
                self.timeline.add(iso, "???" if status is None else f"{status:03d}", n)
            self.timeline.prune()
            if self.fmt.host_field is not None:
                status_col, host_col, n_col = part.timeline.columns[1:4]
                self.hosts.add_frame(part.timeline.select(
                    pl.col(host_col).fill_null("-").alias("host"),
                    pl.col(n_col).alias("requests"),
                    pl.when(pl.col(status_col) >= 500).then(pl.col(n_col)).otherwise(0).alias("5xx"),
                ))
        self.rescued += part.rescued
        self.retried += part.retried
        self.redirected += part.redirected
        if part.rescued_by is not None:
            for addr, n in part.rescued_by.iter_rows():
                self._up(addr).rescued_failures += n
        if part.ok_last is not None:
            for addr, ts in part.ok_last.iter_rows():
                if addr and ts is not None:
                    self._later_ok(self._up(addr), ts)
        if part.per_status is not None:
            for addr, us, n, failed in part.per_status.iter_rows():
                u = self._up(addr)
                u.attempts += n
                u.statuses[us or "-"] += n
                if self.has_uht and us != "-":
                    u.failed_attempts += int(failed)
        for attr, hist in part.hists.items():
            per_addr: dict[str, list[tuple[int, int]]] = defaultdict(list)
            maxes: dict[str, float] = {}
            for addr, b, n, m in hist.iter_rows():
                per_addr[addr].append((b, n))
                if m is not None and (addr not in maxes or m > maxes[addr]):
                    maxes[addr] = m
            for addr, bc in per_addr.items():
                getattr(self._up(addr), attr).add(bc, maxes.get(addr))
        if part.loc_hist is not None:
            grouped: dict[tuple[str, str], list[tuple[int, int]]] = defaultdict(list)
            loc_max: dict[tuple[str, str], float] = {}
            for addr, where, b, n, m in part.loc_hist.iter_rows():
                grouped[(addr, where)].append((b, n))
                loc_max[(addr, where)] = max(loc_max.get((addr, where), 0.0), m)
            for key, bc in grouped.items():
                self.loc_hists.setdefault(key, Histogram()).add(bc, loc_max[key])
        if part.made is not None:
            for addr, made, n in part.made.iter_rows():
                self.made_counts[(addr, made)] += n
        if part.five is not None:
            if self.fivexx.rows + part.five.height <= MAX_5XX_ROWS:
                self.fivexx.add(part.five)
            else:
                self.fivexx_dropped += part.five.height
        return first

    def absorb(self, other: StatsAccumulator) -> None:
        """Fold in the totals of another accumulator (files in another log format), so one
        ``AccessStats`` covers access logs written with different ``log_format``s."""
        for path in other.files:
            if path not in self.files:
                self.files.append(path)
        self.lines += other.lines
        self.requests += other.requests
        self.unparsed += other.unparsed
        self.filtered += other.filtered
        self.samples = (self.samples + other.samples)[:UNPARSED_SAMPLES]
        self.timeline.absorb(other.timeline)
        self.hosts.absorb(other.hosts)
        self.rescued += other.rescued
        self.retried += other.retried
        self.redirected += other.redirected
        for addr, o in other.ups.items():
            u = self._up(addr)
            u.attempts += o.attempts
            u.failed_attempts += o.failed_attempts
            u.statuses.update(o.statuses)
            u.rescued_failures += o.rescued_failures
            u.header_time.absorb(o.header_time)
            u.response_time.absorb(o.response_time)
            u.connect_time.absorb(o.connect_time)
            if o.last_ok is not None:
                self._later_ok(u, o.last_ok)
        self.made_counts.update(other.made_counts)
        for key, h_o in other.loc_hists.items():
            self.loc_hists.setdefault(key, Histogram()).absorb(h_o)
        if self.fivexx.rows + other.fivexx.rows <= MAX_5XX_ROWS:
            self.fivexx.take(other.fivexx)
        else:
            self.fivexx_dropped += other.fivexx.rows
            other.fivexx.close()
        self.fivexx_dropped += other.fivexx_dropped
        self.has_uht = self.has_uht and other.has_uht

    def finish(
        self,
        *,
        errors: pl.DataFrame | ErrorParts | None = None,
        timeouts: Mapping[str, tuple[float, str]] | None = None,
        locations: RouteModel | None = None,
        location_timeouts: Mapping[str, tuple[float, str]] | None = None,
        maker: str | None = None,
    ) -> AccessStats:
        """Build the result.  ``errors``: classified error-log lines (columns ``time`` naive
        datetime, ``client``, ``request``, ``host``, ``upstream``, ``symptom``, ``message``,
        ``file``, ``line``); ``timeouts``: upstream address -> (read timeout s, where);
        ``locations``: the config's locations, for the by-location view; ``maker``: the word for
        the proxy in the notes when another proxy's log was read through nginx's columns
        (``Vocabulary.stats_word``: haproxy, Apache), whose only way to tell who made a 5xx is
        its error log."""
        st = AccessStats(log_format=self.fmt.format, format_name=self.fmt.name, files=self.files)
        st.lines, st.requests, st.unparsed = self.lines, self.requests, self.unparsed
        st.unparsed_samples = self.samples
        st.filtered_out = self.filtered
        st.has_header_time = self.has_uht
        self.by_status.update(self.timeline.by_status())
        st.by_status = dict(sorted(self.by_status.items()))
        rows = timeline_rows(self.timeline.minutes)
        if (minutes_note := self.timeline.note()) is not None:
            st.notes.append(minutes_note)
        st.timeline = rows
        if rows:
            st.first_time, st.last_time = rows[0]["minute"], rows[-1]["minute"]
        st.incidents = detect_incidents(rows)
        st.rescued, st.retried, st.redirected = self.rescued, self.retried, self.redirected
        st.by_host = [{"host": h, "requests": n, "5xx": e} for h, n, e in self.hosts.top(TOP_N * 2)]
        if (host_note := self.hosts.note()) is not None:
            st.notes.append(host_note)
        if timeouts:
            for addr, u in self.ups.items():
                if addr in timeouts:
                    u.timeout, u.timeout_source = timeouts[addr]
        # in label order, so the same log always gives the same document (the histograms come
        # in polars' group_by order, which varies from run to run)
        for (addr, where), hist in sorted(self.loc_hists.items(), key=lambda kv: kv[0][1]):
            t = (location_timeouts or {}).get(where)
            near = hist.at_least(t[0] * NEAR_TIMEOUT_FRACTION) if t else 0
            self._up(addr).by_location[where] = {
                **hist.summary(),
                "timeout": t[0] if t else None,
                "timeout_source": t[1] if t else None,
                "near_timeout": near,
            }
        if self.fivexx_dropped:
            st.notes.append(
                f"{self.fivexx_dropped} 5xx requests beyond {MAX_5XX_ROWS} were counted but "
                "not joined to the error log"
            )
        if self.fivexx.rows:
            self._finish_5xx(st, errors, locations, maker)
        elif errors is not None:
            st.errorlog = {
                "lines": errors.height,
                "matched_5xx": 0,
                "unmatched_5xx": 0,
                "by_symptom": {},
                "unmatched_samples": [],
            }
        # ties by address: the upstreams are met in polars' group_by order, which varies
        st.upstreams = sorted(
            self.ups.values(), key=lambda u: (-u.requests_5xx, -u.failed_attempts, -u.attempts, u.address)
        )
        return st

    def _finish_5xx(
        self, st: AccessStats, errors: pl.DataFrame | ErrorParts | None, locations: RouteModel | None,
        maker: str | None = None,
    ) -> None:
        """The kept 5xx rows (``breakdown``) and who made the 5xx, per upstream and in all."""
        where = location_label(self.fmt, self.locations) if locations else None
        b = breakdown_5xx(self.fivexx.blocks(), errors, has_uht=self.has_uht, where=where,
                          has_up=self.fmt.has("upstream_addr"))
        if self.has_uht:
            # exact counts from every 5xx (not only the rows kept for the join)
            counted: Counter[str] = Counter()
            for (addr, who_made), n in self.made_counts.items():
                counted[who_made or "unknown"] += n
                if addr not in ("-", ""):
                    u = self._up(addr)
                    u.requests_5xx += n
                    u.made_by[who_made or "unknown"] += n
            st.made_by = dict(sorted(counted.items()))
        else:
            st.made_by = dict(sorted(b.made.items()))
            for (addr, who_made), n in b.per_upstream.items():
                u = self._up(addr)
                u.requests_5xx += n
                u.made_by[who_made] += n
            if errors is not None:
                st.notes.append(
                    "no $upstream_header_time in the log format: who made each 5xx is judged from "
                    "the error log (a joined error line = nginx) -- add $upstream_header_time"
                )
            elif maker is not None:
                st.notes.append(
                    f"no $upstream_header_time and no error log: cannot tell whether {maker} or the "
                    "backend made each 5xx (give its error log with --error-log)"
                )
            else:
                st.notes.append(
                    "no $upstream_header_time and no error log: cannot tell whether nginx or the "
                    "backend made each 5xx (add $upstream_header_time or give --error-log)"
                )
            if self.fivexx_dropped:
                st.notes.append("who made the 5xx is counted on the first 5xx rows only (see above)")
        if b.errorlog is not None:
            st.errorlog = b.errorlog.info()
        st.notes.extend(b.notes)
        st.by_uri = b.by_uri
        st.by_client = b.by_client
        if b.by_location is not None:
            st.by_location = b.by_location
        st.requests_5xx = b.sample


def compute_stats(
    batches: Iterable[ByteChunk],
    fmt: CompiledFormat,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    errors: pl.DataFrame | ErrorParts | None = None,
    timeouts: Mapping[str, tuple[float, str]] | None = None,
    locations: RouteModel | None = None,
) -> AccessStats:
    """Aggregate ``batches`` (whole lines) in format ``fmt`` into an ``AccessStats``."""
    acc = StatsAccumulator(fmt, since=since, until=until, locations=locations)
    for b in batches:
        acc.add(b)
    return acc.finish(errors=errors, timeouts=timeouts, locations=locations)
