"""Turn parsed config, classified log rows and source results into typed evidence (pure).

The app layer reads the world (``why502.sources``) and hands the results here; this module only
reshapes them, so the same code serves the live host, recorded fixtures and tests.  Source
results are taken duck-typed (``getattr``): evidence must not import ``why502.sources``
(import-linter contract "parsers are pure").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import polars as pl

from why502.evidence.model import (
    FpmPoolFact,
    GroupFact,
    ListenerFact,
    LogEvent,
    ProbeFact,
    Sample,
    Setting,
    SymptomGroup,
    TargetFact,
)
from why502.parsers.nginx import NginxConfig

# proxy/backend-side symptom sources: lines nginx (or another proxy) wrote
PROXY_SOURCES = {"nginx", "apache", "haproxy", "envoy"}
MAX_TIMES = 300
MAX_SAMPLES = 3
MAX_EVENTS_PER_KIND = 200

_PEER = re.compile(r"^[A-Za-z0-9+.-]+://(unix:[^:]*|\[[^\]]+\](?::\d+)?|[^/:\s]+(?::\d+)?)")
_RESOLVE = re.compile(r"(?:no resolver defined to resolve|host not found in upstream) \"?([^\s\",]+)"
                      r"|^([^\s]+) could not be resolved")
_OOM = re.compile(r"Killed process (\d+) \(([^)]+)\)|oom-kill:.*?task=([^,]+),pid=\s*(\d+)")
_CHILD = re.compile(r"\[pool ([^\]]+)\] child (\d+) exited on signal (\d+) \((SIG\w+)")
_POOL = re.compile(r"\[pool ([^\]]+)\]")
_UNIT = re.compile(r"(?:systemd\[\d+\]: )?([\w@.\-]+\.service): ")
_RESTARTS = re.compile(r"restart counter is at (\d+)")
# kernel: "python3[4242]: segfault at 0 ip ... error 4 in ..." (arch/x86/mm/fault.c show_signal_msg())
_SEGV = re.compile(r"(?:^|\s)([^\s\[\]]+)\[(\d+)\]: segfault at ")
# supervisord (supervisor/process.py): "spawned: 'app' with pid 42", "exited: app (...)", "gave up: app"
_SUPERVISOR = re.compile(r"spawned: '([^']+)' with pid (\d+)|exited: (\S+) \(|gave up: (\S+) entered FATAL")
_PID = re.compile(r"\bpid[: ]+(\d+)|\(pid: ?(\d+)\)")

# directives whose effective value the analyzers need, per pass kind
_SETTINGS = ("read_timeout", "send_timeout", "connect_timeout", "buffer_size", "buffers",
             "busy_buffers_size")
_EXTRA = ("proxy_http_version", "fastcgi_keep_conn", "resolver", "proxy_ssl_server_name",
          "proxy_ssl_verify")


def peer_of(upstream: str | None, message: str | None = None) -> tuple[str | None, str | None]:
    """``(peer key, scheme)`` from nginx's ``upstream: "..."`` field (or a DNS message)."""
    if upstream:
        m = _PEER.match(upstream)
        if m:
            return m.group(1), upstream.split("://", 1)[0]
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


def _setting(s: Any) -> Setting:
    return Setting(value=str(s.value) if s.value is not None else "", file=s.file, line=s.line,
                   is_default=bool(s.is_default))


def config_facts(cfg: NginxConfig) -> tuple[list[TargetFact], dict[str, GroupFact],
                                             dict[str, tuple[str, ...]]]:
    """Targets (one per group server), upstream groups and the config files' lines."""
    targets: list[TargetFact] = []
    for t in cfg.targets():
        loc = cfg.location_of(t)
        settings: dict[str, Setting] = {}
        if loc is not None:
            for suffix in _SETTINGS:
                name = f"{t.kind}_{suffix}"
                try:
                    settings[name] = _setting(loc.effective(name))
                except (KeyError, ValueError):
                    continue
            for name in _EXTRA:
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
        common = dict(kind=t.kind, scheme=t.scheme, uses_variables=t.uses_variables,
                      server=t.server, location=t.location, settings=settings,
                      pass_file=t.file, pass_line=t.line)
        if group is not None and group.servers:
            for s in group.servers:
                key = f"unix:{s.unix_path}" if s.unix_path else _hostport(s.host, s.port)
                targets.append(TargetFact(key=key, host=s.host, port=s.port, unix_path=s.unix_path,
                                          group=group.name, file=s.file, line=s.line,
                                          **common))  # type: ignore[arg-type]
        else:
            targets.append(TargetFact(key=t.address, host=t.host, port=t.port,
                                      unix_path=t.unix_path, group=t.group, file=t.file,
                                      line=t.line, **common))  # type: ignore[arg-type]
    groups = {
        name: GroupFact(
            name=name,
            servers=tuple(f"unix:{s.unix_path}" if s.unix_path else _hostport(s.host, s.port)
                          for s in g.servers),
            keepalive=g.keepalive, file=g.file, line=g.line, keepalive_line=g.keepalive_line,
            keepalive_timeout=_group_setting(g, "keepalive_timeout"),
            max_fails={(f"unix:{s.unix_path}" if s.unix_path else _hostport(s.host, s.port)):
                       s.max_fails for s in g.servers})
        for name, g in cfg.upstreams.items()}
    files: dict[str, tuple[str, ...]] = {}
    for path in cfg.files:
        text = cfg.file_text(path)
        if text is not None:
            files[path] = tuple(text.splitlines())
    return targets, groups, files


def _group_setting(g: Any, name: str) -> Setting | None:
    for d in getattr(g, "directives", ()):
        if d.name == name and d.args:
            return Setting(" ".join(d.args), d.file, d.line, False)
    return None


def _hostport(host: str | None, port: int | None) -> str:
    h = host or ""
    if ":" in h and not h.startswith("["):
        h = f"[{h}]"
    return f"{h}:{port}" if port else h


def nginx_listens(cfg: NginxConfig) -> tuple[str, ...]:
    out = []
    for s in cfg.servers:
        for lst in s.listens:
            if lst.port:
                addr = lst.address if lst.address not in ("", "*") else "0.0.0.0"  # noqa: S104
                out.append(_hostport(addr, lst.port))
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
        for col in ("upstream", "message", "text", "file", "time", "status", "source", "line"):
            if col not in df.columns:
                df = df.with_columns(pl.lit(None).alias(col))
        df = df.with_columns(
            pl.col("upstream").cast(pl.Utf8).str.extract(_PEER.pattern, 1).alias("_peer"),
            pl.col("upstream").cast(pl.Utf8).str.extract(r"^([A-Za-z0-9+.-]+)://", 1).alias("_scheme"),
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
        bucket.append(event_from_text(kind, str(row.get("text") or row.get("message") or ""),
                                      source=str(row.get("source") or ""),
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


def with_client_view(groups: Iterable[SymptomGroup], stats: Any) -> list[SymptomGroup]:
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
    finder = getattr(stats, "upstream", None)
    # final 5xx requests per symptom of the error line joined to them (client + request + time)
    joined: Mapping[str, int] = (getattr(stats, "errorlog", None) or {}).get("by_symptom") or {}
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
        u = finder(peer) if callable(finder) else None
        if u is None:
            continue
        made = getattr(u, "made_by", {}) or {}
        remaining = max(0, int(getattr(u, "requests_5xx", 0)) - int(made.get("backend", 0)))
        rescued = int(getattr(u, "rescued_failures", 0))
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


def _access_span(stats: Any) -> tuple[datetime, datetime] | None:
    """The minutes the access log covers (``first_time``..``last_time``, ISO minutes)."""
    try:
        first = datetime.fromisoformat(str(stats.first_time)[:16])
        last = datetime.fromisoformat(str(stats.last_time)[:16])
    except (AttributeError, TypeError, ValueError):
        return None
    return first, last + timedelta(minutes=1)


def _within(g: SymptomGroup, span: tuple[datetime, datetime] | None) -> bool:
    """Only an access log covering the group's whole time span can say what clients got."""
    if span is None or g.first is None or g.last is None:
        return span is not None
    first, last = (t.replace(tzinfo=None) for t in (g.first, g.last))
    return span[0] <= first and last < span[1]


def event_from_text(kind: str, text: str, *, source: str = "", time: datetime | None = None,
                    file: str | None = None, line: int | None = None) -> LogEvent:
    """A LogEvent with pid/process/unit/pool pulled out of the line (kernel, FPM, systemd)."""
    pid = process = unit = pool = detail = None
    m = _OOM.search(text)
    if m:
        pid = int(m.group(1) or m.group(4))
        process = (m.group(2) or m.group(3) or "").strip() or None
        detail = f"OOM kill of {process} pid {pid}"
    m2 = _CHILD.search(text)
    if m2:
        pool, pid, detail = m2.group(1), int(m2.group(2)), (
            f"PHP-FPM pool [{m2.group(1)}] child {m2.group(2)} exited on {m2.group(4)}")
        process = "php-fpm"
    elif (m3 := _POOL.search(text)) is not None:
        pool = m3.group(1)
        process = "php-fpm"
        if kind == "fpm-max-children":
            detail = f"PHP-FPM pool [{pool}] reached pm.max_children"
    m4 = _UNIT.search(text)
    if m4:
        unit = m4.group(1)
        r = _RESTARTS.search(text)
        if r:
            detail = f"restart counter is at {r.group(1)}"
    if source == "supervisord" and (m7 := _SUPERVISOR.search(text)) is not None:
        process = m7.group(1) or m7.group(3) or m7.group(4)
        if m7.group(2):
            pid = int(m7.group(2))
        detail = (f"supervisord started program '{process}'" if m7.group(1) else
                  f"program '{process}' exited unexpectedly" if m7.group(3) else
                  f"supervisord gave up on program '{process}' (FATAL)")
    if pid is None and (m6 := _SEGV.search(text)) is not None:
        process, pid = m6.group(1), int(m6.group(2))
        detail = f"{process} pid {pid} segfaulted"
    if pid is None:
        m5 = _PID.search(text)
        if m5:
            pid = int(m5.group(1) or m5.group(2))
    return LogEvent(kind=kind, text=text, source=source, time=time, file=file, line=line,
                    pid=pid, process=process, unit=unit, pool=pool, detail=detail)


# ---------------------------------------------------------------------------------------------
# sources (duck-typed)


def listener_fact(lst: Any) -> ListenerFact:
    return ListenerFact(proto=str(lst.proto), address=getattr(lst, "address", None),
                        port=getattr(lst, "port", None), path=getattr(lst, "path", None),
                        pid=getattr(lst, "pid", None), process=getattr(lst, "process", None),
                        user=getattr(lst, "user", None),
                        accept_queue=getattr(lst, "accept_queue", None))


def probe_fact(key: str, res: Any) -> ProbeFact:
    """From ``sources.probes.ProbeResult``."""
    dns = getattr(res, "dns", None)
    connect = list(getattr(res, "connect", []) or [])
    proto = getattr(res, "protocol", None)
    answer = getattr(proto, "answer", None) if proto is not None else None
    tls = list(getattr(res, "tls", []) or [])
    conn_state = None
    if connect:
        ok = [c for c in connect if getattr(c, "ok", False)]
        conn_state = "ok" if ok else (getattr(connect[0], "symptom", None)
                                      or getattr(connect[0], "error", None) or "failed")
    header_bytes = None
    if proto is not None:
        values = getattr(proto, "values", {}) or {}
        hb = values.get("header_bytes") if isinstance(values, dict) else None
        header_bytes = int(hb) if hb and str(hb).isdigit() else None
    return ProbeFact(
        key=key, ok=bool(getattr(res, "ok", False)),
        dns=None if dns is None or getattr(dns, "literal", False) else
        ("ok" if getattr(dns, "addresses", None) else "failed"),
        connect=conn_state, protocol=answer,
        tls=(getattr(tls[0], "error", None) or ("ok" if getattr(tls[0], "ok", False) else None))
        if tls else None,
        error=getattr(res, "error", None), errno=getattr(res, "errno", None),
        elapsed_ms=getattr(res, "elapsed_ms", None), detail=getattr(res, "detail", None),
        addresses=tuple(getattr(dns, "addresses", []) or []) if dns is not None else (),
        header_bytes=header_bytes)


def fpm_pool_fact(pool: Any, files: Mapping[str, tuple[str, ...]]) -> FpmPoolFact:
    """From ``sources.fpm.FpmPool``; finds the ``listen`` / ``pm.max_children`` lines for diffs."""
    file = getattr(pool, "file", None)
    start = getattr(pool, "line", None)
    lines = files.get(file or "", ())
    listen_line = getattr(pool, "listen_line", None)
    mc_line = getattr(pool, "max_children_line", None)
    settings = getattr(pool, "settings", None) or {}
    for key, attr in (("listen", "listen"), ("pm.max_children", "mc")):
        s = settings.get(key)
        if s is not None and getattr(s, "file", None) == file and getattr(s, "line", None):
            if attr == "listen":
                listen_line = s.line
            else:
                mc_line = s.line
    if lines and start:
        for i in range(start, len(lines)):
            text = lines[i].strip()
            if text.startswith("[") and text.endswith("]"):
                break
            key = text.split("=", 1)[0].strip()
            if key == "listen" and listen_line is None:
                listen_line = i + 1
            if key == "pm.max_children" and mc_line is None:
                mc_line = i + 1
    mc = getattr(pool, "max_children", None)
    backlog = getattr(pool, "listen_backlog", None)
    return FpmPoolFact(
        name=str(getattr(pool, "name", "www")), listen=str(getattr(pool, "listen", "")),
        file=file, line=start, listen_line=listen_line,
        listen_owner=getattr(pool, "listen_owner", None),
        listen_group=getattr(pool, "listen_group", None),
        listen_mode=getattr(pool, "listen_mode", None),
        listen_backlog=int(backlog) if isinstance(backlog, int | str) and str(backlog).lstrip("-").isdigit()
        else None,
        pm=getattr(pool, "pm", None),
        max_children=int(mc) if isinstance(mc, int | str) and str(mc).isdigit() else None,
        max_children_line=mc_line,
        request_terminate_timeout=getattr(pool, "request_terminate_timeout", None),
        user=getattr(pool, "user", None), group=getattr(pool, "group", None))


def read_lines(texts: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    return {k: tuple(v.splitlines()) for k, v in texts.items()}


def first(values: Iterable[Any]) -> Any:
    return next(iter(values), None)
