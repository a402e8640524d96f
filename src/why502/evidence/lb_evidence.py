"""Typed evidence from a cloud load balancer / proxy log, for ``diagnose --access-log`` on an
ALB, Cloudflare, Envoy/Istio, Caddy or Traefik log alone.

The records say in the proxy's own words what failed (``parsers.lblogs``); this groups them the
way an engineer would read them: the failures the load balancer made itself, by the root cause
their word points to (``catalog/data/proxy_terms.toml``), each with its counts, time span, peak
minute, targets, groups and a sample line; the 5xx the backend made; and, per target, whether it
answered until some moment and failed every request after it (a target that stopped, or was
deregistered while still receiving traffic).  Pure: fed records and line texts, no I/O.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar, cast

from why502.parsers.lblogs.model import LbRecord

T = TypeVar("T")


@dataclass
class Sample:
    """A line of the log quoted as evidence (``file``:``line``, its time when it has one).
    ``text`` is the line without a CRLF log's ``\r`` (the readers cut lines at ``\n``): the
    JSON report quoted it, where the text and Markdown ones drop control characters."""

    file: str
    line: int
    text: str
    time: str | None

    def __post_init__(self) -> None:
        if self.text.endswith("\r"):  # (one, as ``parsers.lblogs.family.parse_line`` drops it)
            self.text = self.text[:-1]


@dataclass
class FailureGroup:
    """Failures made by the load balancer that point to one root cause."""

    cause: str
    count: int = 0
    codes: Counter[str] = field(default_factory=Counter)
    symptoms: Counter[str] = field(default_factory=Counter)
    proxy_status: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    targets: Counter[str] = field(default_factory=Counter)
    groups: Counter[str] = field(default_factory=Counter)
    minutes: Counter[str] = field(default_factory=Counter)
    details: Counter[str] = field(default_factory=Counter)
    #: the longest a failure of the group took (its duration, else its upstream time): all that
    #: is said of its timings (``analyzers.cloud_lb``).  Every one was kept, up to 100,000 a
    #: group, as floats: ~26 MB of diagnose's memory at 5M Envoy JSON lines (BENCHMARKS.md stop 60)
    worst_ms: float | None = None
    first: str | None = None
    last: str | None = None
    samples: list[Sample] = field(default_factory=list)
    # when each target failed and the status (up to TARGET_TIMES each, log time): what ties a target that is a
    # pod IP to the pod that had it then (``diagnose --k8s``: evidence.kubernetes.edge_groups)
    target_times: dict[str, list[tuple[str, int | None]]] = field(default_factory=dict)

    def stamps_room(self, target: str) -> int:
        """How many more (time, status) of ``target`` ``target_times`` keeps: the first
        ``TARGETS_TIMED`` targets are admitted (here, at their first timed failure), each up to
        ``TARGET_TIMES``; 0 for a target past them.  One rule for ``_into`` and ``lb_rows``."""
        if target not in self.target_times and len(self.target_times) >= TARGETS_TIMED:
            return 0
        return TARGET_TIMES - len(self.target_times.setdefault(target, []))

    def count_target(self, target: str, n: int = 1) -> None:
        """``n`` more of ``target``, when it is one of the first ``TARGETS_KEPT`` distinct ones."""
        if target in self.targets or len(self.targets) < TARGETS_KEPT:
            self.targets[target] += n

    def waited(self, ms: float | None) -> None:
        """A failure of the group took ``ms`` (None: no timing): ``worst_ms`` is the longest."""
        if ms is not None and (self.worst_ms is None or ms > self.worst_ms):
            self.worst_ms = ms

    def count_detail(self, detail: str, n: int = 1) -> None:
        """``n`` more of ``detail``, when it is one of the first ``DETAILS_KEPT`` distinct ones."""
        if detail in self.details or len(self.details) < DETAILS_KEPT:
            self.details[detail] += n

    def full_details(self, build: Callable[[list[str]], T]) -> T | None:
        """None while the details table has room; once it is full (it takes no new detail, so
        its keys never change again), ``build`` of its keys, sorted -- made once and kept (not a
        field: the evidence compared and written is the same).  ``evidence.lb_rows`` keeps the
        rows of a full group's known details only, and made its column of them each batch."""
        if len(self.details) < DETAILS_KEPT:
            return None
        made = self.__dict__.get("_full_details")
        if made is None:
            made = self.__dict__["_full_details"] = build(sorted(self.details))
        return cast("T", made)


# failure times kept per target and targets kept per group (bounded: a log has millions of lines)
TARGET_TIMES = 300
TARGETS_TIMED = 1000
#: sample lines kept per group
SAMPLES_KEPT = 3
#: distinct targets followed one by one per log (``LbEvidence.life``) and counted per failure
#: group (``FailureGroup.count_target``): a log of a target per line (hostile, or pods churning
#: for days) kept a life of each -- 1M ALB lines of a target each took diagnose to 470-560 MB
#: (BENCHMARKS.md stop 59); the first ones seen are kept, the others counted in the totals only
TARGETS_KEPT = 50_000
#: distinct details counted per group: a proxy's detail can name the request (Cloudflare's
#: "RayID ..."), and a table of every one grew with the log (1M lines: 250k keys); the top ones
#: are what is said of them (``analyzers.cloud_lb``)
DETAILS_KEPT = 1000


@dataclass
class TargetLife:
    """What one target did over the log: answers, then failures."""

    ok: int = 0
    failed: int = 0
    last_ok: str | None = None
    first_failed_after_ok: str | None = None
    ok_after_failure: bool = False


def minute_of(time: str | None) -> str | None:
    """The minute of a record's ISO time (its first 16 characters), None for another text."""
    return time[:16] if time and len(time) >= 16 and time[4] == "-" else None


@dataclass
class LbEvidence:
    family: str
    requests: int = 0
    five: int = 0
    made_by: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    failures: dict[str, FailureGroup] = field(default_factory=dict)  # from access lines
    # from the proxy's error lines (Caddy http.log.error, Traefik DEBUG): same requests, in words
    error_failures: dict[str, FailureGroup] = field(default_factory=dict)
    backend_5xx: FailureGroup = field(default_factory=lambda: FailureGroup(cause="upstream-returned-5xx"))
    targets: dict[str, TargetLife] = field(default_factory=dict)
    # the access lines that name no target (Caddy's access log names none: its ``handled
    # request`` line has the client's request and the status only, modules/caddyhttp/
    # server.go logRequest): the life of a config's only upstream (analyzers.edge_apps)
    unnamed: TargetLife = field(default_factory=TargetLife)
    per_minute: dict[str, Counter[str]] = field(default_factory=dict)
    totals_per_minute: Counter[str] = field(default_factory=Counter)
    first: str | None = None
    last: str | None = None
    error_lines: int = 0
    unexplained: int = 0  # 5xx the proxy made without a word for why (Caddy/Traefik access logs)
    # the proxy's own failures whose request its error log, read by the proxy's diagnosis, records
    # (``ErrorJoin``): counted as requests here, weighed there once
    joined: int = 0
    five_samples: list[Sample] = field(default_factory=list)  # the first 5xx lines, whoever made them
    #: a target past the first ``TARGETS_KEPT`` was seen: it has no life of its own (``life``)
    targets_capped: bool = False

    def add(self, rec: LbRecord, file: str, line: int, text: str, *, joined: bool = False,
            ok_before: bool = False) -> None:
        """Count one record.  ``joined``: an access line of a failure the proxy's error log
        records (``ErrorJoin.take``): a request and a status here, not a second failure.
        ``ok_before``: its target answered earlier in a batch whose answers come later, counted
        together (``add_answered``)."""
        t = rec.time
        if t:
            self.first = t if self.first is None or t < self.first else self.first
            self.last = t if self.last is None or t > self.last else self.last
        minute = minute_of(t)
        if rec.kind == "access":
            self.requests += 1
            if rec.status is not None:
                self.statuses[rec.status] += 1
            if minute:
                self.totals_per_minute[minute] += 1
            if rec.status is not None and rec.status >= 500:
                self.five += 1
                if len(self.five_samples) < 2:
                    self.five_samples.append(Sample(file, line, text, t))
                self.made_by[rec.made_by] += 1
                if minute:
                    self.per_minute.setdefault(minute, Counter())[str(rec.status)] += 1
            self._target(rec, ok_before)
        else:
            self.error_lines += 1
        if joined and rec.made_by == "lb" and rec.failed:
            self.joined += 1
            return
        if rec.made_by == "lb" and rec.failed and rec.cause:
            groups = self.failures if rec.kind == "access" else self.error_failures
            grp = groups.setdefault(rec.cause, FailureGroup(cause=rec.cause))
        elif rec.made_by == "lb" and rec.failed and rec.kind == "access":
            self.unexplained += 1
            return
        elif rec.made_by == "backend" and rec.status is not None and rec.status >= 500:
            grp = self.backend_5xx
        else:
            return
        _into(grp, rec, Sample(file, line, text, t), minute)

    @property
    def lb_failures(self) -> dict[str, FailureGroup]:
        """The failures to weigh: the error lines' when the proxy wrote any (they name the reason
        the access log leaves out, for the same requests), else the access lines'."""
        return self.error_failures or self.failures

    def _target(self, rec: LbRecord, ok_before: bool = False) -> None:
        life = self.life(rec.target)
        bad = rec.made_by == "lb" and rec.failed
        if bad:
            life.failed += 1
            if (life.ok or ok_before) and life.first_failed_after_ok is None:
                life.first_failed_after_ok = rec.time
        else:
            life.ok += 1
            life.last_ok = rec.time or life.last_ok
            if life.failed:
                life.ok_after_failure = True


    def life(self, target: str | None) -> TargetLife:
        """The life of ``target`` (a line naming none: ``unnamed``); past the first
        ``TARGETS_KEPT`` distinct targets, a life of its own that is not kept."""
        if not target:
            return self.unnamed
        life = self.targets.get(target)
        if life is None:
            if len(self.targets) >= TARGETS_KEPT:
                self.targets_capped = True
                return TargetLife()
            life = self.targets[target] = TargetLife()
        return life

    def reserve(self, targets: Iterable[str], statuses: Iterable[int], minutes: Iterable[str]) -> None:
        """Make room for keys in the order a batch first shows them, before its lines are
        counted out of order (``add_answered`` after ``add``): every table then keeps the order
        of the lines, as line-by-line counting gives it."""
        for t in targets:
            self.life(t)
        for st in statuses:
            self.statuses.setdefault(st, 0)
        for m in minutes:
            self.totals_per_minute.setdefault(m, 0)

    def add_answered(self, answered: Answered) -> None:
        """Count a batch's requests that answered (what ``add`` counts of each, together), after
        its other lines went through ``add`` with ``ok_before`` (``Answered``)."""
        self.requests += answered.requests
        self.statuses.update(answered.statuses)
        self.totals_per_minute.update(answered.minutes)
        for t in (answered.first, answered.last):
            if t:
                self.first = t if self.first is None or t < self.first else self.first
                self.last = t if self.last is None or t > self.last else self.last
        for target, run in answered.targets.items():
            life = self.life(target)
            if run.failed_before or (run.first_bad is not None and run.last_idx > run.first_bad):
                life.ok_after_failure = True
            life.ok += run.n
            if run.last_time is not None and run.last_time_idx > run.other_ok_idx:
                life.last_ok = run.last_time


@dataclass
class TargetRun:
    """A target's answered requests in one batch: how many, the index of the first and the last,
    the time of the last with a time (and its index); then, from the batch's other lines (filled
    while they go through ``add``), whether it had failed before the batch, the index of its
    first failure in the batch and of its last other answer with a time."""

    n: int
    first_idx: int
    last_idx: int
    last_time: str | None = None
    last_time_idx: int = -1
    failed_before: bool = False
    first_bad: int | None = None
    other_ok_idx: int = -1


@dataclass
class Answered:
    """The requests of one batch that answered -- an access line with no 5xx the proxy did not
    fail itself -- counted together: ``diagnose`` on an edge log of millions of lines built a
    record and called ``LbEvidence.add`` for each (~15 us a line, BENCHMARKS.md stop 49).  Its
    counters hold their keys in the order the batch first shows them."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    minutes: Counter[str] = field(default_factory=Counter)
    first: str | None = None
    last: str | None = None
    targets: dict[str | None, TargetRun] = field(default_factory=dict)


# How far apart the two lines of one request may be written, besides its duration: Caddy writes
# the error line when the proxy gives up and the access line when the response is sent, the same
# millisecond in the recordings (tests/fixtures/cloud/recorded/caddy-*: 0.02 ms apart).
JOIN_SECONDS = 1.0


def _seconds(time: str | None) -> float | None:
    if not time:
        return None
    try:
        when = dt.datetime.fromisoformat(time.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)).timestamp()


def _request_key(rec: LbRecord) -> tuple[str | None, str | None, str | None]:
    return rec.group or rec.host, rec.request, rec.client


class ErrorJoin:
    """The proxy's own error lines (Caddy's ``http.log.error``) that an access line of the same
    request joins: the same site (group / host), request and client, written within
    ``JOIN_SECONDS`` (plus the request's duration).  Each error line joins one access line.

    Why: with its config and error log, a proxy is diagnosed from its error lines (each names
    the upstream and the reason); its access log, read next to it as an edge's, recorded the
    same failed requests once more, and each became a second finding (issue 24: "no upstreams
    available" and the response timeout twice, once per upstream and once per site)."""

    def __init__(self, records: Iterable[LbRecord]) -> None:
        self._times: dict[tuple[str | None, str | None, str | None], list[float]] = {}
        for rec in records:
            when = _seconds(rec.time)
            if rec.kind == "error" and rec.made_by == "lb" and rec.request and when is not None:
                self._times.setdefault(_request_key(rec), []).append(when)

    def __bool__(self) -> bool:
        return bool(self._times)

    def take(self, rec: LbRecord) -> bool:
        """Whether ``rec`` (an access line of a failure the proxy made) is a request an error
        line records; that error line is then used up."""
        if rec.kind != "access" or rec.made_by != "lb" or not rec.failed:
            return False
        times = self._times.get(_request_key(rec))
        when = _seconds(rec.time)
        if not times or when is None:
            return False
        best = min(range(len(times)), key=lambda i: abs(times[i] - when))
        if abs(times[best] - when) > JOIN_SECONDS + (rec.duration_ms or 0.0) / 1000.0:
            return False
        times.pop(best)
        return True


def _into(grp: FailureGroup, rec: LbRecord, sample: Sample, minute: str | None) -> None:
    grp.count += 1
    if rec.code:
        grp.codes[rec.code] += 1
    if rec.symptom:
        grp.symptoms[rec.symptom] += 1
    if rec.proxy_status:
        grp.proxy_status[rec.proxy_status] += 1
    if rec.status is not None:
        grp.statuses[rec.status] += 1
    if rec.target:
        grp.count_target(rec.target)
        if rec.time and grp.stamps_room(rec.target) > 0:
            grp.target_times[rec.target].append((rec.time, rec.status))
    if rec.group:
        grp.groups[rec.group] += 1
    if rec.detail:
        grp.count_detail(rec.detail[:200])
    if minute:
        grp.minutes[minute] += 1
    grp.waited(rec.duration_ms if rec.duration_ms is not None else rec.upstream_ms)
    if rec.time:
        grp.first = rec.time if grp.first is None or rec.time < grp.first else grp.first
        grp.last = rec.time if grp.last is None or rec.time > grp.last else grp.last
    if len(grp.samples) < SAMPLES_KEPT:
        grp.samples.append(sample)
