"""When an incident opens and closes: rules over a sliding window of what the logs said.

The rules (defaults in ``Rules``; ``why502 watch --help`` names the flags):

- the 5xx ratio of the access logs over ``window`` seconds reaches ``ratio`` with at least
  ``min_requests`` requests (a single 502 on an idle site is not an incident);
- without an access log, ``min_failures`` failed upstream attempts in the error logs in the
  window;
- any ``no live upstreams`` (every server of a group is marked failed: nginx answers 502 without
  trying, ``ngx_http_upstream_next()``/``ngx_http_upstream_connect()`` in
  src/http/ngx_http_upstream.c, so the access-log ratio may lag it);
- a target found down by the health checker, even with no traffic at all.

An incident closes when no rule has fired for ``resolve_after`` seconds.  This module is pure:
time is given by the caller, so it is tested without sleeping.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

__all__ = ["Bucket", "Incident", "Rules", "Window"]


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
    if t.no_live:
        out.append(f"no live upstreams ({t.no_live}x)")
    out += [f"target {d} is down (health check)" for d in down]
    return out


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

    def to_dict(self) -> dict[str, object]:
        return {"id": self.id, "opened": self.opened, "resolved": self.resolved,
                "cause": self.cause, "title": self.title, "confidence": self.confidence,
                "upstream": self.upstream, "summary": self.summary, "evidence": self.evidence,
                "fix": self.fix, "trigger": list(self.trigger), "requests": self.requests,
                "errors_5xx": self.errors, "failed_attempts": self.failures,
                "symptoms": sorted({s for s, _ in self.symptoms}), "report": self.report_file,
                "diagnosis_seconds": self.diagnosis_s, "redacted": self.redacted}
