"""The diagnosis result as plain typed data, and its versioned JSON form.

Reporters render a ``Report`` and nothing else (docs/architecture.md), so every field a reporter
needs lives here and survives a JSON round trip: ``Report.from_dict(report.to_dict()) ==
report``.  The JSON contract is ``{"schema_version", "findings": [...], "diagnostics": [...],
"inputs": {...}}`` plus the optional incident data (timeline, events, upstreams) used by the
HTML and Markdown reports.
The JSON Schema shipped in ``why502/schemas/report.schema.json`` describes exactly this.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal, TypeVar, get_args

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")

SCHEMA_VERSION = "1.6"
"""1.1 added ``fix.hashes`` (the SHA-256 of each file a fix changes, when the report was made),
1.2 ``proxy``, 1.3 ``places`` (one finding for the same defect in many blocks), 1.4
``redacted`` (how many credential values the report shows as ``[redacted]``), 1.5 ``recovered``
(a finding whose failures have stopped: the past, ranked after every current one), 1.6
``judged`` and ``no_evidence`` (what the verdict rests on; nothing at all is no verdict)."""

Judged = Literal["logs", "config", "live", "kubernetes"]
"""What a verdict can rest on (``Report.judged``): a log line read (``logs``), a config read
(``config``: the proxy's, PHP-FPM's pools, an app server's), a live check that answered
(``live``: a target probed, the proxy's runtime or admin API, the host's kernel / systemd /
SELinux records holding an event), Kubernetes objects read (``kubernetes``)."""

RUNTIME: tuple[Judged, ...] = ("logs", "live", "kubernetes")
"""The kinds of evidence that would show a proxy failing now: without one of them no finding is
not "healthy" -- a config read alone shows only that it holds no known pitfall."""

Confidence = float  # 0.0 .. 1.0; findings are ordered by it, highest first.
Severity = Literal["info", "warning", "error"]


@dataclass(frozen=True)
class EvidenceItem:
    """One fact behind a finding.

    ``kind`` says where it came from: ``log`` (a log line), ``config`` (file:line of the nginx or
    PHP-FPM config), ``probe`` (a live probe result), ``listener`` (the socket table), ``process``,
    ``unit`` (systemd), ``kernel``, ``stat`` (an aggregate such as "412 of 415 requests"),
    ``kubernetes`` (a field of an object read with ``--k8s``: ``Pod NS/NAME (IP): FIELD=VALUE``).
    """

    kind: str
    summary: str
    source: str | None = None  # path (or "probe", "/proc/net/tcp", ...)
    line: int | None = None  # 1-based line in ``source`` when it is a file
    time: str | None = None  # ISO 8601, local time when the log had no zone
    text: str | None = None  # the raw line / output, verbatim (hostile: escape when rendering)
    symptom: str | None = None  # symptom or evidence-event ID (docs/causes/README.md) for log evidence
    count: int | None = None  # how many lines like this one, when aggregated


@dataclass(frozen=True)
class Fix:
    """What to change.  ``diff`` is a unified diff against the real file when the fix is config.

    ``hashes`` maps each file the diff changes to the SHA-256 (hex) of its bytes when the report
    was made: ``why502 fix --apply`` refuses to change a file edited since.
    """

    summary: str
    commands: list[str] = field(default_factory=list)
    diff: str | None = None
    file: str | None = None
    notes: list[str] = field(default_factory=list)
    hashes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Place:
    """One block where a finding holds, when the same defect is in many (schema 1.3): its
    upstream and target, and the config line its part of the fix changes."""

    upstream: str | None = None
    target: str | None = None
    file: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class Finding:
    """One root cause (an ID of the catalog), the symptoms it explains, and why we believe it."""

    cause: str
    title: str
    confidence: Confidence
    status_codes: list[int]
    symptoms: list[str]
    explanation: str
    upstream: str | None = None
    target: str | None = None
    evidence: list[EvidenceItem] = field(default_factory=list)
    fix: Fix | None = None
    first_seen: str | None = None
    last_seen: str | None = None
    # Failed requests explained by this finding when an access log was read (final statuses);
    # without one, failed attempts from the error log (one request may leave several).
    count: int = 0
    # Which proxy the finding is about (nginx, apache, haproxy): a host may run several, and
    # diagnose with no flags diagnoses each one it finds running (schema 1.2).
    proxy: str | None = None
    # Every block where the same config defect was found, when there are several (schema 1.3):
    # one finding and one fix (``fix.diff`` covers them all) instead of one per block; ``upstream``
    # and ``target`` are the first place's.  Empty for a finding about one place.
    places: list[Place] = field(default_factory=list)
    # The failures stopped and the target answers now (schema 1.5): a past incident.  Ranked after
    # every current finding, and a report of only these exits 0 (issue 31: a recovered incident
    # of a minute before headed the report above a live outage, with "start the backend").
    recovered: bool = False


@dataclass(frozen=True)
class Diagnostic:
    """A tool-side problem (unreadable file, unparsable lines), kept apart from findings."""

    severity: Severity
    message: str
    source: str | None = None


@dataclass(frozen=True)
class TimelinePoint:
    """Counts of proxy 5xx (and totals) in one minute; ``minute`` is ``YYYY-MM-DDTHH:MM``."""

    minute: str
    counts: dict[str, int]  # status code as string -> count, e.g. {"502": 3, "504": 1}
    total: int = 0


@dataclass(frozen=True)
class TimelineEvent:
    """An evidence event placed on the incident timeline (OOM kill, restart, first 502, ...)."""

    time: str
    kind: str  # symptom or evidence-event ID
    label: str
    source: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class UpstreamSummary:
    """Per-upstream panel: what the config says, what the logs and probes saw."""

    name: str
    targets: list[str] = field(default_factory=list)
    symptoms: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    probes: list[dict[str, Any]] = field(default_factory=list)
    config: str | None = None  # file:line of the upstream / proxy_pass


@dataclass(frozen=True)
class Report:
    """Everything a reporter may show.  ``findings`` are ordered most likely first."""

    findings: list[Finding] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    inputs: dict[str, Any] = field(default_factory=dict)
    timeline: list[TimelinePoint] = field(default_factory=list)
    events: list[TimelineEvent] = field(default_factory=list)
    upstreams: list[UpstreamSummary] = field(default_factory=list)
    generated_at: str | None = None
    host: str | None = None
    tool_version: str | None = None
    schema_version: str = SCHEMA_VERSION
    # credential values replaced by ``[redacted]`` (findings.redact, schema 1.4); every format says so
    redacted: int = 0
    # what the verdict rests on (schema 1.6, ``Judged``), in that order; None: not said (a report
    # older than 1.6, the demo's), read as before -- no finding is healthy
    judged: list[str] | None = None

    @property
    def no_evidence(self) -> bool:
        """Nothing was judged at all (schema 1.6): every log read held no line, and no config, live
        check or Kubernetes object was read.  Why: an empty log (just rotated) and ``--offline``
        said "healthy", exit 0 -- a false all-clear on nothing read.  Such a report is no verdict
        (``diagnose`` exits 3)."""
        return not self.findings and self.judged is not None and not self.judged

    @property
    def healthy(self) -> bool:
        """No finding, and something was judged that would show a proxy failing now (``RUNTIME``):
        "nothing is wrong that why502 can see".  A config read alone with no log line is not
        that: it shows no config pitfall, nothing about the 5xx (``config_only``)."""
        if self.findings:
            return False
        return self.judged is None or any(j in RUNTIME for j in self.judged)

    @property
    def config_only(self) -> bool:
        """No finding, a config read and nothing else judged (no log line, no live check): the
        answer is "no config pitfall found; no log line to judge", not "healthy" (exit 0)."""
        return not self.findings and not self.healthy and not self.no_evidence

    @property
    def failing_now(self) -> bool:
        """Is any finding current (not ``recovered``)?  What the exit code says: 1 only then."""
        return any(not f.recovered for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract; ``schema_version`` first so readers can dispatch on it."""
        data = asdict(self)
        ordered: dict[str, Any] = {"schema_version": data.pop("schema_version")}
        ordered["healthy"] = self.healthy
        ordered["no_evidence"] = self.no_evidence
        ordered.update(data)
        return ordered

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Report:
        """Rebuild a report saved by ``to_dict`` (``why502 render``).  Unknown keys are ignored."""
        if not isinstance(data, dict) or "findings" not in data:
            raise ValueError("not a why502 report: no 'findings' key")
        major = str(data.get("schema_version", "")).split(".")[0]
        if major != SCHEMA_VERSION.split(".")[0]:
            raise ValueError(f"unsupported report schema_version {data.get('schema_version')!r}")
        return cls(
            findings=[_finding_from(f) for f in data.get("findings", [])],
            diagnostics=[_build(Diagnostic, d) for d in data.get("diagnostics", [])],
            inputs=dict(data.get("inputs", {})),
            timeline=[_build(TimelinePoint, t) for t in data.get("timeline", [])],
            events=[_build(TimelineEvent, e) for e in data.get("events", [])],
            upstreams=[_build(UpstreamSummary, u) for u in data.get("upstreams", [])],
            generated_at=data.get("generated_at"),
            host=data.get("host"),
            tool_version=data.get("tool_version"),
            schema_version=str(data.get("schema_version", SCHEMA_VERSION)),
            redacted=_count(data.get("redacted")),
            judged=_judged(data.get("judged")),
        )


def _judged(value: object) -> list[str] | None:
    """A saved ``judged``: its known names, in ``Judged``'s order; None when absent or not a list
    (a report older than 1.6)."""
    if not isinstance(value, list):
        return None
    return [j for j in get_args(Judged) if j in value]


def _count(value: object) -> int:
    """A saved count: a non-negative int, else 0 (a report is input)."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _build(cls: type[T], data: dict[str, Any]) -> T:
    """A dataclass from its saved dict (unknown keys ignored: newer minor versions add some)."""
    names = {f.name for f in fields(cls)}
    return cls(**{k: v for k, v in data.items() if k in names})


def _finding_from(data: dict[str, Any]) -> Finding:
    values = {k: v for k, v in data.items() if k in {f.name for f in fields(Finding)}}
    values["evidence"] = [_build(EvidenceItem, e) for e in data.get("evidence", [])]
    fix = data.get("fix")
    values["fix"] = _build(Fix, fix) if fix else None
    values["places"] = [_build(Place, p) for p in data.get("places") or []]
    return Finding(**values)
