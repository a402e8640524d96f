"""When an incident opens and closes: rules over a sliding window of what the logs said.

The rules (defaults in ``Rules``; ``why502 watch --help`` names the flags):

- the 5xx ratio of the access logs over ``window`` seconds reaches ``ratio`` with at least
  ``min_requests`` requests (a single 502 on an idle site is not an incident);
- without an access log, ``min_failures`` failed upstream attempts in the error logs in the
  window;
- ``min_failures`` answers in the window that nginx relayed as HTTP/0.9 (access-log status 009):
  the backend's reply had no valid status line, nginx logged "upstream sent no valid HTTP/1.0
  header" and passed its bytes on as a 0.9 response (``ngx_http_proxy_process_status_line()`` in
  src/http/modules/ngx_http_proxy_module.c sets ``r->http_version = NGX_HTTP_VERSION_9``, and
  ``ngx_http_log_status()`` logs 9 for a request with no status and that version): the client
  got no HTTP answer at all, and no 5xx either, so the ratio rule never sees it;
- any ``no live upstreams`` (every server of a group is marked failed: nginx answers 502 without
  trying, ``ngx_http_upstream_next()``/``ngx_http_upstream_connect()`` in
  src/http/ngx_http_upstream.c, so the access-log ratio may lag it);
- a target found down by the health checker, even with no traffic at all.

An incident closes when no rule has fired for ``resolve_after`` seconds.  A rule fires while the
window still holds enough 5xx, so an incident closes at most ``window + resolve_after`` seconds
(120 s by default) after its last 5xx -- sooner when healthy traffic after the fix dilutes the
ratio below the threshold before the 5xx leave the window.  Before it closes it is diagnosed once
more over its whole span (the engine), and the alert's ``endsAt`` is the moment it closed.

Each incident keeps the traffic of its whole span (``IncidentTraffic``): every second of the
window at its opening, then every second until it closes, folded per minute -- the totals the
clients saw, the first and last 5xx, the peak minute.  This module is pure: time is given by the
caller, so it is tested without sleeping.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["Bucket", "Incident", "IncidentTraffic", "Rules", "Window"]

HTTP09_STATUS = 9  # nginx's access-log status for an answer relayed as HTTP/0.9 (see above)
MAX_MINUTES = 1440  # an incident's per-minute timeline keeps its last day (as diagnose's does)


@dataclass(frozen=True)
class Rules:
    window: float = 60.0
    ratio: float = 0.05
    min_requests: int = 10
    min_failures: int = 5
    resolve_after: float = 60.0


@dataclass
class Bucket:
    """One second of traffic."""

    second: int
    requests: int = 0
    errors: int = 0  # 5xx answered to clients
    failures: int = 0  # failed upstream attempts in the error logs
    no_live: int = 0
    symptoms: Counter[tuple[str, str]] = field(default_factory=Counter)  # (symptom, upstream)
    statuses: Counter[int] = field(default_factory=Counter)


class Window:
    """The last ``seconds`` seconds of traffic, one bucket per second."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.buckets: deque[Bucket] = deque()

    def at(self, now: float) -> Bucket:
        sec = int(now)
        if not self.buckets or self.buckets[-1].second < sec:
            self.buckets.append(Bucket(sec))
        self.trim(now)
        return self.buckets[-1]

    def trim(self, now: float) -> None:
        while self.buckets and self.buckets[0].second <= now - self.seconds:
            self.buckets.popleft()

    def totals(self, now: float) -> Bucket:
        self.trim(now)
        out = Bucket(int(now))
        for b in self.buckets:
            out.requests += b.requests
            out.errors += b.errors
            out.failures += b.failures
            out.no_live += b.no_live
            out.symptoms.update(b.symptoms)
            out.statuses.update(b.statuses)
        return out


def triggers(rules: Rules, t: Bucket, has_access: bool, down: list[str]) -> list[str]:
    """Which rules fire on the window totals ``t`` (empty: healthy)."""
    out: list[str] = []
    if t.requests >= rules.min_requests and t.errors / t.requests >= rules.ratio:
        out.append(f"5xx ratio {t.errors}/{t.requests} = {t.errors / t.requests:.0%} over "
                   f"{rules.window:g}s (threshold {rules.ratio:.0%})")
    if not has_access and t.failures >= rules.min_failures:
        out.append(f"{t.failures} failed upstream attempts in {rules.window:g}s")
    relayed = t.statuses.get(HTTP09_STATUS, 0)
    if relayed >= rules.min_failures:
        out.append(f"{relayed} answers relayed as HTTP/0.9 (status 009: the backend's reply was "
                   f"not HTTP) in {rules.window:g}s")
    if t.no_live:
        out.append(f"no live upstreams ({t.no_live}x)")
    out += [f"target {d} is down (health check)" for d in down]
    return out


@dataclass
class IncidentTraffic:
    """What the logs said over an incident's whole span, from the window at its opening to its
    close: totals (requests, 5xx, failed upstream attempts, statuses), per-minute counts, the
    first and last 5xx.  Seconds are the window's (the monotonic clock); ``wall`` maps them to
    local wall-clock time, like the logs'."""

    requests: int = 0
    errors: int = 0
    failures: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    # "YYYY-MM-DDTHH:MM" -> (requests, {status: count}) -- the report's TimelinePoint shape
    minutes: dict[str, tuple[int, Counter[int]]] = field(default_factory=dict)
    first_error: str | None = None  # ISO seconds, local time
    last_error: str | None = None
    done: int = -1  # the last second folded in

    def track(self, buckets: Iterable[Bucket], upto: float, wall: float) -> None:
        """Fold in every bucket of a second before ``upto`` not folded yet (a bucket of the
        current second may still grow); ``wall`` = wall-clock time minus the monotonic clock."""
        for b in buckets:
            if self.done < b.second < upto:
                self._fold(b, wall)

    def _fold(self, b: Bucket, wall: float) -> None:
        self.done = b.second
        self.requests += b.requests
        self.errors += b.errors
        self.failures += b.failures
        self.statuses.update(b.statuses)
        moment = datetime.fromtimestamp(b.second + wall).isoformat(timespec="seconds")
        if b.errors or b.failures:
            self.first_error = self.first_error or moment
            self.last_error = moment
        if b.requests or b.statuses:
            requests, counts = self.minutes.setdefault(moment[:16], (0, Counter()))
            counts.update(b.statuses)
            self.minutes[moment[:16]] = (requests + b.requests, counts)
            while len(self.minutes) > MAX_MINUTES:
                del self.minutes[next(iter(self.minutes))]

    def peak(self) -> tuple[str, int] | None:
        """The minute with the most 5xx, and how many (the first such minute on a tie)."""
        best: tuple[str, int] | None = None
        for minute, (_requests, counts) in self.minutes.items():
            n = sum(c for s, c in counts.items() if s >= 500)
            if n and (best is None or n > best[1]):
                best = (minute, n)
        return best

    def to_dict(self) -> dict[str, object]:
        peak = self.peak()
        return {"requests": self.requests, "errors_5xx": self.errors,
                "failed_attempts": self.failures,
                "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
                "first_5xx": self.first_error, "last_5xx": self.last_error,
                "peak_minute": peak[0] if peak else None, "peak_5xx": peak[1] if peak else 0,
                "per_minute": [{"minute": m, "requests": r,
                                "statuses": {str(k): v for k, v in sorted(c.items())}}
                               for m, (r, c) in self.minutes.items()]}


@dataclass
class Incident:
    """One incident from open to resolved; ``cause`` and the rest come from the diagnosis."""

    id: str
    opened: str  # ISO 8601, local time like the logs
    opened_at: float  # the monotonic clock's time, for the diagnosis window
    trigger: list[str]
    resolved: str | None = None
    cause: str = "unknown"
    title: str = ""
    confidence: float = 0.0
    upstream: str | None = None
    target: str | None = None  # the upstream address (finding.target); metrics only
    summary: str = ""
    evidence: str = ""
    fix: str = ""
    requests: int = 0
    errors: int = 0
    failures: int = 0
    symptoms: set[tuple[str, str]] = field(default_factory=set)
    last_fired: float = 0.0
    report_file: str | None = None
    diagnosis_s: float | None = None  # how long the last diagnosis took
    redacted: int = 0  # credential values the diagnosis shows as [redacted] (findings.redact)
    traffic: IncidentTraffic = field(default_factory=IncidentTraffic)
    # ``last_fired`` when the closing diagnosis started: it closes the incident only if no rule
    # fired again meanwhile
    closing: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "opened": self.opened, "resolved": self.resolved,
                "cause": self.cause, "title": self.title, "confidence": self.confidence,
                "upstream": self.upstream, "summary": self.summary, "evidence": self.evidence,
                "fix": self.fix, "trigger": list(self.trigger), "requests": self.requests,
                "errors_5xx": self.errors, "failed_attempts": self.failures,
                "symptoms": sorted({s for s, _ in self.symptoms}), "report": self.report_file,
                "diagnosis_seconds": self.diagnosis_s, "redacted": self.redacted}
