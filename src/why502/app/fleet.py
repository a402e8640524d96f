"""``why502 fleet``: one answer for many hosts, asked of the Prometheus that scrapes them all.

Each host runs ``why502 watch``; Prometheus scrapes every ``/metrics`` and is the distributed
engine: this module only asks its HTTP API (``GET /api/v1/query``, instant PromQL queries,
https://prometheus.io/docs/prometheus/latest/querying/api/) for each host's open incidents,
5xx and request rates and down targets, and ranks the hosts: open incidents first, then by 5xx
rate.  No aggregation server of our own.

Why it stays fast at a thousand hosts (``bench/fleet_scale.py``, BENCHMARKS.md): one query per
question for the whole fleet -- never one per host -- and the questions are asked at once (one
thread each; Prometheus evaluates up to ``--query.max-concurrency``, 20 by default, in
parallel).  The rates are read from the recording rules of ``why502 watch --write-mixin``
(``instance:why502_requests:rate5m``: one precomputed series per host) when they are loaded and
``--range`` is theirs; without them, ``rate()`` over every host's raw series is evaluated at
query time, which is correct and slower.

Fleet-level findings (:func:`fleet_findings`): when several hosts' open incidents point at the
same upstream -- the same non-local address, or the same upstream name -- or started within one
minute of each other (one deploy, one network change), the answer says it once, with the hosts
folded, rather than as that many rows.
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from why502.app.watch.mixin import ERRORS_RATE, HOSTS, JOBS, RATE_RANGE, REQUESTS_RATE
from why502.errors import InputError, UsageError
from why502.sources.netread import Answer, Bounds, fetch, get_json, parse_json
from why502.textutil import finite

__all__ = ["MAX_SERIES", "MIN_HOSTS", "QUERIES", "SAME_START", "Fleet", "FleetFinding",
           "HostView", "IncidentView", "fleet", "fleet_findings", "is_local"]

QUERIES = {
    # every watch exports the lag of its logs: a host with no traffic is listed too
    "hosts": "group by (instance) (why502_log_lag_bytes)",
    "incidents": "why502_incidents_open > 0",
    # the open incident's upstream and start (watch >= this version; older ones give none)
    "started": "why502_incident_started_timestamp_seconds",
    "errors": 'sum by (instance) (rate(why502_requests_total{status=~"5.."}[{range}]))',
    "requests": "sum by (instance) (rate(why502_requests_total[{range}]))",
    "errors_recorded": ERRORS_RATE,
    "requests_recorded": REQUESTS_RATE,
    "down": "why502_target_up == 0",
    # an agent that does not answer its scrape exports nothing: its host would vanish from the
    # answer.  Prometheus's own ``up`` says it, for the jobs that scrape why502 metrics.
    "agents_down": "up == 0 and on (job) group by (job) (why502_log_lag_bytes)",
    # the same two from the recording rules: one series per host / per job
    "hosts_recorded": HOSTS,
    "agents_down_recorded": f"up == 0 and on (job) {JOBS}",
}
# Series one answer may hold: a fleet of 10,000 hosts with 10 down targets each fits; more is a
# misconfigured or hostile Prometheus, refused rather than ranked for minutes.
MAX_SERIES = 100_000
# Hosts that make a fleet-level finding: two hosts can share an upstream or a minute by chance;
# three or more failing together is the pattern (one upstream behind them, one deploy).
MIN_HOSTS = 3
# "started within the same minute": incidents whose starts are this close are one finding.
SAME_START = 60.0


@dataclass(frozen=True)
class IncidentView:
    """One host's open incident as the fleet sees it: its cause, and -- from watch's
    ``why502_incident_started_timestamp_seconds`` -- the upstream name, the upstream address
    and the start (Unix time); ``None``/``""`` when the watch is older or did not know."""

    instance: str
    cause: str
    upstream: str = ""
    target: str = ""
    started: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"cause": self.cause, "upstream": self.upstream or None,
                "target": self.target or None, "started": _iso(self.started)}


@dataclass
class HostView:
    """One host.  A rate is ``None`` when Prometheus gave none or a non-finite one (``NaN``,
    ``+Inf``: the API writes sample values as strings, and those are valid there), so the JSON
    says ``null`` and never ``NaN``."""

    instance: str
    causes: list[str] = field(default_factory=list)
    errors_per_s: float | None = 0.0
    requests_per_s: float | None = 0.0
    down: list[str] = field(default_factory=list)
    incidents: list[IncidentView] = field(default_factory=list)
    agent_down: bool = False

    def to_dict(self, rounded: bool = True) -> dict[str, Any]:
        """``rounded``: the rates to 4 decimals (the JSON); False keeps them whole for the text
        reporter, which compares them with 0 and writes them its own way."""
        def rate(value: float | None) -> float | None:
            return _rounded(value) if rounded else value

        return {"instance": self.instance, "open_incidents": self.causes,
                "errors_5xx_per_s": rate(self.errors_per_s),
                "requests_per_s": rate(self.requests_per_s), "targets_down": self.down,
                "incidents": [i.to_dict() for i in self.incidents],
                "agent_down": self.agent_down}

    @property
    def alarming(self) -> bool:
        """An open incident, a down target or a silent agent: exit 1."""
        return bool(self.causes or self.down or self.agent_down)


@dataclass(frozen=True)
class FleetFinding:
    """Many hosts, one cause: ``kind`` is ``upstream`` (the same upstream address, or the same
    upstream name, behind every host's incident) or ``started-together`` (the incidents started
    within :data:`SAME_START` seconds of each other)."""

    kind: str
    hosts: tuple[str, ...]
    causes: tuple[tuple[str, int], ...]  # (cause, hosts), most hosts first
    first_started: float | None
    last_started: float | None
    upstream: str = ""  # the shared name (kind upstream)
    target: str = ""  # the shared address (kind upstream, when it is the address)

    def headline(self) -> str:
        """``one upstream, 37 hosts: 10.0.0.5:5432 (...)`` or ``37 hosts started within 1 min
        at 22:41 UTC (...)``."""
        causes = ", ".join(f"{c} x{n}" if len(self.causes) > 1 else c for c, n in self.causes)
        if self.kind == "upstream":
            what = self.target or self.upstream
            if self.target and self.upstream and self.upstream != self.target:
                what += f" (upstream {self.upstream})"
            span = ""
            if self.first_started is not None and self.last_started is not None:
                span = f", started {_hhmm(self.first_started)}"
                if _hhmm(self.last_started) != _hhmm(self.first_started):
                    span += f"-{_hhmm(self.last_started)}"
                span += " UTC"
            return f"one upstream, {len(self.hosts)} hosts: {what}: {causes}{span}"
        start = _hhmm(self.first_started) if self.first_started is not None else "?"
        return f"{len(self.hosts)} hosts started within 1 min at {start} UTC: {causes}"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "summary": self.headline(), "upstream": self.upstream or None,
                "target": self.target or None, "hosts": list(self.hosts),
                "causes": dict(self.causes), "first_started": _iso(self.first_started),
                "last_started": _iso(self.last_started)}


@dataclass
class Fleet:
    """The answer: every host, most urgent first, and the fleet-level findings."""

    hosts: list[HostView]
    findings: list[FleetFinding] = field(default_factory=list)

    def to_dict(self, rounded: bool = True) -> dict[str, Any]:
        """``{"hosts": [...], "fleet_findings": [...]}`` (docs/guide/fleet.md); ``rounded``:
        ``HostView.to_dict``'s."""
        return {"hosts": [h.to_dict(rounded) for h in self.hosts],
                "fleet_findings": [f.to_dict() for f in self.findings]}


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def _iso(when: float | None) -> str | None:
    if when is None:
        return None
    return datetime.fromtimestamp(when, timezone.utc).isoformat(timespec="seconds").replace(
        "+00:00", "Z")


def _hhmm(when: float) -> str:
    return datetime.fromtimestamp(when, timezone.utc).strftime("%H:%M")


@dataclass(frozen=True)
class Sample:
    """One series of an instant vector: its labels and its value (finite, or ``None``)."""

    labels: dict[str, str]
    value: float | None


def _url(base: str, promql: str) -> str:
    return f"{base.rstrip('/')}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"


def query(base: str, promql: str, bounds: Bounds | None = None) -> list[Sample]:
    """One instant query (``GET /api/v1/query``), read through the bounded reader; the answer
    must have the documented shape (``{"status": "success", "data": {"resultType": "vector",
    "result": [{"metric": {name: value}, "value": [time, "value"]}]}}``): anything else is one
    line, exit 3, never a traceback."""
    where = f"Prometheus {base}"
    status, body = get_json(_url(base, promql), bounds or Bounds(), what=where)
    return parse_answer(body, status, where, promql)


def parse_answer(body: Any, status: int, where: str, promql: str) -> list[Sample]:
    """The samples of one ``/api/v1/query`` answer (``body`` as decoded JSON)."""
    if isinstance(body, dict) and body.get("status") == "error":
        raise InputError(f"{where}: query {promql!r} failed: {str(body.get('error'))[:200]}")
    if status >= 400:
        raise InputError(f"{where}: HTTP {status} for {promql!r}")
    if not isinstance(body, dict) or body.get("status") != "success":
        raise InputError(f"{where}: query {promql!r}: not a Prometheus API answer")
    data = body.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "vector" \
            or not isinstance(data.get("result"), list):
        raise InputError(f"{where}: query {promql!r}: the answer is not an instant vector")
    result = data["result"]
    if len(result) > MAX_SERIES:
        raise InputError(f"{where}: query {promql!r} returned {len(result):,} series, more than "
                         f"the {MAX_SERIES:,} allowed")
    return [_sample(r, where, promql) for r in result]


def _sample(r: Any, where: str, promql: str) -> Sample:
    bad = f"{where}: query {promql!r}: a series that is not {{metric: {{label: text}}, value: [time, text]}}"
    if not isinstance(r, dict):
        raise InputError(bad)
    metric = r.get("metric", {})
    value = r.get("value")
    if not isinstance(metric, dict) or not all(isinstance(v, str) for v in metric.values()) \
            or not isinstance(value, list) or len(value) != 2:
        raise InputError(bad)
    number: float | None
    try:
        number = finite(float(value[1])) if isinstance(value[1], str) else None
    except ValueError:
        number = None
    return Sample(metric, number)


def fleet(base: str, rate_range: str = "5m", timeout: float = 30.0) -> Fleet:
    """Every host Prometheus knows a why502 metric of, most urgent first, and the fleet-level
    findings.  ``timeout`` bounds each query's whole exchange (connect to last byte)."""
    if not base.startswith(("http://", "https://")):
        raise UsageError(f"--prometheus {base!r}: expected an http:// or https:// URL")
    bounds = Bounds(seconds=timeout)
    rates = ["requests", "errors"]
    recorded = ["hosts", "agents_down"] + (rates if rate_range == RATE_RANGE else [])
    names = ["incidents", "started", "down"] + [f"{n}_recorded" for n in recorded]
    names += [] if rate_range == RATE_RANGE else rates
    queries = {n: QUERIES[n].replace("{range}", rate_range) for n in names}
    raw = _fetch_all(base, queries, bounds)
    if not _answer(base, queries, raw, bounds, "hosts_recorded"):
        # the recording rules are not loaded (or have not run yet): the same questions over
        # the raw series, rate() at query time
        queries |= {n: QUERIES[n].replace("{range}", rate_range) for n in recorded}
        raw |= _fetch_all(base, {n: queries[n] for n in recorded}, bounds)
    else:
        for n in recorded:
            raw[n] = raw[f"{n}_recorded"]
            queries[n] = queries[f"{n}_recorded"]
    return assemble(lambda name: _answer(base, queries, raw, bounds, name))


def _fetch_all(base: str, queries: dict[str, str], bounds: Bounds) -> dict[str, Answer]:
    """Every query's bytes at once, one thread each (the time is Prometheus's and the
    network's); each answer within ``bounds`` (8 MiB), so all of them hold at most that many
    times 8 MiB.  The JSON is decoded later, one answer at a time (:func:`_answer`): decoded
    objects are ~10-20x their bytes, and decoding them all at once would multiply the worst
    case (docs/security.md) by the number of queries.  A failure is raised in the queries'
    order, whichever thread met it first."""
    where = f"Prometheus {base}"
    with ThreadPoolExecutor(max_workers=len(queries), thread_name_prefix="why502-fleet") as pool:
        futures = {name: pool.submit(fetch, _url(base, promql), bounds, what=where,
                                     headers={"Accept": "application/json"})
                   for name, promql in queries.items()}
        return {name: f.result() for name, f in futures.items()}


def _answer(base: str, queries: dict[str, str], raw: dict[str, Answer], bounds: Bounds,
            name: str) -> list[Sample]:
    """The samples of one fetched answer, decoded now (``[]`` for a query not asked)."""
    if name not in raw:
        return []
    where = f"Prometheus {base}"
    answer = raw[name]
    body = parse_json(answer.body, bounds, where) if answer.body.strip() else None
    return parse_answer(body, answer.status, where, queries[name])


def assemble(answer: Callable[[str], list[Sample]]) -> Fleet:
    """The hosts and the fleet-level findings from the answers of :data:`QUERIES`, asked for
    by name one at a time (``requests``/``errors``: whichever of the raw or recorded rates was
    read), so only one decoded answer is alive at a time."""
    hosts: dict[str, HostView] = {}

    def host(s: Sample) -> HostView:
        name = s.labels.get("instance", "?")
        return hosts.setdefault(name, HostView(name))

    for s in answer("hosts"):
        host(s)
    rated: set[str] = set()
    for s in answer("requests"):
        host(s).requests_per_s = s.value
        rated.add(s.labels.get("instance", "?"))
    for s in answer("errors"):
        host(s).errors_per_s = s.value
    detail: dict[tuple[str, str], Sample] = {}
    for s in answer("started"):
        detail.setdefault((s.labels.get("instance", "?"), s.labels.get("cause", "unknown")), s)
    for s in answer("incidents"):
        h = host(s)
        cause = s.labels.get("cause", "unknown")
        h.causes.append(cause)
        d = detail.get((h.instance, cause))
        h.incidents.append(IncidentView(
            h.instance, cause, upstream=d.labels.get("upstream", "") if d else "",
            target=d.labels.get("target", "") if d else "", started=d.value if d else None))
    for s in answer("down"):
        host(s).down.append(s.labels.get("target", "?"))
    for s in answer("agents_down"):
        h = host(s)
        h.agent_down = True
        if h.instance not in rated:  # a silent agent's rates are unknown, not 0
            h.requests_per_s = h.errors_per_s = None
    for h in hosts.values():
        h.causes.sort()
        h.incidents.sort(key=lambda i: i.cause)
        h.down.sort()
    ranked = sorted(hosts.values(), key=lambda h: (-len(h.causes), -len(h.down), -h.agent_down,
                                                   -(h.errors_per_s or 0.0), h.instance))
    return Fleet(ranked, fleet_findings([i for h in ranked for i in h.incidents]))


def is_local(address: str) -> bool:
    """An upstream address that names a different backend on every host: loopback
    (``127.0.0.0/8``, ``::1``, ``localhost``) or a unix socket.  Two hosts failing on
    ``127.0.0.1:9000`` share nothing."""
    rest = address.split("://", 1)[-1]
    if rest.startswith("unix:") or rest.startswith("/"):
        return True
    host = rest[1:].split("]", 1)[0] if rest.startswith("[") else rest.rsplit(":", 1)[0]
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _looks_like_address(name: str) -> bool:
    rest = name.split("://", 1)[-1]
    host = rest[1:].split("]", 1)[0] if rest.startswith("[") else rest.rsplit(":", 1)[0]
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return rest.startswith(("unix:", "/"))


def fleet_findings(incidents: list[IncidentView], min_hosts: int = MIN_HOSTS,
                   same_start: float = SAME_START) -> list[FleetFinding]:
    """Group the open incidents of many hosts into fleet-level findings.

    1. the same upstream *address* behind at least ``min_hosts`` hosts' incidents (the scheme
       does not matter: ``http://10.0.0.5:80`` is ``10.0.0.5:80``); host-local addresses
       (:func:`is_local`) are never shared;
    2. of the incidents left, the same upstream *name* (an nginx ``upstream`` block, a HAProxy
       backend) behind ``min_hosts`` hosts, when its address is not host-local: web nodes whose
       ``upstream api`` lists different members of one pool;
    3. of the incidents left, ``min_hosts`` hosts whose incidents started within ``same_start``
       seconds (greedy from the earliest start: one deploy breaks them in one go).

    A host is counted once per finding; biggest findings first."""
    out: list[FleetFinding] = []
    left = [i for i in incidents if i.instance]

    def take(groups: dict[str, list[IncidentView]], by_address: bool) -> None:
        nonlocal left
        for key, members in sorted(groups.items(), key=lambda kv: (-len(_hosts(kv[1])), kv[0])):
            if len(_hosts(members)) < min_hosts:
                continue
            # the upstream name too, when every incident on that address gives the same one
            names = {m.upstream for m in members}
            name = names.pop() if len(names) == 1 else ""
            if by_address:
                out.append(_finding("upstream", members, name if _bare(name) != key else "", key))
            else:
                out.append(_finding("upstream", members, key))
            gone = {id(m) for m in members}
            left = [i for i in left if id(i) not in gone]

    by_address: dict[str, list[IncidentView]] = {}
    for i in left:
        if i.target and not is_local(i.target):
            by_address.setdefault(_bare(i.target), []).append(i)
    take(by_address, by_address=True)
    by_name: dict[str, list[IncidentView]] = {}
    for i in left:
        if i.upstream and not _looks_like_address(i.upstream) \
                and not (i.target and is_local(i.target)):
            by_name.setdefault(i.upstream, []).append(i)
    take(by_name, by_address=False)
    timed = sorted((i for i in left if i.started is not None), key=lambda i: (i.started, i.instance))
    start = 0
    while start < len(timed):
        first = timed[start].started
        assert first is not None
        end = start
        while end < len(timed) and (timed[end].started or 0.0) - first <= same_start:
            end += 1
        if len(_hosts(timed[start:end])) >= min_hosts:
            out.append(_finding("started-together", timed[start:end]))
            start = end
        else:
            start += 1
    return sorted(out, key=lambda f: (-len(f.hosts), f.kind, f.target or f.upstream))


def _bare(address: str) -> str:
    """``http://10.0.0.5:80`` -> ``10.0.0.5:80``: one backend, whichever scheme reached it."""
    return address.split("://", 1)[-1]


def _hosts(members: list[IncidentView]) -> list[str]:
    return sorted({m.instance for m in members})


def _finding(kind: str, members: list[IncidentView], upstream: str = "",
             target: str = "") -> FleetFinding:
    hosts = _hosts(members)
    causes = Counter({c: len({m.instance for m in members if m.cause == c})
                      for c in {m.cause for m in members}})
    starts = [m.started for m in members if m.started is not None]
    return FleetFinding(kind, tuple(hosts), tuple(sorted(causes.items(), key=lambda kv: (-kv[1], kv[0]))),
                        min(starts) if starts else None, max(starts) if starts else None,
                        upstream=upstream, target=target)
