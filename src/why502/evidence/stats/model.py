"""What ``why502 stats`` reports: the result types and the limits on their size.

Why plain dataclasses and typed dicts: ``diagnose`` reads ``AccessStats`` in memory
(``upstreams``, ``made_by``, ``timeline``, ``incidents``, ``errorlog``) and the reporters get
``AccessStats.to_dict()``, the JSON document of ``why502 stats --format json``, whose key order is
part of the output; the rows below are built as dicts in that order.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict

import polars as pl

from why502.evidence.stats.histogram import BUCKET_RATIO, Histogram, TimingSummary

UNPARSED_SAMPLES = 5  # samples kept of the lines that do not parse (and of unmatched 5xx)
NEAR_TIMEOUT_FRACTION = 0.8  # a timing this close to the read timeout counts as "near timeout"
TOP_N = 15  # rows of each breakdown table (hosts: twice as many)
# Distinct keys a breakdown table (hosts, URIs, clients, locations) holds before it is pruned to
# its top half: a log of unique URIs or clients grew those tables with the file (1.8 GB).
MAX_KEYS = 50_000


class HostCounts:
    """Requests and 5xx per host, bounded: past ``MAX_KEYS`` hosts the lower half (fewest 5xx,
    then fewest requests) is dropped.  Totals stay exact elsewhere (``by_status``); a host
    dropped and seen again restarts from 0, so a count may be short by at most ``floor`` 5xx
    (the most any dropped host had) -- said in a note when it happens (``note``).

    A polars table folded a batch at a time (``add_frame``), not a dict filled row by row: with
    unique hosts a Python loop per row made the consumer of polars' streaming scan so slow that
    the scan's read-ahead piled up (849 MB on a 1 GB log)."""

    def __init__(self, max_keys: int = MAX_KEYS) -> None:
        self.max_keys = max_keys
        self.table: pl.DataFrame | None = None  # host, requests, 5xx
        self.floor = 0  # the most 5xx any dropped host had
        self.floor_requests = 0
        self.dropped = 0  # hosts dropped (a host may be counted more than once)

    def add_frame(self, frame: pl.DataFrame) -> None:
        """Fold rows ``host``, ``requests``, ``5xx`` (a host may repeat)."""
        if not frame.height:
            return
        frame = frame.select(pl.col("host").cast(pl.String), pl.col("requests").cast(pl.Int64),
                             pl.col("5xx").cast(pl.Int64))
        both = frame if self.table is None else pl.concat([self.table, frame])
        table = both.group_by("host").agg(pl.col("requests").sum(), pl.col("5xx").sum())
        if table.height > self.max_keys:
            ranked = table.sort(["5xx", "requests", "host"], descending=[True, True, False])
            keep = self.max_keys // 2
            rest = ranked.slice(keep)
            self.floor = max(self.floor, int(rest["5xx"].max() or 0))  # type: ignore[arg-type]
            self.floor_requests = max(self.floor_requests, int(rest["requests"].max() or 0))  # type: ignore[arg-type]
            self.dropped += rest.height
            table = ranked.head(keep)
        self.table = table

    def absorb(self, other: HostCounts) -> None:
        if other.table is not None:
            self.add_frame(other.table)
        self.floor = max(self.floor, other.floor)
        self.floor_requests = max(self.floor_requests, other.floor_requests)
        self.dropped += other.dropped

    def __len__(self) -> int:
        return 0 if self.table is None else self.table.height

    def top(self, n: int) -> list[tuple[str, int, int]]:
        if self.table is None:
            return []
        ranked = self.table.sort(["5xx", "requests", "host"], descending=[True, True, False]).head(n)
        return [(h, r, e) for h, r, e in ranked.iter_rows()]

    def note(self) -> str | None:
        if not self.dropped:
            return None
        return (f"by host: more than {self.max_keys} distinct hosts; the table keeps the busiest, whose "
                f"counts may be short by up to {self.floor} 5xx / {self.floor_requests} requests each "
                "(totals are exact)")


# A row of a breakdown table (``by_uri``, ``by_client``, ``by_location``) or of the 5xx sample:
# column name -> value as polars gives it (strings, counts, line numbers; null as None).
Row = dict[str, str | int | None]

# One minute of the timeline (the log's local time): requests, 5xx, and the 5xx by status.
TimelineRow = TypedDict(
    "TimelineRow",
    {"minute": str, "requests": int, "5xx": int, "502": int, "503": int, "504": int, "other_5xx": int},
)


class UnparsedSample(TypedDict):
    """A line that does not match the log format (its text cut to 500 characters)."""

    file: str
    line: int
    text: str


class UnmatchedSample(TypedDict):
    """A 5xx access line without an error-log line although nginx made it."""

    file: str
    line: int
    status: int
    request: str
    client: str


class LocationTiming(TimingSummary):
    """An upstream's timings for the requests of one config location, next to that location's
    read timeout."""

    timeout: float | None
    timeout_source: str | None
    near_timeout: int


class _ErrorLogCounts(TypedDict):
    lines: int  # classified error-log lines given
    matched_5xx: int
    unmatched_5xx: int
    by_symptom: dict[str, int]  # joined 5xx per symptom of their error line
    unmatched_samples: list[UnmatchedSample]


class ErrorLogInfo(_ErrorLogCounts, total=False):
    """The per-request join of 5xx access lines with error-log lines (``join.JoinTotals``); the
    optional keys are there when the log had 5xx rows to join."""

    unmatched_with_backend_header: int
    upstream_agrees: int
    host_agrees: int
    error_lines_used: int
    error_lines_unused: int


@dataclass
class UpstreamStats:
    """One upstream address (per attempt, as ``$upstream_addr`` lists it)."""

    address: str
    attempts: int = 0
    failed_attempts: int = 0  # no response header: nginx gave up on this attempt
    statuses: Counter[str] = field(default_factory=Counter)
    requests_5xx: int = 0  # requests whose final 5xx came from an attempt here
    made_by: Counter[str] = field(default_factory=Counter)
    rescued_failures: int = 0  # failed attempts here that a later attempt rescued
    header_time: Histogram = field(default_factory=Histogram)
    response_time: Histogram = field(default_factory=Histogram)
    connect_time: Histogram = field(default_factory=Histogram)
    timeout: float | None = None  # configured read timeout (seconds), when known
    timeout_source: str | None = None  # file:line or "default"
    locations: list[str] = field(default_factory=list)  # config locations passing here
    # per location (when the config is known): timing summary + that location's timeout
    by_location: dict[str, LocationTiming] = field(default_factory=dict)
    # the last request whose final status was below 500 with this upstream last (naive local
    # time): a later one than a cause's failures is the clients' proof it recovered
    last_ok: datetime | None = None

    @property
    def near_timeout(self) -> int:
        if self.timeout is None:
            return 0
        hist = self.header_time if self.header_time.count else self.response_time
        return hist.at_least(self.timeout * NEAR_TIMEOUT_FRACTION)

    def to_dict(self) -> dict[str, Any]:
        return {
            "address": self.address,
            "attempts": self.attempts,
            "failed_attempts": self.failed_attempts,
            "statuses": dict(sorted(self.statuses.items())),
            "requests_5xx": self.requests_5xx,
            "made_by": dict(sorted(self.made_by.items())),  # in a fixed order (the groups come in any)
            "rescued_failures": self.rescued_failures,
            "header_time": self.header_time.summary(),
            "response_time": self.response_time.summary(),
            "connect_time": self.connect_time.summary(),
            "timeout": self.timeout,
            "timeout_source": self.timeout_source,
            "locations": self.locations,
            "by_location": self.by_location,
            "near_timeout": self.near_timeout,
        }


@dataclass
class Incident:
    """A burst of 5xx: consecutive hot minutes (gaps of up to 2 minutes merged)."""

    start: str  # ISO minute, log's local time
    end: str  # ISO minute (inclusive)
    total_5xx: int
    by_status: dict[str, int]
    peak_per_minute: int
    requests: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class AccessStats:
    """Everything ``why502 stats`` reports; ``diagnose`` reads ``upstreams``, ``made_by``,
    ``timeline``, ``incidents`` and ``errorlog``."""

    log_format: str
    format_name: str | None
    files: list[str] = field(default_factory=list)
    lines: int = 0
    requests: int = 0
    unparsed: int = 0
    unparsed_samples: list[UnparsedSample] = field(default_factory=list)
    filtered_out: int = 0
    first_time: str | None = None
    last_time: str | None = None
    by_status: dict[str, int] = field(default_factory=dict)
    timeline: list[TimelineRow] = field(default_factory=list)
    incidents: list[Incident] = field(default_factory=list)
    made_by: dict[str, int] = field(default_factory=dict)
    upstreams: list[UpstreamStats] = field(default_factory=list)
    by_host: list[Row] = field(default_factory=list)
    by_location: list[Row] = field(default_factory=list)
    by_uri: list[Row] = field(default_factory=list)
    by_client: list[Row] = field(default_factory=list)
    rescued: int = 0
    retried: int = 0
    redirected: int = 0
    errorlog: ErrorLogInfo | None = None
    requests_5xx: list[Row] = field(default_factory=list)  # a sample, for display
    notes: list[str] = field(default_factory=list)
    has_header_time: bool = False

    @property
    def total_5xx(self) -> int:
        return sum(n for s, n in self.by_status.items() if s.startswith("5"))

    def upstream(self, address: str) -> UpstreamStats | None:
        return next((u for u in self.upstreams if u.address == address), None)

    def to_dict(self) -> dict[str, Any]:
        """The JSON document of ``why502 stats --format json`` (its key order is the output's)."""
        return {
            "log_format": self.log_format,
            "format_name": self.format_name,
            "files": self.files,
            "lines": self.lines,
            "requests": self.requests,
            "unparsed": self.unparsed,
            "unparsed_samples": self.unparsed_samples,
            "filtered_out": self.filtered_out,
            "first_time": self.first_time,
            "last_time": self.last_time,
            "by_status": self.by_status,
            "total_5xx": self.total_5xx,
            "timeline": self.timeline,
            "incidents": [i.to_dict() for i in self.incidents],
            "made_by": self.made_by,
            "upstreams": [u.to_dict() for u in self.upstreams],
            "by_host": self.by_host,
            "by_location": self.by_location,
            "by_uri": self.by_uri,
            "by_client": self.by_client,
            "rescued": self.rescued,
            "retried": self.retried,
            "redirected": self.redirected,
            "errorlog": self.errorlog,
            "requests_5xx": self.requests_5xx,
            "notes": self.notes,
            "percentile_precision": f"+-{(BUCKET_RATIO - 1) * 50:.0f}% (log buckets); max exact",
        }
