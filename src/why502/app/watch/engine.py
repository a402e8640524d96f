"""``why502 watch``: follow the logs, count, open incidents and diagnose them on the spot.

One loop in one thread: poll every follower (``sources.follow``), feed each line to the counters
and the incident window, then decide (``incidents``).  When an incident opens -- and when its
evidence changes -- the same diagnosis as ``why502 diagnose`` runs on the incident's window
(``--since`` = the window's start, the same logs, the live probes unless ``--offline``), so the
root cause in an alert is the one ``diagnose`` would print.  It runs in a worker thread: the
``incident-opened`` event waits for it, the tail and the metrics do not.  Metrics are served by
prometheus_client's own thread, alerts are sent by ``alerts.AlertSender``'s thread and health
checks run in ``health.HealthChecker``'s: none of them can block the tail.
"""

from __future__ import annotations

import glob
import os
import re
import socket
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from why502.app.diagnose import DiagnoseOptions, diagnose
from why502.app.diagnose.inputs import log_paths
from why502.app.stats.formats import choose_format, guess_format
from why502.app.watch.incidents import Incident, Rules, Window, triggers
from why502.app.watch.metrics import Metrics, upstream_label
from why502.app.watch.traffic import make_parser
from why502.errors import UsageError, Why502Error
from why502.evidence.stats.parser import LineParser
from why502.findings.model import Diagnostic, Report
from why502.findings.redact import redact
from why502.parsers.errorlog import classify_line
from why502.parsers.log_format import PREDEFINED, compile_format
from why502.parsers.nginx import NginxConfig
from why502.sources.follow import FileFollower
from why502.sources.nginx import load_config
from why502.sources.proxyprocs import own_nginx_config

__all__ = ["RESCAN_SECONDS", "Watch", "WatchOptions", "cri_stdout"]

RESCAN_SECONDS = 5.0
# CRI (containerd, CRI-O) log file line, kubelet's format (k8s.io/cri-client, pkg/logs):
# "<RFC3339Nano time> <stdout|stderr> <P|F> <text>"; P = a partial line continued by the next
_CRI_LINE = re.compile(rb"^\S+ (stdout|stderr) ([PF]) ?(.*)$", re.M)


def _expand(paths: list[str]) -> list[str]:
    """The named paths, a glob replaced by the files it names now (sorted; a glob naming no
    file yet is kept out until it does)."""
    out: list[str] = []
    for p in paths:
        out.extend(sorted(glob.glob(p)) if glob.has_magic(p) else [p])
    return list(dict.fromkeys(out))


def cri_stdout(data: bytes) -> tuple[bytes, int]:
    """The stdout lines of a block of CRI log lines, unframed (partial lines joined), and their
    count; lines that are not CRI-framed are kept as they are."""
    out: list[bytes] = []
    pending = b""
    for raw in data.split(b"\n"):
        if not raw:
            continue
        m = _CRI_LINE.match(raw)
        if m is None:
            out.append(raw)
            continue
        if m.group(1) != b"stdout":
            continue
        if m.group(2) == b"P":
            pending += m.group(3)
            continue
        out.append(pending + m.group(3))
        pending = b""
    return (b"\n".join(out) + b"\n" if out else b""), len(out)

Event = dict[str, Any]


@dataclass
class WatchOptions:
    nginx_conf: str | None = None
    error_logs: list[str] = field(default_factory=list)
    access_logs: list[str] = field(default_factory=list)
    fpm_logs: list[str] = field(default_factory=list)
    from_start: bool = False
    listen: str | None = "127.0.0.1:9502"
    rules: Rules = field(default_factory=Rules)
    reports_dir: str | None = None
    alertmanager: str | None = None
    probe_interval: float = 0.0
    probe_timeout: float = 1.0
    probe_path: str = "/"  # the HTTP health-check path
    offline: bool = False  # the diagnosis makes no live checks
    # ``--discover``: with logs named, also follow what this host's nginx config names (its
    # access and error logs, formats, server names, targets); without it only the logs named are
    # followed (``discovers``)
    discover: bool = False
    duration: float | None = None
    max_events: int | None = None
    poll_interval: float = 0.2
    rediagnose_every: float = 10.0
    instance: str = field(default_factory=socket.gethostname)
    # why502 mitigate's records (fix's state directory): in force, healthy again, --auto-revert
    state_dir: str | None = None
    revert_after: float = 300.0
    auto_revert: bool = False
    # credentials in what watch shows, saves and sends (events, reports, alerts): redacted
    # once, when a diagnosis comes in (findings.redact); False only with --no-redact
    redact: bool = True


@dataclass
class _Followed:
    kind: str  # "access" or "error"
    follower: FileFollower
    parser: LineParser | None = None  # the access log's format (traffic.make_parser)
    warned: bool = False
    gaps: int = 0  # the follower's gaps already counted in the metric
    cri: bool | None = None  # CRI-framed (a container log file), decided on the first block


class Watch:
    """The watch loop; ``emit`` gets each incident event, ``note`` each tool-side problem."""

    def __init__(self, options: WatchOptions, emit: Callable[[Event], None],
                 note: Callable[[Diagnostic], None]) -> None:
        self.options = options
        self.emit = emit
        self.note = note
        self.metrics = Metrics()
        self.window = Window(options.rules.window)
        self.incident: Incident | None = None
        self.report: Report | None = None
        self.events = 0
        self.serial = 0
        self.stopping = False
        self.followed: list[_Followed] = []
        self.cfg: NginxConfig | None = None
        self.down: list[str] = []  # targets the health checker found down
        self.started = time.monotonic()
        self.last_diagnosis = 0.0
        self.reports_written: list[str] = []
        self.on_change: list[Callable[[Incident, str], None]] = []  # alerts, the live view
        self.reload_requested = False
        # named logs that are globs, re-expanded every RESCAN_SECONDS; files found after the
        # start are read from their beginning
        self.globs = [p for p in (*options.error_logs, *options.access_logs, *options.fpm_logs)
                      if glob.has_magic(p)]
        self.globbed: set[str] = set()
        self.last_rescan = time.monotonic()
        # SIGHUP re-reads the rules through this (the CLI: --rules FILE, then the flags)
        self.reload_rules: Callable[[], Rules] | None = None
        self.pool: ThreadPoolExecutor | None = None
        self.pending: tuple[Incident, str, Future[Report | str]] | None = None
        self.diagnosis_started = 0.0
        self._setup()

    # -- set-up ------------------------------------------------------------------------------

    def _setup(self) -> None:
        o = self.options
        diags: list[Diagnostic] = []
        named = o.nginx_conf is not None
        if o.nginx_conf is None and self.discovers and (own := own_nginx_config()) is not None:
            # the running nginx's own -c FILE, not nginx -T's /etc/nginx (issue 31)
            o.nginx_conf = own
            diags.append(Diagnostic("info", f"following the running nginx's config {own}"))
        if o.nginx_conf is not None or self.discovers:
            try:
                self.cfg = load_config(o.nginx_conf)
            except Why502Error as err:
                if named:
                    raise
                diags.append(Diagnostic("warning", f"nginx config not read: {err}"))
        self._follow(diags, from_start=o.from_start)
        if not self.followed and not self.globs:
            raise UsageError("nothing to watch: no error or access log (pass --error-log/"
                             "--access-log or --nginx-conf)")
        if not self.followed:
            # a node agent starts before the pods it watches: their files are followed when
            # they appear (the glob is scanned again every RESCAN_SECONDS)
            diags.append(Diagnostic("info", "no file matches " + ", ".join(self.globs)
                                    + " yet: waiting for one"))
        for d in diags:
            self.note(d)

    @property
    def discovers(self) -> bool:
        """Does watch read this host's nginx config by itself (``nginx -T``, /etc/nginx)?

        Only when asked (``--discover``) or when no log is named at all.  Following the host
        config's access log next to a named ``--error-log`` switched the error-log rule off
        (an access log followed means the ratio rule decides): 2000 ``connect() failed`` lines
        in the named error log opened no incident because the host's own access log was quiet.
        """
        o = self.options
        return o.discover or not (o.error_logs or o.access_logs or o.fpm_logs)

    def _follow(self, diags: list[Diagnostic], from_start: bool) -> list[str]:
        """Follow the logs the flags and the config name, the server names and formats of the
        config: at start, and again on SIGHUP (a log added to the config is followed from
        then on, a changed ``log_format`` or ``server_name`` is used for the next lines).
        A named log that is a glob (``/var/log/containers/*_ingress-nginx_*.log``) is expanded
        here and again every ``RESCAN_SECONDS`` (``step``): a container restarted or a pod
        rescheduled writes a new file, read from its start.  Returns the paths followed anew."""
        o = self.options
        errors = _expand(log_paths(o.error_logs, self.cfg, "error", diags) + list(o.fpm_logs))
        access = _expand(log_paths(o.access_logs, self.cfg, "access", diags))
        if self.cfg is not None:
            self.metrics.traffic.servers = frozenset(
                n.lower() for srv in self.cfg.servers for n in srv.server_names
                if n and n != "_" and not n.startswith(("~", "*", ".")) and not n.endswith("*"))
        known = {(f.kind, f.follower.path): f for f in self.followed}
        added: list[str] = []
        for path in access:
            # no log_format known for it: guessed on the first lines read, not on an empty file
            parser = None
            if self.cfg is not None and self.cfg.access_logs:
                fmt, _where = choose_format(None, self.cfg, [path])
                parser = make_parser(fmt)
            old = known.get(("access", path))
            if old is not None:
                if parser is not None and (old.parser is None or old.parser.fmt != parser.fmt):
                    old.parser, old.warned = parser, False
                continue
            added.append(path)
            self.followed.append(_Followed(
                "access", FileFollower(path, from_start=from_start or path in self.globbed, raw=True),
                parser))
        for path in errors:
            if ("error", path) not in known:
                added.append(path)
                self.followed.append(_Followed(
                    "error", FileFollower(path, from_start=from_start or path in self.globbed)))
        return added

    def _rescan(self, now: float) -> None:
        """Follow the files a glob names now that it did not at the last scan (from their
        start: a new container's log begins with its first line)."""
        if now - self.last_rescan < RESCAN_SECONDS or not self.globs:
            return
        self.last_rescan = now
        known = {f.follower.path for f in self.followed}
        fresh = {p for p in _expand(self.globs) if p not in known}
        if fresh:
            self.globbed |= fresh
            self._follow([], from_start=False)

    @property
    def error_paths(self) -> list[str]:
        return [f.follower.path for f in self.followed if f.kind == "error"]

    @property
    def access_paths(self) -> list[str]:
        return [f.follower.path for f in self.followed if f.kind == "access"]

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        """Until SIGTERM (``stop()``), ``--duration`` or ``--max-events``."""
        o = self.options
        while not self.stopping:
            busy = self.step()
            if o.duration is not None and time.monotonic() - self.started >= o.duration:
                break
            if o.max_events is not None and self.events >= o.max_events:
                break
            if not busy:
                time.sleep(o.poll_interval)
        for f in self.followed:
            f.follower.close()
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)

    def stop(self) -> None:
        self.stopping = True

    def request_reload(self) -> None:
        """SIGHUP: re-read the configuration at the next step (``_reload``)."""
        self.reload_requested = True

    def _reload(self) -> None:
        """Re-read the incident rules (``reload_rules``, the CLI's ``--rules`` file and flags)
        and the nginx config: its targets for the health checks, its logs, formats and server
        names.  A config that no longer parses keeps the old one (a warning), as nginx's own
        reload does."""
        self.reload_requested = False
        said: list[str] = []
        if self.reload_rules is not None:
            try:
                rules = self.reload_rules()
            except Why502Error as err:
                self.note(Diagnostic("warning", f"SIGHUP: rules not re-read: {err}"))
            else:
                if rules != self.options.rules:
                    self.options.rules = rules
                    self.window.seconds = rules.window
                said.append("rules")
        if self.options.nginx_conf is not None or self.cfg is not None:
            try:
                self.cfg = load_config(self.options.nginx_conf)
            except Why502Error as err:
                self.note(Diagnostic("warning", f"SIGHUP: nginx config not re-read: {err}"))
            else:
                diags: list[Diagnostic] = []
                added = self._follow(diags, from_start=False)
                for d in diags:
                    self.note(d)
                said.append("nginx config" + (f" (now following {', '.join(added)})"
                                              if added else ""))
        if said:
            self.note(Diagnostic("info", f"SIGHUP: {' and '.join(said)} re-read"))

    def step(self, now: float | None = None) -> bool:
        """One round: read every file, then decide.  True when a file holds more than was read
        (a backlog: the loop goes on at once); otherwise it sleeps ``poll_interval``, so a
        steady trickle of lines is read in batches, not one poll per line."""
        if self.reload_requested:
            self._reload()
        self._rescan(time.monotonic())
        busy = False
        for f in self.followed:
            got = f.follower.poll()
            path = f.follower.path
            for p in got.problems:
                if p.severity != "info":
                    self.metrics.follow_errors.labels(path).inc()
                self.note(p)
            if f.follower.gaps != f.gaps:
                self.metrics.rotation_gaps.labels(path).inc(f.follower.gaps - f.gaps)
                f.gaps = f.follower.gaps
            if got.count:
                self.metrics.lines.labels(path).inc(got.count)
                bucket = self.window.at(time.monotonic())
                if f.kind == "access":
                    self._access(f, b"".join(got.chunks), got.count, bucket)
                else:
                    self._errors(got.lines, bucket)
            lag = f.follower.lag_bytes()
            self.metrics.lag.labels(path).set(lag)
            busy = busy or lag > 0
        self.decide(time.monotonic() if now is None else now)
        return busy

    def _access(self, f: _Followed, data: bytes, count: int, bucket: Any) -> None:
        if f.cri is None:
            f.cri = bool(_CRI_LINE.match(data))
        if f.cri:
            # a container runtime's file (CRI: "<time> <stream> <P|F> <line>"): the access lines
            # are the proxy's stdout; its stderr (the error log) is read by an --error-log
            data, count = cri_stdout(data)
            if not count:
                return
        if f.parser is None:
            head = data[:65536].decode("utf-8", "replace").split("\n")[:100]
            name, _hits = guess_format([ln for ln in head if ln])
            fmt, escape = PREDEFINED[name]
            f.parser = make_parser(compile_format(fmt, escape, name=name))
        statuses, unparsed = self.metrics.traffic.add(data, f.parser, self.metrics.upstream_of)
        for code, n in statuses.items():
            bucket.requests += n
            bucket.statuses[code] += n
            if code >= 500:
                bucket.errors += n
        if unparsed:
            self.metrics.unparsed.labels(f.follower.path).inc(unparsed)
            if unparsed == count and not f.warned:
                # said once: a wrong log_format would otherwise hide every 5xx silently
                f.warned = True
                self.note(Diagnostic("warning", f"{f.follower.path}: {unparsed} line(s) do not "
                                     "match its log_format; counted in "
                                     "why502_log_lines_unparsed_total"))

    def _errors(self, lines: list[str], bucket: Any) -> None:
        for line in lines:
            c = classify_line(line)
            if c is None or c.status is None:
                continue
            up = self.metrics.bounded(upstream_label(c.upstream)) if c.upstream else ""
            self.metrics.upstream_failures.labels(c.symptom, up).inc()
            bucket.failures += 1
            bucket.symptoms[(c.symptom, up)] += 1
            if c.symptom == "no-live-upstreams":
                bucket.no_live += 1

    # -- incidents ---------------------------------------------------------------------------

    def decide(self, now: float) -> None:
        self._collect_diagnosis()
        totals = self.window.totals(now)
        fired = triggers(self.options.rules, totals, bool(self.access_paths), list(self.down))
        inc = self.incident
        if fired and inc is None:
            self._open(now, fired, totals)
        elif inc is not None:
            if fired:
                inc.last_fired = now
                inc.trigger = fired
            new = set(totals.symptoms) - inc.symptoms
            inc.requests = max(inc.requests, totals.requests)
            inc.errors = max(inc.errors, totals.errors)
            inc.failures = max(inc.failures, totals.failures)
            if (new and self.pending is None
                    and now - self.last_diagnosis >= self.options.rediagnose_every):
                # new evidence (a symptom or an upstream not seen yet): diagnosed again; it is
                # taken as seen only then, so a change inside the rate limit is not missed
                inc.symptoms |= new
                self._diagnose(inc, now, "incident-updated")
            # resolved once its diagnosis is in: the opened event always comes first
            if (not fired and self.pending is None
                    and now - inc.last_fired >= self.options.rules.resolve_after):
                self._resolve(inc)

    def _open(self, now: float, fired: list[str], totals: Any) -> None:
        self.serial += 1
        opened = datetime.now()
        inc = Incident(id=f"{opened:%Y%m%dT%H%M%S}-{self.serial}",
                       opened=opened.isoformat(timespec="seconds"), opened_at=now, trigger=fired,
                       last_fired=now, symptoms=set(totals.symptoms), requests=totals.requests,
                       errors=totals.errors, failures=totals.failures)
        self.incident = inc
        self._diagnose(inc, now, "incident-opened")

    def _resolve(self, inc: Incident) -> None:
        inc.resolved = datetime.now().isoformat(timespec="seconds")
        self.metrics.incidents_open.labels(inc.cause).set(0)
        if self.options.reports_dir and self.report is not None:
            inc.report_file = self._write_report(inc, self.report)
        self.incident = None
        self._event("incident-resolved", inc)

    def _diagnose(self, inc: Incident, now: float, kind: str) -> None:
        """Start the same diagnosis as ``why502 diagnose --since <window start>`` on the same
        logs, in the worker thread: the tail goes on meanwhile (the probes and the journal take
        seconds); ``_collect_diagnosis`` applies it and says ``kind``."""
        self.last_diagnosis = now
        since = datetime.now() - timedelta(seconds=self.options.rules.window + (now - inc.opened_at)
                                           + 1)
        o = self.options
        opts = DiagnoseOptions(nginx_conf=o.nginx_conf, error_logs=self.error_paths,
                               access_logs=self.access_paths,
                               since=since.isoformat(timespec="seconds"), offline=o.offline,
                               probe_timeout=o.probe_timeout,
                               # the host config watch read itself is the diagnosis' too
                               discover=o.nginx_conf is None and self.discovers)
        if self.pool is None:
            self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="why502-diagnose")
        self.diagnosis_started = time.monotonic()
        self.pending = (inc, kind, self.pool.submit(_diagnose_or_error, opts))

    def wait_diagnosis(self, timeout: float) -> None:
        """Block until the diagnosis under way is in (tests, and a last report at exit)."""
        if self.pending is not None:
            wait([self.pending[2]], timeout)
            self._collect_diagnosis()

    def _collect_diagnosis(self) -> None:
        if self.pending is None or not self.pending[2].done():
            return
        inc, kind, future = self.pending
        self.pending = None
        result = future.result()
        inc.diagnosis_s = round(time.monotonic() - self.diagnosis_started, 2)
        before = (inc.cause, inc.summary)
        if isinstance(result, str):
            self.note(Diagnostic("warning", f"diagnosis of incident {inc.id} failed: {result}"))
        else:
            if self.options.redact:
                result = redact(result)
            self.report = result
            inc.redacted = result.redacted
            if result.findings:
                top = result.findings[0]
                inc.cause, inc.title, inc.confidence = top.cause, top.title, top.confidence
                inc.upstream = top.upstream or top.target
                inc.summary = top.explanation.splitlines()[0] if top.explanation else top.title
                inc.evidence = top.evidence[0].summary if top.evidence else ""
                inc.fix = top.fix.summary if top.fix else ""
        if kind == "incident-opened":
            self.metrics.incidents.labels(inc.cause).inc()
            self.metrics.incidents_open.labels(inc.cause).set(1)
            self._event(kind, inc)
        elif (inc.cause, inc.summary) != before:
            if before[0] != inc.cause:
                self.metrics.incidents_open.labels(before[0]).set(0)
                self.metrics.incidents_open.labels(inc.cause).set(1)
            self._event(kind, inc)

    def _write_report(self, inc: Incident, report: Report) -> str | None:
        from why502.reporters.json_report import to_json

        assert self.options.reports_dir is not None
        path = Path(self.options.reports_dir) / f"incident-{inc.id}.json"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".json.tmp")
            tmp.write_text(to_json(report), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as err:
            self.note(Diagnostic("warning", f"cannot write the incident report {path}: "
                                 f"{err.strerror or err}"))
            return None
        self.reports_written.append(str(path))
        return str(path)

    def _event(self, kind: str, inc: Incident) -> None:
        self.events += 1
        self.emit({"event": kind, "time": datetime.now().isoformat(timespec="seconds"),
                   "instance": self.options.instance, "incident": inc.to_dict()})
        for callback in self.on_change:
            callback(inc, kind)


def _diagnose_or_error(opts: DiagnoseOptions) -> Report | str:
    """``diagnose`` in the worker thread; a one-line error comes back as text, not raised."""
    try:
        return diagnose(opts)
    except Why502Error as err:
        return str(err)
