"""The typed result of every command that writes JSON, besides diagnose's ``Report`` and lint's
``LintReport`` (issue 23, item 5): ``StatsReport`` and ``LbStatsReport`` (stats), ``ClassifySummary``
(classify --format json), ``ExplainResult`` (explain), ``CauseRow`` (causes), ``FleetReport``
(fleet) and ``WatchEvent`` (watch --format jsonl).

Each has ``to_dict()`` -- the command's JSON document, key for key and in the same order as
before these types existed -- and ``from_dict()``, its inverse (``from_dict(x.to_dict()) == x``),
and a JSON Schema in ``src/why502/schemas/`` (``SCHEMAS``), which the tests check against each
command's real output.  Before, stats travelled as ``dict[str, Any]`` that ``cli/cmd_stats.py``
edited with ``str.replace``.

The documents' top-level fields are typed here; rows whose shape belongs to the engine that makes
them (a stats upstream's histograms, a catalog entry) stay JSON objects (``dict[str, Any]``) and
are described by the schema.  ``from_dict`` reads what a newer minor version adds without
failing: unknown keys are ignored, like ``Report.from_dict``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

SCHEMAS = {
    "diagnose": "report.schema.json",
    "lint": "lint.schema.json",
    "stats": "stats.schema.json",
    "classify": "classify.schema.json",
    "explain": "explain.schema.json",
    "causes": "causes.schema.json",
    "fleet": "fleet.schema.json",
    "watch": "watch-event.schema.json",
    "lab list": "lab-list.schema.json",
    "lab check": "lab-check.schema.json",
    "fix": "fix-plan.schema.json",
    "mitigate": "mitigation-plan.schema.json",
}
"""Command -> its JSON Schema file in ``why502/schemas/``."""

T = TypeVar("T")

_MISSING = object()


def _key(f: dataclasses.Field[Any]) -> str:
    return str(f.metadata.get("key", f.name))


def _dump(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return value.to_dict()  # type: ignore[attr-defined]
    if isinstance(value, list):
        return [_dump(v) for v in value]
    return value


def to_dict(obj: Any) -> dict[str, Any]:
    """A result's fields under their JSON keys, in field order; an ``optional`` field that is
    None is left out (the document never had it then)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.metadata.get("rest"):
            out.update(value)
            continue
        if f.metadata.get("optional") and value is None:
            continue
        out[_key(f)] = _dump(value)
    return out


def from_dict(cls: type[T], data: object, what: str) -> T:
    """``cls`` from its JSON document: a field without default that is missing is a ValueError
    naming it; nested results (``items``: a list of them, ``type``: one) are read in turn."""
    if not isinstance(data, dict):
        raise ValueError(f"not a why502 {what} (expected a JSON object)")
    kwargs: dict[str, Any] = {}
    known = {_key(f) for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        if f.metadata.get("rest"):
            kwargs[f.name] = {k: v for k, v in data.items() if k not in known}
            continue
        value = data.get(_key(f), _MISSING)
        if value is _MISSING:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ValueError(f"not a why502 {what} (no {_key(f)!r})")
            continue
        items = f.metadata.get("items")
        if items is not None and isinstance(value, list):
            value = [items.from_dict(v) for v in value]
        nested = f.metadata.get("type")
        if nested is not None and value is not None:
            value = nested.from_dict(value)
        kwargs[f.name] = value
    return cls(**kwargs)


def _version(data: object, key: str, expected: str, what: str) -> None:
    if isinstance(data, dict) and key in data and str(data[key]) != expected:
        raise ValueError(f"unsupported {what} version {data[key]!r} (this why502 reads {expected})")


R = TypeVar("R", bound="_Plain")


class _Plain:
    """``to_dict``/``from_dict`` of a result that is its fields and nothing more (``WHAT`` names it
    in a ValueError)."""

    WHAT: ClassVar[str] = "result"

    def to_dict(self) -> dict[str, Any]:
        return to_dict(self)

    @classmethod
    def from_dict(cls: type[R], data: object) -> R:
        return from_dict(cls, data, cls.WHAT)


OPTIONAL = {"optional": True}
"""A field's metadata: left out of the document when it is None."""

REST = {"rest": True}
"""A field's metadata: the document's keys no other field reads, kept and written back after the
others (a result another branch or a newer version extends keeps what it added)."""


# -- stats ----------------------------------------------------------------------------------------


@dataclass
class StatsReport:
    """``why502 stats --format json`` on a proxy's access log (``schemas/stats.schema.json``).
    ``proxy`` says which proxy wrote the log when it is not nginx (its rows were read through
    nginx's columns); ``servers_now`` is HAProxy's runtime view; ``redacted`` counts the
    credentials hidden."""

    VERSION: ClassVar[str] = "1"

    log_format: str
    format_name: str | None
    files: list[str]
    lines: int
    requests: int
    unparsed: int
    unparsed_samples: list[dict[str, Any]]
    filtered_out: int
    first_time: str | None
    last_time: str | None
    by_status: dict[str, int]
    total_5xx: int
    timeline: list[dict[str, Any]]
    incidents: list[dict[str, Any]]
    made_by: dict[str, int]
    upstreams: list[dict[str, Any]]
    by_host: list[dict[str, Any]]
    by_location: list[dict[str, Any]]
    by_uri: list[dict[str, Any]]
    by_client: list[dict[str, Any]]
    rescued: int
    retried: int
    redirected: int
    errorlog: dict[str, Any] | None
    requests_5xx: list[dict[str, Any]]
    notes: list[str]
    percentile_precision: str
    proxy: str | None = field(default=None, metadata=OPTIONAL)
    servers_now: list[dict[str, Any]] | None = field(default=None, metadata=OPTIONAL)
    redacted: int | None = field(default=None, metadata=OPTIONAL)

    def to_dict(self) -> dict[str, Any]:
        return {"stats_version": self.VERSION, **to_dict(self)}

    @classmethod
    def from_dict(cls, data: object) -> StatsReport:
        _version(data, "stats_version", cls.VERSION, "stats")
        return from_dict(cls, data, "stats result")

    @property
    def fivexx(self) -> int:
        """5xx answered to clients (the exit code's "findings")."""
        return self.total_5xx

    @property
    def read_nothing(self) -> bool:
        """No access-log line and no error-log line was read: nothing was looked at (exit 3,
        not the "no 5xx" of an all-clear)."""
        return not self.lines and not (self.errorlog or {}).get("lines")


@dataclass
class LbStatsReport:
    """``why502 stats --format json`` on a load balancer's or edge proxy's log (ALB, ELB,
    Cloudflare, Envoy, Caddy, Traefik; ``schemas/stats.schema.json``, its second shape)."""

    VERSION: ClassVar[str] = "1"

    log_type: str
    made_by_name: str
    files: list[str]
    lines: int
    requests: int
    error_lines: int
    unparsed: int
    by_status: dict[str, int]
    total_5xx: int = field(metadata={"key": "5xx"})
    made_by: dict[str, int] = field(default_factory=dict)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    by_code: list[dict[str, Any]] = field(default_factory=list)
    targets: list[dict[str, Any]] = field(default_factory=list)
    groups: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, Any] = field(default_factory=dict)
    retries: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"stats_version": self.VERSION, **to_dict(self)}

    @classmethod
    def from_dict(cls, data: object) -> LbStatsReport:
        _version(data, "stats_version", cls.VERSION, "stats")
        return from_dict(cls, data, "load-balancer stats result")

    @property
    def fivexx(self) -> int:
        """5xx answered to clients, whoever made them (the exit code's "findings")."""
        return sum(v for v in self.made_by.values() if isinstance(v, int))

    @property
    def read_nothing(self) -> bool:
        """No line was read (``StatsReport.read_nothing``)."""
        return not self.lines and not self.error_lines


def stats_from_dict(data: object) -> StatsReport | LbStatsReport:
    """Either shape of ``stats --format json``: a load balancer's log has ``log_type``."""
    if isinstance(data, dict) and "log_type" in data:
        return LbStatsReport.from_dict(data)
    return StatsReport.from_dict(data)


# -- classify -------------------------------------------------------------------------------------


@dataclass
class ClassifySymptom(_Plain):
    """One row of ``symptoms``: a symptom or evidence event, its lines, statuses, sources, span;
    ``word`` is a load balancer's own word for it (absent for error logs)."""

    WHAT: ClassVar[str] = "classify symptom row"

    id: str
    kind: str
    lines: int
    word: str | None = field(default=None, metadata=OPTIONAL)
    statuses: dict[str, int] = field(default_factory=dict)
    sources: dict[str, int] = field(default_factory=dict)
    first: str | None = None
    last: str | None = None


@dataclass
class ClassifyUpstream(_Plain):
    """One row of ``upstreams``: an upstream or process, its lines and symptoms."""

    WHAT: ClassVar[str] = "classify upstream row"

    upstream: str
    lines: int
    symptoms: dict[str, int] = field(default_factory=dict)


@dataclass
class ClassifySummary:
    """``why502 classify --format json`` (``schemas/classify.schema.json``); built by
    ``app.classify``'s running totals (``summary(top)``) or from a load balancer's rows."""

    SCHEMA: ClassVar[str] = "why502.classify/1"

    files: list[str]
    log_type: str | None = field(default=None, metadata=OPTIONAL)
    lines_read: int | None = 0
    recognised: int = 0
    failures: int = 0
    symptoms: list[ClassifySymptom] = field(default_factory=list, metadata={"items": ClassifySymptom})
    upstreams: list[ClassifyUpstream] = field(default_factory=list, metadata={"items": ClassifyUpstream})

    def to_dict(self) -> dict[str, Any]:
        return {"schema": self.SCHEMA, **to_dict(self)}

    @classmethod
    def from_dict(cls, data: object) -> ClassifySummary:
        if isinstance(data, dict) and data.get("schema") != cls.SCHEMA:
            raise ValueError(f"not a why502 classify summary (schema {data.get('schema')!r})")
        return from_dict(cls, data, "classify summary")


# -- explain, causes -------------------------------------------------------------------------------


@dataclass
class ExplainResult(_Plain):
    """``why502 explain ARG --format json`` (``schemas/explain.schema.json``): catalog ``entries``,
    a ``status`` page, a recognised ``line``, a load balancer's ``terms``, or a ``lint_rule``
    page (which has no ``terms``)."""

    WHAT: ClassVar[str] = "explain result"

    query: str
    type: str
    entries: list[dict[str, Any]] = field(default_factory=list)
    status: dict[str, Any] | None = None
    line: dict[str, Any] | None = None
    terms: list[dict[str, Any]] | None = field(default=None, metadata=OPTIONAL)
    lint_rule: dict[str, Any] | None = field(default=None, metadata=OPTIONAL)


@dataclass
class CauseRow(_Plain):
    """One row of ``why502 causes --format json`` (a JSON array of them; ``schemas/causes.schema.json``);
    ``family`` only for a status-code page."""

    WHAT: ClassVar[str] = "causes row"

    id: str
    kind: str
    kind_label: str
    family: str | None = field(default=None, metadata=OPTIONAL)
    status_codes: list[str] = field(default_factory=list)
    title: str = ""


# -- fleet ------------------------------------------------------------------------------------------


@dataclass
class FleetHost(_Plain):
    """One host as Prometheus sees its ``why502 watch``: open incidents (their causes), rates
    (``None`` when Prometheus gave none or a non-finite one), down targets; ``more``: fields a
    newer ``app.fleet`` adds, kept in order after these."""

    WHAT: ClassVar[str] = "fleet host"

    instance: str
    open_incidents: list[str] = field(default_factory=list)
    errors_5xx_per_s: float | None = None
    requests_per_s: float | None = None
    targets_down: list[str] = field(default_factory=list)
    more: dict[str, Any] = field(default_factory=dict, metadata=REST)

    @property
    def agent_down(self) -> bool:
        """Its watch did not answer Prometheus's scrape (``agent_down``, after the fields above)."""
        return bool(self.more.get("agent_down"))


@dataclass
class FleetReport(_Plain):
    """``why502 fleet --format json`` (``schemas/fleet.schema.json``): the hosts, ranked."""

    WHAT: ClassVar[str] = "fleet report"

    hosts: list[FleetHost] = field(default_factory=list, metadata={"items": FleetHost})
    more: dict[str, Any] = field(default_factory=dict, metadata=REST)

    @property
    def findings(self) -> bool:
        """Some host has an open incident or a down target (exit 1)."""
        return any(h.open_incidents or h.targets_down for h in self.hosts)

    @property
    def fleet_findings(self) -> list[dict[str, Any]]:
        """The fleet-level findings (``fleet_findings``: ``summary``, ``hosts``, ``kind`` ...),
        each many hosts' incidents with one upstream or one start."""
        found = self.more.get("fleet_findings")
        return [f for f in found if isinstance(f, dict)] if isinstance(found, list) else []


# -- watch ------------------------------------------------------------------------------------------


@dataclass
class WatchEvent(_Plain):
    """One line of ``why502 watch --format jsonl`` (``schemas/watch-event.schema.json``): an
    incident opened, updated or resolved, with the incident as it stands (its fields are
    ``app.watch.incidents.Incident.to_dict``'s, described by the schema)."""

    WHAT: ClassVar[str] = "watch event"

    event: str
    time: str
    instance: str
    incident: dict[str, Any]


# -- mitigate ---------------------------------------------------------------------------------------


@dataclass
class StopGap(_Plain):
    """One stop-gap ``why502 mitigate`` proposes, as the user is shown it before anything is done:
    what (``kind``: take-out, fallback, timeout), where (the proxy, its group, the servers), why,
    on what evidence, and either why it is refused or how it is made -- ``steps`` (a runtime API
    call in words, the fallback's answer, the timeout's change) and ``diffs`` (each file's
    unified diff, made from the file as it is now)."""

    WHAT: ClassVar[str] = "stop-gap"

    kind: str
    proxy: str
    group: str
    servers: list[str] = field(default_factory=list)
    why: str = ""
    evidence: list[str] = field(default_factory=list)
    refused: str = ""
    steps: list[str] = field(default_factory=list)
    diffs: list[str] = field(default_factory=list)


@dataclass
class MitigationPlan(_Plain):
    """What ``why502 mitigate`` proposes (its dry run, and the first screen of ``--apply``), the
    result its text reporter renders: before, ``app.mitigate.run.show`` printed it as the run went
    (issue 23, item 5)."""

    WHAT: ClassVar[str] = "mitigation plan"
    SCHEMA: ClassVar[str] = "why502.mitigation-plan/1"

    stopgaps: list[StopGap] = field(default_factory=list, metadata={"items": StopGap})

    def to_dict(self) -> dict[str, Any]:
        """``why502 mitigate --format json`` (``schemas/mitigation-plan.schema.json``), ``schema``
        first."""
        return {"schema": self.SCHEMA, **to_dict(self)}

    @classmethod
    def from_dict(cls, data: object) -> MitigationPlan:
        if isinstance(data, dict) and data.get("schema", cls.SCHEMA) != cls.SCHEMA:
            raise ValueError(f"not a why502 {cls.WHAT} (schema {data.get('schema')!r})")
        return from_dict(cls, data, cls.WHAT)
