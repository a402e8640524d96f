"""Turn parsed config, classified log rows and the access log's stats into typed evidence (pure).

The app layer reads the world (``why502.sources``) and hands the results here; this module only
reshapes them, so the same code serves the live host, recorded fixtures and tests.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from why502.evidence.access_stats import AccessStats
from why502.evidence.events import log_event
from why502.evidence.model import GroupFact, LogEvent, Sample, SymptomGroup, TargetFact
from why502.facts.net import hostport
from why502.facts.setting import Setting
from why502.parsers.errorlog import UPSTREAM_PEER
from why502.parsers.nginx_config import NginxConfig, UpstreamGroup, UpstreamServer
from why502.parsers.nginx_config import Setting as EffectiveSetting

# proxy/backend-side symptom sources: lines nginx (or another proxy) wrote
PROXY_SOURCES = {"nginx", "apache", "haproxy", "envoy"}
MAX_TIMES = 300
MAX_SAMPLES = 3
MAX_EVENTS_PER_KIND = 200

_PEER = re.compile(UPSTREAM_PEER)
_RESOLVE = re.compile(r"(?:no resolver defined to resolve|host not found in upstream) \"?([^\s\",]+)"
                      r"|^([^\s]+) could not be resolved")

# directives whose effective value the analyzers need, per pass kind
_SETTINGS = ("read_timeout", "send_timeout", "connect_timeout", "buffer_size", "buffers",
             "busy_buffers_size")
_EXTRA = ("proxy_http_version", "fastcgi_keep_conn", "resolver", "proxy_ssl_server_name",
          "proxy_ssl_verify")


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


def parse_time(value: Any) -> datetime | None:
    """A naive *local* time: nginx writes local time without a zone (``ngx_times.c``), so zoned
    times (journal, ISO syslog) are converted to the local zone before comparing them."""
    if value is None:
        return None
    when: datetime
    if isinstance(value, datetime):
        when = value
    else:
        try:
            when = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    if when.tzinfo is not None:
        when = when.astimezone()
    return when.replace(tzinfo=None)


# ---------------------------------------------------------------------------------------------
# config


def _setting(s: EffectiveSetting) -> Setting:
    return Setting(value=s.value if s.value is not None else "", file=s.file, line=s.line,
                   is_default=s.is_default)


def _server_key(s: UpstreamServer) -> str:
    return f"unix:{s.unix_path}" if s.unix_path else hostport(s.host, s.port)


def config_facts(cfg: NginxConfig) -> tuple[list[TargetFact], dict[str, GroupFact],
                                             dict[str, tuple[str, ...]]]:
    """Targets (one per group server), upstream groups and the config files' lines."""
    targets: list[TargetFact] = []
    for t in cfg.targets():
        loc = cfg.location_of(t)
        settings: dict[str, Setting] = {}
        if loc is not None:
            for name in (*(f"{t.kind}_{suffix}" for suffix in _SETTINGS), *_EXTRA):
                try:
                    settings[name] = _setting(loc.effective(name))
                except (KeyError, ValueError):
                    continue
            try:
                headers = loc.effective(f"{t.kind}_set_header")
                for d in headers.entries:
                    if d.args and d.args[0].lower() == "connection":
                        settings["proxy_set_header:Connection"] = Setting(
                            " ".join(d.args[1:]), d.file, d.line, False)
            except (KeyError, ValueError):
                pass
        group = cfg.upstreams.get(t.group) if t.group else None
        at_pass = TargetFact(key=t.address, kind=t.kind, scheme=t.scheme, host=t.host, port=t.port,
                             unix_path=t.unix_path, group=t.group,
                             uses_variables=t.uses_variables, file=t.file, line=t.line,
                             server=t.server, location=t.location, settings=settings,
                             pass_file=t.file, pass_line=t.line)
        if group is not None and group.servers:
            targets += [replace(at_pass, key=_server_key(s), host=s.host, port=s.port,
                                unix_path=s.unix_path, group=group.name, file=s.file, line=s.line)
                        for s in group.servers]
        else:
            targets.append(at_pass)
    groups = {
        name: GroupFact(
            name=name, servers=tuple(_server_key(s) for s in g.servers),
            keepalive=g.keepalive, file=g.file, line=g.line, keepalive_line=g.keepalive_line,
            keepalive_timeout=_group_setting(g, "keepalive_timeout"),
            max_fails={_server_key(s): s.max_fails for s in g.servers})
        for name, g in cfg.upstreams.items()}
    files: dict[str, tuple[str, ...]] = {}
    for path in cfg.files:
        text = cfg.file_text(path)
        if text is not None:
            files[path] = tuple(text.splitlines())
    return targets, groups, files


def _group_setting(g: UpstreamGroup, name: str) -> Setting | None:
    for d in g.directives:
        if d.name == name and d.args:
            return Setting(" ".join(d.args), d.file, d.line, False)
    return None


def nginx_listens(cfg: NginxConfig) -> tuple[str, ...]:
    out = []
    for s in cfg.servers:
        for lst in s.listens:
            if lst.port:
                addr = lst.address if lst.address not in ("", "*") else "0.0.0.0"  # noqa: S104
                out.append(hostport(addr, lst.port))
    return tuple(out)


def limit_settings(cfg: NginxConfig) -> tuple[Setting, ...]:
    out = []
    for loc in cfg.all_locations():
        for d in loc.directives:
            if d.name in ("limit_req", "limit_conn"):
                out.append(Setting(f"{d.name} {d.value}", d.file, d.line))
    for s in cfg.servers:
        for d in s.scopes[-1].directives:
            if d.name in ("limit_req", "limit_conn"):
                out.append(Setting(f"{d.name} {d.value}", d.file, d.line))
    return tuple(out)


# ---------------------------------------------------------------------------------------------
# classified log rows


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


class LogAggregator:
    """Accumulates classified rows (polars frames, batch by batch) into groups and events.

    Frames need the ``classify`` columns (``symptom, source, status, time, upstream, message``)
    plus ``file``, ``line`` and ``text`` (the raw line).  Aggregation is vectorised per batch so
    a 100 MB log costs one group_by per batch, not a Python loop per line.
    """

    def __init__(self) -> None:
        self._groups: dict[tuple[str, str | None], _Acc] = {}
        self._events: dict[str, list[LogEvent]] = {}
        self.lines = 0
        # minute ("YYYY-MM-DDTHH:MM") -> status (or symptom when no status) -> count, exact
        self.per_minute: dict[str, dict[str, int]] = {}

    def add(self, df: pl.DataFrame) -> None:
        if df.height == 0:
            return
        self.lines += df.height
        for col in ("upstream", "message", "text", "file", "time", "status", "source", "line",
                    "pattern"):
            if col not in df.columns:
                df = df.with_columns(pl.lit(None).alias(col))
        # nginx's upstream field names the peer after its scheme; a field without one is no peer
        up = pl.col("upstream").cast(pl.Utf8).str.extract_groups(UPSTREAM_PEER)
        scheme, peer = up.struct.field("scheme"), up.struct.field("peer")
        df = df.with_columns(
            pl.when(scheme.is_not_null() & (peer != "")).then(peer).alias("_peer"),
            scheme.alias("_scheme"),
        )
        proxy = df.filter(pl.col("source").cast(pl.Utf8).is_in(list(PROXY_SOURCES))
                          | pl.col("source").is_null())
        other = df.filter(~(pl.col("source").cast(pl.Utf8).is_in(list(PROXY_SOURCES))
                            | pl.col("source").is_null()))
        if proxy.height:
            self._add_proxy(proxy)
        if other.height:
            for row in other.head(5000).iter_rows(named=True):
                self._add_event(row)

    def _add_proxy(self, df: pl.DataFrame) -> None:
        # rows without upstream: take the peer from DNS messages
        missing = df.filter(pl.col("_peer").is_null() & pl.col("message").is_not_null())
        if missing.height:
            fill = [peer_of(None, m)[0] for m in missing["message"].to_list()]
            missing = missing.with_columns(pl.Series("_peer", fill, dtype=pl.Utf8))
            df = pl.concat([df.filter(~(pl.col("_peer").is_null() & pl.col("message").is_not_null())),
                            missing], how="vertical_relaxed")
        keys = ["symptom", "_peer"]
        agg = df.group_by(keys, maintain_order=True).agg(
            pl.len().alias("n"),
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
            [*keys, "status"]).agg(pl.len().alias("n"))
        minutes = df.filter(pl.col("time").is_not_null()).select(
            pl.col("time").cast(pl.Utf8).str.slice(0, 16).alias("m"),
            pl.coalesce(pl.col("status").cast(pl.Utf8), pl.col("symptom").cast(pl.Utf8)).alias("k"),
        ).group_by(["m", "k"]).agg(pl.len().alias("n"))
        for m, k, n in minutes.iter_rows():
            bucket = self.per_minute.setdefault(m, {})
            bucket[k] = bucket.get(k, 0) + n
        for row in agg.iter_rows(named=True):
            key = (row["symptom"], row["_peer"])
            acc = self._groups.get(key)
            if acc is None:
                acc = self._groups[key] = _Acc(row["symptom"], row["_peer"], row["scheme"],
                                               row["src"] or "nginx", message=row["msg"])
            acc.count += row["n"]
            for t in (parse_time(row["tmin"]), parse_time(row["tmax"])):
                if t is not None:
                    acc.first = t if acc.first is None or t < acc.first else acc.first
                    acc.last = t if acc.last is None or t > acc.last else acc.last
            if len(acc.times) < MAX_TIMES:
                acc.times += [x for x in (parse_time(v) for v in row["times"]) if x][
                    : MAX_TIMES - len(acc.times)]
            for text, file, line, t in zip(row["texts"], row["files"], row["lines"], row["stimes"]):
                if len(acc.samples) < MAX_SAMPLES:
                    acc.samples.append(Sample(text=text or "", file=file, line=line,
                                              time=parse_time(t)))
        for row in st.iter_rows(named=True):
            acc = self._groups[(row["symptom"], row["_peer"])]
            status = int(row["status"])
            acc.statuses[status] = acc.statuses.get(status, 0) + row["n"]

    def _add_event(self, row: Mapping[str, Any]) -> None:
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
            out.append(SymptomGroup(
                symptom=acc.symptom, peer=acc.peer, count=acc.count, first=acc.first,
                last=acc.last, statuses=dict(acc.statuses), samples=tuple(acc.samples),
                scheme=acc.scheme, source=acc.source, times=tuple(sorted(acc.times)),
                message=acc.message))
        out.sort(key=lambda g: -g.count)
        return out

    def events(self) -> list[LogEvent]:
        out = [e for bucket in self._events.values() for e in bucket]
        out.sort(key=lambda e: e.time or datetime.min)
        return out


def with_client_view(groups: Iterable[SymptomGroup], stats: AccessStats | None) -> list[SymptomGroup]:
    """Add to each proxy symptom group what the clients got, from the access log (``stats``).

    An error-log line is one failed *attempt*, not one answer: nginx writes a line per failed
    attempt and retries with ``proxy_next_upstream`` (a failed cached keep-alive connection is
    even retried without counting a try: ``ngx_http_upstream_next`` in
    src/http/ngx_http_upstream.c), and a retry that succeeds gives the client a 2xx
    (``$upstream_status "502, 200"``).  The access log knows per peer how many requests ended in
    a 5xx nginx made there (``requests_5xx`` minus the backend-made ones) and how many failed
    attempts a later attempt rescued (``rescued_failures``, evidence/access_stats.py).  When one
    peer has several symptom groups its final 5xx are split by the symptom of the error line the
    stats engine joined to each 5xx request (``errorlog.by_symptom``, exact for a symptom seen at
    this peer only); the rest (and rescued attempts) is shared out by error lines, never more
    than a group's own lines (``clients_estimated``).  A group outside the minutes the access
    log covers keeps ``clients`` None: that log cannot say what those clients got.
    Groups without an access log for their peer are returned unchanged (``clients`` None).
    """
    groups = list(groups)
    if stats is None:
        return groups
    # final 5xx requests per symptom of the error line joined to them (client + request + time)
    joined: Mapping[str, int] = (stats.errorlog or {}).get("by_symptom") or {}
    covered = _access_span(stats)
    failing: dict[str, list[SymptomGroup]] = {}
    for g in groups:
        if (g.peer and g.source == "nginx" and any(s >= 500 for s in g.statuses)
                and _within(g, covered)):
            failing.setdefault(g.peer, []).append(g)
    peers_of: dict[str, int] = {}
    for gs in failing.values():
        for g in gs:
            peers_of[g.symptom] = peers_of.get(g.symptom, 0) + 1
    view: dict[tuple[str, str | None], SymptomGroup] = {}
    for peer, gs in failing.items():
        u = stats.upstream(peer)
        if u is None:
            continue
        remaining = max(0, u.requests_5xx - u.made_by.get("backend", 0))
        rescued = u.rescued_failures
        # the join is global per symptom: exact for a symptom seen at this peer only, and
        # never trusted beyond the symptom's own lines (identical requests in one second make
        # it ambiguous)
        got: dict[str, int] = {}
        for g in gs:
            n = int(joined.get(g.symptom, 0))
            if peers_of[g.symptom] == 1 and 0 < n <= g.count:
                got[g.symptom] = min(n, remaining)
                remaining -= got[g.symptom]
        rest = [g for g in gs if g.symptom not in got]
        rest_lines = sum(g.count for g in rest) or 1
        for g in rest:
            got[g.symptom] = min(g.count, round(remaining * g.count / rest_lines))
        all_lines = sum(g.count for g in gs) or 1
        estimated = (len(rest) > 1 and remaining > 0) or (len(gs) > 1 and rescued > 0)
        for g in gs:
            status = max((s for s in g.statuses if s >= 500), key=lambda s: g.statuses[s])
            view[(g.symptom, g.peer)] = replace(
                g, clients={status: got[g.symptom]},
                rescued=min(g.count, round(rescued * g.count / all_lines)),
                clients_estimated=estimated)
    return [view.get((g.symptom, g.peer), g) for g in groups]


def _access_span(stats: AccessStats) -> tuple[datetime, datetime] | None:
    """The minutes the access log covers (``first_time``..``last_time``, ISO minutes)."""
    if stats.first_time is None or stats.last_time is None:
        return None
    try:
        first = datetime.fromisoformat(stats.first_time[:16])
        last = datetime.fromisoformat(stats.last_time[:16])
    except ValueError:
        return None
    return first, last + timedelta(minutes=1)


def _within(g: SymptomGroup, span: tuple[datetime, datetime] | None) -> bool:
    """Only an access log covering the group's whole time span can say what clients got."""
    if span is None or g.first is None or g.last is None:
        return span is not None
    first, last = (t.replace(tzinfo=None) for t in (g.first, g.last))
    return span[0] <= first and last < span[1]
