"""``why502 watch``: follow the logs, count, open incidents and diagnose them on the spot.

One loop in one thread: poll every follower (``sources.follow`` for a file, ``sources.stream``
for stdin), feed each block of lines to the counters, the incident window and the window's
lines (``window.LogWindow``, in memory), then decide (``incidents``).  What is followed is
what ``diagnose`` reads, for every proxy of the one registry (``why502.proxies.PROXIES``):
nginx's error and access logs, Apache's error log, HAProxy's log, the load balancers' and edge
proxies' access logs (Envoy, Caddy, Traefik, ALB, ... : ``parsers.lblogs``), chosen by the same
``--config``/``--proxy``/``--log-type``.  When an incident opens -- and when its evidence
changes -- ``why502 diagnose`` itself runs on the window's lines (``diagnosis``), so the root
cause in an alert is the one ``diagnose`` prints for the same lines, by construction.  It runs
in a child process waited for by a worker thread: the ``incident-opened`` event waits for it,
the tail and the metrics do not, and the agent never holds the diagnosis' memory.  Metrics are served by
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
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from why502.app.diagnose.inputs import log_paths
from why502.app.watch.closing import closing_report, incident_report
from why502.app.watch.diagnosis import DIAGNOSIS_TIMEOUT, DiagnosisInputs, diagnose_window
from why502.app.watch.errorscan import ErrorCounter
from why502.app.watch.incidents import Incident, Rules, Window, triggers
from why502.app.watch.metrics import Metrics
from why502.app.watch.window import WINDOW_BYTES, LogWindow
from why502.errors import InputError, UsageError, Why502Error
from why502.facts.logconfig import FollowedConfig
from why502.findings.model import Diagnostic, Report
from why502.findings.redact import redact
from why502.proxies import DEFAULT, DEFAULT_FLAG, PROXIES, Capability, choose, get, source_of
from why502.proxies.base import resolve
from why502.proxies.logfamilies import families, log_types
from why502.sources.follow import FileFollower
from why502.sources.newlines import newlines
from why502.sources.proxyprocs import own_default_config
from why502.sources.stream import StreamFollower
from why502.sources.unframe import Pending, framing, unframe_block

if TYPE_CHECKING:
    from why502.app.watch.traffic import BlockCounter
    from why502.parsers.lblogs.counts import BlockCounter as LbCounter

__all__ = ["RESCAN_SECONDS", "Watch", "WatchOptions"]

RESCAN_SECONDS = 5.0
# an nginx error-log line (ngx_log_error_core: "YYYY/MM/DD HH:MM:SS [level] pid#tid: ..."),
# maybe behind a shipper's prefix: in a stream of both logs (``kubectl logs -f`` of an ingress
# controller: its stderr and stdout in one) these lines are the error log's, the rest the access log's
_ERROR_LINE = re.compile(rb"^[^\n]{0,64}?\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[[a-z]+\] [^\n]*\n", re.M)
STDIN = "-"
def _status_regex(family: str | None, sample: list[str]) -> re.Pattern[bytes] | bool:
    """The family's status regex (``LogFamily.status_patterns``: JSON keys of Caddy, Envoy's
    JSON, Traefik's JSON, Cloudflare; the field after the quoted request line of Envoy's and
    Istio's text formats, Traefik's common format; ALB/ELB have none, their status is a
    space-separated field) that reads the status ``parse_line`` reads on every request line of
    ``sample`` (and matches no line that is not one), else False (line by line)."""
    fams = families()
    fam = fams.get(family)
    for rx in fam.status_patterns if fam is not None else ():
        agreed = 0
        for text in sample:
            rec = fams.parse_line(text, family) if text.strip() else None
            m = rx.search(text.encode())
            request = rec is not None and rec.kind == "access" and rec.status is not None
            if (m is not None) != request or (m is not None and rec is not None
                                              and int(m.group(1)) != rec.status):
                break
            agreed += request
        else:
            if agreed:
                return rx
    return False


# The lines of a proxy's log that are requests that went well, counted out before classify by
# the proxy's own filter (``Hooks.watch_quiet``: HAProxy's log is its access log too, most of it
# such lines, ~40 us each in ``classify_line``); the window keeps them: diagnose reads every line.
_QUIET: tuple[Callable[[bytes], bytes], ...] = tuple(
    resolve(p.hooks.watch_quiet) for p in PROXIES.values() if p.hooks.watch_quiet)  # type: ignore[misc]


def _failure_lines(data: bytes) -> bytes:
    """The lines of an error-log block that may be failures (each proxy's quiet lines taken out)."""
    for quiet in _QUIET:
        data = quiet(data)
    return data


def _text_lines(data: bytes) -> list[str]:
    """A block of whole lines as text (UTF-8, invalid bytes replaced: never interpreted)."""
    return data[:-1].decode("utf-8", "replace").split("\n") if data else []


def _expand(paths: list[str]) -> list[str]:
    """The named paths, a glob replaced by the files it names now (sorted; a glob naming no
    file yet is kept out until it does)."""
    out: list[str] = []
    for p in paths:
        out.extend(sorted(glob.glob(p)) if glob.has_magic(p) else [p])
    return list(dict.fromkeys(out))


Event = dict[str, Any]


@dataclass
class WatchOptions:
    default_proxy_config: str | None = None
    # ``--config FILE`` (nginx, Apache or HAProxy: detected from the content by the one
    # registry, ``why502.proxies``), ``--proxy`` to force it, ``--log-type`` for the load
    # balancers' and edge proxies' access logs: the inputs of ``why502 diagnose``
    config: str | None = None
    proxy: str | None = None
    log_type: str | None = None
    # logs named without a kind (``why502 watch LOG...``, ``-`` = stdin): each line is taken
    # for what it is (an error-log line, an access-log line, a load balancer's line)
    logs: list[str] = field(default_factory=list)
    error_logs: list[str] = field(default_factory=list)
    access_logs: list[str] = field(default_factory=list)
    fpm_logs: list[str] = field(default_factory=list)
    # an app server's own log (gunicorn, uWSGI, Node, Puma): followed like PHP-FPM's, handed to
    # the incident's diagnosis as ``--app-log`` (its worker timeouts and kills decide a cause)
    app_logs: list[str] = field(default_factory=list)
    # the kernel's log as a file (``/var/log/kern.log``, a saved ``dmesg``): followed, and its
    # window handed to the diagnosis as ``--kernel-log`` instead of the machine's ring buffer
    # (the same kernel lines as ``diagnose --kernel-log`` reads, so the two agree)
    kernel_log: str | None = None
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
    window_bytes: int = WINDOW_BYTES  # the window's lines kept per followed log (window.LogWindow)
    # bytes read from a log per poll: 1 MiB, not the follower's 4 MiB -- each block is copied,
    # decoded and split while it is counted, and at 200k lines/s the 4 MiB blocks held the agent
    # at 60-75 MB of RSS against 47-50 MB, for the same CPU (bench/watch_bench.py, HAProxy's log)
    poll_bytes: int = 1 << 20


@dataclass
class _Followed:
    # "access" (nginx's), "error" (nginx's, Apache's, HAProxy's), "fpm", "app", "lb" (a load balancer's
    # or edge proxy's access log, ``family``) or "auto" (decided on the first lines read)
    kind: str
    follower: FileFollower | StreamFollower
    parser: BlockCounter | None = None  # the access log's counter (traffic.make_parser)
    warned: bool = False
    gaps: int = 0  # the follower's gaps already counted in the metric
    # a container runtime's framing of the file (sources.unframe: CRI or DOCKER), "" for none:
    # decided on the first block; the stream kept (b"stdout", or None for both: _unframed) and
    # the parts of a line split over blocks (polls), by stream
    framing: str | None = None
    stream: bytes | None = None
    pending: Pending = field(default_factory=dict)
    family: str | None = None  # a load balancer's family (proxies.logfamilies.log_types()), else None
    sniffed: bool = False  # the family looked for in the first lines read
    saw_access: bool = False  # access lines (requests) were read from it
    # kind "lb": the status regex (_status_regex), False when none agrees with parse_line
    status_rx: re.Pattern[bytes] | bool | None = None
    # kind "lb": the family's native counter (parsers.lblogs.counts), False when it has none
    native: LbCounter | bool | None = None
    # the window's lines, by the kind of log diagnose is given them as (an "auto" stream of
    # nginx's two logs is split into both)
    windows: dict[str, LogWindow] = field(default_factory=dict)

    hold_from: float | None = None  # what the open incident keeps of new windows (Watch._hold)
    # another proxy's access line as an nginx line (Hooks.watch_access), None for nginx's own
    # or for a proxy whose counter reads its lines as they are (HAProxy's)
    rewrite: Callable[[str], str | None] | None = None
    # an error log that is the proxy's access log too (HAProxy's one log): its requests counted
    requests: bool = False

    def window(self, kind: str, seconds: float, budget: int) -> LogWindow:
        win = self.windows.get(kind)
        if win is None:
            win = self.windows[kind] = LogWindow(seconds, budget)
            win.hold_from = self.hold_from
        return win


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
        self.cfg: FollowedConfig | None = None
        self.proxy = DEFAULT  # a name of why502.proxies.PROXIES (_setup)
        self.proxy_logs: list[str] = []  # another proxy's logs found from its config (_proxy_logs)
        # the running master's -p and root (/proc/PID/root in a container) when watch found it
        # itself (_running_master): its config's paths are read as it reads them
        self.prefix: str | None = None
        self.root: str | None = None
        self.found_master = False
        self.down: list[str] = []  # targets the health checker found down
        self.started = time.monotonic()
        self.last_diagnosis = 0.0
        self.reports_written: list[str] = []
        self.on_change: list[Callable[[Incident, str], None]] = []  # alerts, the live view
        self.reload_requested = False
        # named logs that are globs, re-expanded every RESCAN_SECONDS; files found after the
        # start are read from their beginning
        self.globs = [p for p in (*options.error_logs, *options.access_logs, *options.fpm_logs,
                                  *options.app_logs, *options.logs) if glob.has_magic(p)]
        self.globbed: set[str] = set()
        self.last_rescan = time.monotonic()
        # SIGHUP re-reads the rules through this (the CLI: --rules FILE, then the flags)
        self.reload_rules: Callable[[], Rules] | None = None
        self.pool: ThreadPoolExecutor | None = None
        self.pending: tuple[Incident, str, Future[Report | str]] | None = None
        self.errors: ErrorCounter | None = None  # the error-log blocks' counter, made at first use
        self.diagnosis_started = 0.0
        self._setup()

    # -- set-up ------------------------------------------------------------------------------

    def _setup(self) -> None:
        o = self.options
        diags: list[Diagnostic] = []
        if o.config and o.default_proxy_config:
            raise UsageError(f"{DEFAULT_FLAG} is an alias of --config: give one of them")
        if o.log_type is not None and o.log_type not in ("auto", DEFAULT, *log_types()):
            raise UsageError(f"unknown --log-type {o.log_type!r}: choose one of {DEFAULT}, "
                             f"{', '.join(log_types())}")
        if o.logs.count(STDIN) + o.error_logs.count(STDIN) + o.access_logs.count(STDIN) > 1:
            raise UsageError("stdin (-) can be followed once")
        self._running_master(diags)
        # the one registry says which proxy (--proxy, else the --config file's content, else --
        # logs alone -- a log in another proxy's own format: HAProxy's, as diagnose and stats
        # sniff it; its lines were read as nginx's, no request counted, its timeouts in nginx's words)
        which = o.proxy
        if which is None and o.config is None and o.default_proxy_config is None:
            from why502.app.stats.sniff import sniff_access_logs, sniff_error_logs

            which = sniff_access_logs([p for p in (*o.access_logs, *o.error_logs, *o.logs) if p != STDIN],
                                      keep=False)
            # else the error log's own head (Apache's), as diagnose asks it
            which = which or sniff_error_logs([p for p in (*o.error_logs, *o.logs) if p != STDIN], keep=False)
        self.proxy = choose(which, o.config or o.default_proxy_config,
                            "--config" if o.config is not None else DEFAULT_FLAG)
        if not get(self.proxy).can(Capability.WATCH):
            if not self._edge_config():
                raise UsageError(f"watch does not follow {self.proxy}'s logs")
            # an edge proxy (Envoy, Caddy) is followed by its logs' family; its --config is
            # handed to each incident's diagnosis (diagnosis_inputs), as diagnose reads it
            # next to that log: the group, the route's timeout, the probes of the targets the
            # log blames (app.diagnose.probes.edge_probes)
        elif self.proxy == DEFAULT:
            title = get(DEFAULT).vocabulary.title
            if o.config is not None:
                o.default_proxy_config, o.config = o.config, None
            named = o.default_proxy_config is not None
            if (o.default_proxy_config is None and self.discovers
                    and (own := own_default_config()) is not None):
                # the running nginx's own -c FILE, not nginx -T's /etc/nginx (issue 31)
                o.default_proxy_config = own
                diags.append(Diagnostic("info", f"following the running {title}'s config {own}"))
            if o.default_proxy_config is not None or self.discovers:
                try:
                    self.cfg = source_of().load_config(o.default_proxy_config, root=self.root)
                except Why502Error as err:
                    if named:
                        raise
                    diags.append(Diagnostic("warning", f"{title} config not read: {err}"))
        else:
            self.proxy_logs = self._proxy_logs(diags)
        self._follow(diags, from_start=o.from_start)
        if not self.followed and not self.globs:
            raise UsageError("nothing to watch: no error or access log (pass --error-log/"
                             "--access-log, a LOG or - for stdin, or --config)")
        if self.found_master:  # which logs of the master it found: said, as diagnose's "read:"
            diags.append(Diagnostic("info", "following " + (", ".join(
                f.follower.path for f in self.followed) or "no log yet")))
        if not self.followed:
            # a node agent starts before the pods it watches: their files are followed when
            # they appear (the glob is scanned again every RESCAN_SECONDS)
            diags.append(Diagnostic("info", "no file matches " + ", ".join(self.globs)
                                    + " yet: waiting for one"))
        for d in diags:
            self.note(d)

    def _edge_config(self) -> bool:
        """Is this ``--config`` an edge proxy's whose access logs are followed by their family
        (``--log-type`` its ``Hooks.log_family``, ``--access-log`` named)?  Then watch tails
        the logs and the config goes to the diagnoses only; any other proxy without
        ``Capability.WATCH`` is refused."""
        o = self.options
        hook = get(self.proxy).hooks.log_family
        if not (o.config and hook and o.access_logs):
            return False
        return bool(getattr(resolve(hook), "name", None) == o.log_type)

    def _running_master(self, diags: list[Diagnostic]) -> None:
        """With nothing named (no log, config or proxy): the one proxy master running, found as
        ``diagnose`` finds it (``app.diagnose.discover.watched_master``), its config read as it
        reads it -- under ``/proc/PID/root`` when it runs in a container (its logs too, never
        this host's files of the same name).  One nginx alone on its compiled-in config keeps
        the classic path (``nginx -T``); none, or several: as before."""
        o = self.options
        if o.config or o.default_proxy_config or o.proxy or o.log_type or named_logs(o):
            return
        from why502.app.diagnose.discover import watched_master

        found = watched_master()
        if found is None:
            return
        proc, config, root = found
        if proc.kind == DEFAULT and root is None and own_default_config([proc]) is None:
            return
        o.config, o.proxy, self.prefix, self.root = config, proc.kind, proc.prefix, root
        self.found_master = True
        where = f" in container {proc.container}, read under {root}" if root else ""
        diags.append(Diagnostic("info", f"following the running {get(proc.kind).vocabulary.title} "
                                f"(pid {proc.pid}){where}: its config {config}"))

    def _proxy_logs(self, diags: list[Diagnostic]) -> list[str]:
        """Another proxy's (Apache's, HAProxy's) log to follow when none is named: what its
        config names (Apache's ``ErrorLog``), else its packaged path (``Vocabulary``'s
        ``default_error_log``, e.g. Debian's /var/log/haproxy.log written by rsyslog)."""
        o = self.options
        proxy = get(self.proxy)
        path = o.config or proxy.vocabulary.default_config
        try:
            cfg = resolve(proxy.hooks.load_config)(path)  # type: ignore[operator]
        except (OSError, Why502Error) as err:
            if o.config is not None:
                why = err.strerror if isinstance(err, OSError) else str(err)
                raise InputError(f"cannot read {path} (--config): {why or err}") from None
            cfg = None
        if o.error_logs or o.logs or o.access_logs:
            return []
        found = [p for p in getattr(cfg, "error_logs", None) or [] if os.path.exists(p)]
        # the packaged log (its syslog's file), in the master's root when it runs in a container
        default = os.path.normpath((self.root or "") + proxy.vocabulary.default_error_log)
        if not found and os.path.exists(default):
            found = [default]
        if not found:
            diags.append(Diagnostic("info", f"no {proxy.vocabulary.title} log found: pass its log "
                                    f"file with --error-log (e.g. {proxy.vocabulary.default_error_log})"))
        return found

    @property
    def discovers(self) -> bool:
        """Does watch read this host's nginx config by itself (``nginx -T``, /etc/nginx)?

        Only when asked (``--discover``) or when no log is named at all.  Following the host
        config's access log next to a named ``--error-log`` switched the error-log rule off
        (an access log followed means the ratio rule decides): 2000 ``connect() failed`` lines
        in the named error log opened no incident because the host's own access log was quiet.
        """
        o = self.options
        return o.discover or not (o.error_logs or o.access_logs or o.fpm_logs or o.app_logs
                                or o.logs)

    def _follower(self, path: str, from_start: bool) -> FileFollower | StreamFollower:
        if path == STDIN:
            return StreamFollower(0, STDIN, raw=True, budget=self.options.poll_bytes)
        return FileFollower(path, from_start=from_start or path in self.globbed, raw=True,
                            budget=self.options.poll_bytes)

    def _follow(self, diags: list[Diagnostic], from_start: bool) -> list[str]:
        """Follow the logs the flags and the config name, the server names and formats of the
        config: at start, and again on SIGHUP (a log added to the config is followed from
        then on, a changed ``log_format`` or ``server_name`` is used for the next lines).
        A named log that is a glob (``/var/log/containers/*_ingress-nginx_*.log``) is expanded
        here and again every ``RESCAN_SECONDS`` (``step``): a container restarted or a pod
        rescheduled writes a new file, read from its start.  Returns the paths followed anew."""
        o = self.options
        errors = _expand(log_paths(o.error_logs, self.cfg, "error", diags, self.prefix, self.root)
                         + self.proxy_logs)
        access = _expand(log_paths(o.access_logs, self.cfg, "access", diags, self.prefix, self.root))
        if self.cfg is not None:
            self.metrics.traffic.servers = frozenset(
                n.lower() for srv in self.cfg.servers for n in srv.server_names
                if n and n != "_" and not n.startswith(("~", "*", ".")) and not n.endswith("*"))
        known = {(f.kind, f.follower.path): f for f in self.followed}
        forced = o.log_type if o.log_type in log_types() else None
        added: list[str] = []
        for path in access:
            # no log_format known for it: guessed on the first lines read, not on an empty file
            parser: BlockCounter | None = None
            if self.cfg is not None and self.cfg.access_logs and forced is None:
                from why502.app.stats.formats import choose_format
                from why502.app.watch.traffic import make_parser

                fmt, _where = choose_format(None, self.cfg, [path])
                parser = make_parser(fmt)
            rewrite = None
            if (self.proxy != DEFAULT and get(self.proxy).hooks.watch_access is not None
                    and forced is None):
                # another proxy's access log (Apache's LogFormat): rewritten line by line as
                # diagnose reads it (Hooks.watch_access), then counted in nginx's terms
                rewrite, parser = self._rewriter(path)
            old = known.get(("access", path))
            if old is not None:
                if parser is not None and (old.parser is None or old.parser.fmt != parser.fmt):
                    old.parser, old.warned = parser, False
                continue
            added.append(path)
            self.followed.append(_Followed("access", self._follower(path, from_start), parser,
                                           family=forced, rewrite=rewrite))
        proxy = get(self.proxy)
        # a proxy whose one log is its access log too (HAProxy: Hooks.access_feed) has its
        # requests counted from its error log when no access log is named, as diagnose does
        one_log = (self.proxy != DEFAULT and proxy.hooks.access_feed is not None
                   and proxy.hooks.watch_access is not None and not access and forced is None)
        for kind, paths in (("error", errors), ("fpm", _expand(list(o.fpm_logs))),
                            ("app", _expand(list(o.app_logs))), ("auto", _expand(list(o.logs))),
                            ("kernel", [o.kernel_log] if o.kernel_log else [])):
            for path in paths:
                if (kind, path) not in known:
                    added.append(path)
                    feeds = one_log and kind == "error"
                    rewrite, parser = self._rewriter(path) if feeds else (None, None)
                    self.followed.append(_Followed(kind, self._follower(path, from_start),
                                                   parser, family=forced, rewrite=rewrite,
                                                   requests=feeds))
        return added

    def _rewriter(self, path: str) -> tuple[Callable[[str], str | None] | None, BlockCounter]:
        """``Hooks.watch_access`` of the proxy for its log at ``path``: the line rewriter and
        the counter of the lines it writes (nginx's terms), or no rewriter and the proxy's own
        counter of its lines."""
        from why502.app.watch.traffic import make_parser
        from why502.parsers.log_format import compile_format

        hook = get(self.proxy).hooks.watch_access or ""  # set: the callers checked
        rewrite, how = resolve(hook)(self.options.config, path)  # type: ignore[operator]
        if not isinstance(how, str):
            return rewrite, how  # type: ignore[no-any-return]
        return rewrite, make_parser(compile_format(how, None, name="rewritten"))

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

    @property
    def has_access(self) -> bool:
        """Is a log of requests followed (the 5xx-ratio rule decides, not the failures')?"""
        return any(f.kind == "access" or f.saw_access for f in self.followed)

    @property
    def ended(self) -> bool:
        """Every input was a stream and every one has ended (stdin closed): nothing more will come."""
        return bool(self.followed) and all(isinstance(f.follower, StreamFollower) and f.follower.ended
                                           for f in self.followed)

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
            if self.ended:
                self.finish()
                break
            if not busy:
                time.sleep(o.poll_interval)
        for f in self.followed:
            f.follower.close()
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)

    def stop(self) -> None:
        self.stopping = True

    def finish(self) -> None:
        """stdin ended: the diagnosis under way (or one about to start) is waited for, so the
        last incident is said with its cause before watch exits."""
        self.wait_diagnosis(DIAGNOSIS_TIMEOUT)
        self.decide(time.monotonic())
        self.wait_diagnosis(DIAGNOSIS_TIMEOUT)

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
                    for f in self.followed:
                        for win in f.windows.values():
                            win.seconds = rules.window
                said.append("rules")
        if self.options.default_proxy_config is not None or self.cfg is not None:
            title = get(DEFAULT).vocabulary.title  # the config watch reloads is the default proxy's
            try:
                self.cfg = source_of().load_config(self.options.default_proxy_config)
            except Why502Error as err:
                self.note(Diagnostic("warning", f"SIGHUP: {title} config not re-read: {err}"))
            else:
                diags: list[Diagnostic] = []
                added = self._follow(diags, from_start=False)
                for d in diags:
                    self.note(d)
                said.append(f"{title} config" + (f" (now following {', '.join(added)})"
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
                at = time.monotonic()
                self._read(f, b"".join(got.chunks), got.count, self.window.at(at), at)
            lag = f.follower.lag_bytes()
            self.metrics.lag.labels(path).set(lag)
            busy = busy or lag > 0
        self.decide(time.monotonic() if now is None else now)
        return busy

    def _keep(self, f: _Followed, kind: str, data: bytes, count: int, at: float) -> None:
        """The lines into the window diagnose is given (``window.LogWindow``)."""
        f.window(kind, self.options.rules.window, self.options.window_bytes).add(at, data, count)

    def _read(self, f: _Followed, data: bytes, count: int, bucket: Any, at: float) -> None:
        """A block of whole lines of ``f``: counted by its kind, kept in the window."""
        if f.kind in ("access", "auto"):
            data, count = self._unframed(f, data, count)
            if not count:
                return
        if f.kind == "kernel":  # evidence for the diagnosis only: no proxy failure to count
            self._keep(f, f.kind, data, count, at)
            return
        if f.kind in ("error", "fpm", "app"):
            self._keep(f, f.kind, data, count, at)
            self._errors(_failure_lines(data), bucket)
            if f.requests:  # the one log is the access log too: its requests
                self._requests(f, data, bucket)
            return
        self._sniff(f, data)
        if f.kind == "auto" and self.proxy != DEFAULT:
            # the lines of Apache's or HAProxy's log: their error-log reading (as diagnose's)
            self._keep(f, "error", data, count, at)
            self._errors(_failure_lines(data), bucket)
            return
        if f.family is not None:
            self._keep(f, "lb", data, count, at)
            self._lb(f, data, count, bucket)
            return
        if f.kind == "auto":
            # nginx's two logs in one stream: its error lines apart from its requests
            errors = b"".join(_ERROR_LINE.findall(data))
            if errors:
                n = newlines(errors)
                self._keep(f, "error", errors, n, at)
                self._errors(errors, bucket)
                data = _ERROR_LINE.sub(b"", data) if n < count else b""
                count -= n
            if not count:
                return
        f.saw_access = True
        self._keep(f, "access", data, count, at)
        self._access(f, data, count, bucket)

    def _sniff(self, f: _Followed, data: bytes) -> None:
        """The family of ``f``'s log (a load balancer's or edge proxy's), looked for once, in
        the first lines read; an access log whose log_format the config gives is nginx's."""
        if f.sniffed:
            return
        f.sniffed = True
        if f.family is None and f.parser is None and not (f.kind == "auto" and self.proxy != DEFAULT):
            found = families().detect_families(_text_lines(data[:65536])[:100])
            f.family = found[0] if found else None

    def _unframed(self, f: _Followed, data: bytes, count: int) -> tuple[bytes, int]:
        """A block of an access log (or of a log of any kind, ``auto``) as its program's lines
        when the file is a container runtime's (docker's json-file, CRI: ``sources.unframe``,
        decided on the first block), a line split over several polls joined.  The stream kept:
        nginx's access log, stdout only (the official image links access.log to stdout and
        error.log to stderr: the error lines, which the same file named as ``--error-log``
        reads, are no requests); an edge's access log (``--log-type`` or its sniffed family),
        both (Caddy writes its access log to stderr: its reader leaves the other lines); a log
        of any kind, both (nginx's error lines are split from its requests: ``_read``).  Error,
        FPM, app and kernel logs are not unframed here: their readers unwrap each line
        (``parsers.wrappers.unwrap``), both streams."""
        if f.framing is None:
            f.framing = framing(data, least=1) or ""
            if f.framing and f.kind == "access":
                self._sniff(f, unframe_block(data, f.framing)[0])  # its family from both streams
                f.stream = b"stdout" if f.family is None else None
        if not f.framing:
            return data, count
        return unframe_block(data, f.framing, f.pending, f.stream)

    def _requests(self, f: _Followed, data: bytes, bucket: Any) -> None:
        """The request lines of a log that is both (HAProxy's): its other lines are no
        requests, so they are left out, never counted as unparsed."""
        if f.parser is None:
            return
        if f.rewrite is None:  # the proxy's counter reads its lines as they are
            statuses, _others = self.metrics.traffic.add(data, f.parser, self.metrics.upstream_of)
            self._count(f, statuses, 0, sum(statuses.values()), bucket)
            return
        rows = [row for ln in data.decode("utf-8", "replace").splitlines()
                if (row := f.rewrite(ln)) is not None]
        if rows:
            statuses, unparsed = self.metrics.traffic.add(("\n".join(rows) + "\n").encode(),
                                                          f.parser, self.metrics.upstream_of)
            self._count(f, statuses, unparsed, len(rows), bucket)

    def _access(self, f: _Followed, data: bytes, count: int, bucket: Any) -> None:
        if f.parser is None:
            # guessed as ``stats`` guesses it (``formats.guessed``): an Apache log in ``common`` +
            # ``%D`` followed alone matched no predefined format, and no request was counted
            from why502.app.stats.formats import guessed
            from why502.app.watch.traffic import make_parser

            head = data[:65536].decode("utf-8", "replace").split("\n")[:100]
            f.parser = make_parser(guessed([ln for ln in head if ln])[0])
        if f.rewrite is not None:  # a line no request keeps its text: counted as unparsed
            text = data.decode("utf-8", "replace").splitlines()
            data = "".join((f.rewrite(ln) or ln) + "\n" for ln in text).encode()
        statuses, unparsed = self.metrics.traffic.add(data, f.parser, self.metrics.upstream_of)
        self._count(f, statuses, unparsed, count, bucket)

    def _count(self, f: _Followed, statuses: dict[int, int], unparsed: int, count: int,
               bucket: Any) -> None:
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
                what = f"{f.family} lines" if f.family else "its log_format"
                self.note(Diagnostic("warning", f"{f.follower.path}: {unparsed} line(s) do not "
                                     f"match {what}; counted in why502_log_lines_unparsed_total"))

    def _lb(self, f: _Followed, data: bytes, lines: int, bucket: Any) -> None:
        """A load balancer's or edge proxy's lines (``parsers.lblogs``, the readers of diagnose
        and stats): requests by status, and the proxy's own failures by symptom and target.

        ``parse_line`` costs ~25-60 us a line (15k lines/s): every line through it would put the
        agent behind at a few thousand requests a second.  So the family's native counter
        (``parsers.lblogs.counts``: the C passes of ``stats``, counting) takes the lines it is
        sure of first, with their failures decided; the lines it hands back -- all of them when
        the family has none or it is off -- are counted as before (``_lb_lines``).  ``lines``:
        how many ``data`` holds (the follower counted them)."""
        if f.status_rx is None:
            f.status_rx = _status_regex(f.family, _text_lines(data[:65536])[:20])
        if f.native is None:
            from why502.parsers.lblogs.counts import native_counter

            rx = f.status_rx if isinstance(f.status_rx, re.Pattern) else None
            f.native = native_counter(families().get(f.family), rx) or False
        statuses: dict[int, int] = {}
        failures: list[tuple[str, str, int]] = []  # (symptom, target or group, requests), in order
        native = f.native(data) if not isinstance(f.native, bool) else None
        if native is None:
            unparsed = self._lb_lines(f, data, lines, statuses, failures)
        else:
            statuses = dict(native.statuses)
            unparsed = self._lb_lines(f, native.rest, newlines(native.rest), statuses, failures)
            labels = {label for _symptom, label in native.failures} | {t[1] for t in failures}
            if self.metrics.caps(labels):
                # the block's failures past the label cap: which targets become "other" depends
                # on the order they come in, so the block is counted line by line, as before
                statuses, failures = {}, []
                unparsed = self._lb_lines(f, data, lines, statuses, failures)
            else:
                failures[:0] = [(symptom, label, n) for (symptom, label), n in native.failures.items()]
        for symptom, label, n in failures:
            up = self.metrics.bounded(label)
            self.metrics.failed(symptom, up, n)
            bucket.failures += n
            bucket.symptoms[(symptom, up)] += n
        if statuses:
            f.saw_access = True
            self.metrics.traffic.count(statuses)
        self._count(f, statuses, unparsed, lines, bucket)

    def _lb_lines(self, f: _Followed, data: bytes, lines: int, statuses: dict[int, int],
                  failures: list[tuple[str, str, int]]) -> int:
        """``_lb`` of the ``lines`` whole lines ``data`` line by line (their requests added to ``statuses``,
        the proxy's own failures to ``failures``, in the order of the lines):
        the status is taken by one regex per family over the whole block
        (``LogFamily.status_patterns``, C speed), and ``parse_line`` reads only the lines that
        matter -- the 5xx, the requests below 500 that may be the edge's own failure
        (``LogFamily.own_below_500``), and the lines that are not requests (Caddy's and Traefik's
        error lines).  The regex is used only once it agreed with ``parse_line`` on the first lines
        read (``_status_regex``): a format it misreads is read line by line.  Returns the lines
        no reader took."""
        rx = f.status_rx if isinstance(f.status_rx, re.Pattern) else None
        unparsed = 0
        slow: list[str] = []
        if rx is not None:
            matched = 0
            read: dict[int, bytes] = {}  # where -> line, of the requests to parse
            for m in rx.finditer(data):
                matched += 1
                code = int(m.group(1))
                statuses[code] = statuses.get(code, 0) + 1
                if code >= 500:
                    start = data.rfind(b"\n", 0, m.start()) + 1
                    read[start] = data[start:data.find(b"\n", m.end())]
            fam = families().get(f.family)
            for own in fam.own_below_500 if fam is not None else ():
                # a request below 500 that may be the edge's own failure: read by the parser too
                for m in own.finditer(data):
                    start = data.rfind(b"\n", 0, m.start()) + 1
                    line = data[start:data.find(b"\n", m.end())]
                    status = rx.search(line)
                    if status is not None and int(status.group(1)) < 500:
                        read[start] = line
            # the failures in the order of the lines (the label cap keeps the first targets)
            slow = [read[start].decode("utf-8", "replace") for start in sorted(read)]
            if matched < lines:  # lines that are not requests: each read for what it is
                slow += [t for t in _text_lines(data) if t.strip() and not rx.search(t.encode())]
        else:
            slow = [t for t in _text_lines(data) if t.strip()]
        fams = families()
        for text in slow:
            rec = fams.parse_line(text, f.family)
            if rec is None:
                unparsed += 1
                continue
            if rx is None and rec.status is not None and rec.kind == "access":
                statuses[rec.status] = statuses.get(rec.status, 0) + 1
            if rec.failed and rec.made_by == "lb" and rec.symptom:
                failures.append((rec.symptom, rec.target or rec.group or "", 1))
        return unparsed

    def _errors(self, data: bytes, bucket: Any) -> None:
        """The failed requests of a block of error-log lines, by symptom and upstream: one pass
        over the block (``errorscan.ErrorCounter``: the native scanner, a literal prefilter),
        the per-line recogniser only for the lines that may be failures."""
        if self.errors is None:
            self.errors = ErrorCounter()
        for (symptom, label), n in self.errors.count(data).items():
            up = self.metrics.bounded(label) if label else ""
            self.metrics.failed(symptom, up, n)
            bucket.failures += n
            bucket.symptoms[(symptom, up)] += n
            if symptom == "no-live-upstreams":
                bucket.no_live += n

    # -- incidents ---------------------------------------------------------------------------

    def decide(self, now: float) -> None:
        self._collect_diagnosis(now)
        if self.incident is not None:
            self._track(self.incident, now)  # before the window moves on
        totals = self.window.totals(now)
        fired = triggers(self.options.rules, totals, self.has_access, list(self.down))
        inc = self.incident
        if fired and inc is None:
            self._open(now, fired, totals)
        elif inc is not None:
            if fired:
                inc.last_fired = now
                inc.trigger = fired
            new = set(totals.symptoms) - inc.symptoms
            if (new and self.pending is None
                    and now - self.last_diagnosis >= self.options.rediagnose_every):
                # new evidence (a symptom or an upstream not seen yet): diagnosed again; it is
                # taken as seen only then, so a change inside the rate limit is not missed
                inc.symptoms |= new
                self._diagnose(inc, now, "incident-updated")
            # resolved once its diagnosis is in: the opened event always comes first; diagnosed
            # once more over the whole incident, then closed by _collect_diagnosis
            if (not fired and self.pending is None
                    and now - inc.last_fired >= self.options.rules.resolve_after):
                inc.closing = inc.last_fired
                self._diagnose(inc, now, "incident-resolved")

    def _open(self, now: float, fired: list[str], totals: Any) -> None:
        self.serial += 1
        opened = datetime.now()
        inc = Incident(id=f"{opened:%Y%m%dT%H%M%S}-{self.serial}",
                       opened=opened.isoformat(timespec="seconds"), opened_at=now, trigger=fired,
                       last_fired=now, symptoms=set(totals.symptoms), requests=totals.requests,
                       errors=totals.errors, failures=totals.failures)
        self.incident = inc
        self._hold(time.monotonic() - self.options.rules.window)
        self._track(inc, now)
        self._diagnose(inc, now, "incident-opened")

    def _hold(self, since: float | None) -> None:
        """Keep every followed log's lines read since ``since`` (monotonic; None: stop keeping)
        past the window, within each window's byte budget: the diagnosis at the close reads the
        whole incident (opening window included), not only the window's last seconds."""
        for f in self.followed:
            f.hold_from = since
            for win in f.windows.values():
                win.hold_from = since

    def _track(self, inc: Incident, now: float | None = None) -> None:
        """Fold the window's seconds before ``now`` into the incident's traffic (all of them
        without ``now``: the close); its counts are the totals so far, this second included."""
        mono = time.monotonic()
        inc.traffic.track(self.window.buckets, float("inf") if now is None else int(now),
                          time.time() - mono)
        rest = [b for b in self.window.buckets if b.second > inc.traffic.done]
        inc.requests = inc.traffic.requests + sum(b.requests for b in rest)
        inc.errors = inc.traffic.errors + sum(b.errors for b in rest)
        inc.failures = inc.traffic.failures + sum(b.failures for b in rest)

    def _resolve(self, inc: Incident) -> None:
        self._track(inc)
        inc.resolved = datetime.now().isoformat(timespec="seconds")
        self.metrics.incidents_open.labels(inc.cause).set(0)
        self.metrics.close_incident()
        if self.options.reports_dir and self.report is not None:
            inc.report_file = self._write_report(inc, incident_report(self.report, inc))
        self.incident = None
        self._hold(None)
        self._event("incident-resolved", inc)

    def _diagnose(self, inc: Incident, now: float, kind: str) -> None:
        """Start ``why502 diagnose`` on the window's lines (``diagnosis.diagnose_window``), with
        the inputs watch was given, in the worker thread: the tail goes on meanwhile (the
        probes and the journal take seconds); ``_collect_diagnosis`` applies it and says
        ``kind``.  The lines are taken now: what the window held when the incident opened."""
        self.last_diagnosis = now
        if self.pool is None:
            self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="why502-diagnose")
        self.diagnosis_started = time.monotonic()
        windows = self.window_lines(time.monotonic())
        inputs = self.diagnosis_inputs(closing=kind == "incident-resolved")
        self.pending = (inc, kind, self.pool.submit(diagnose_window, inputs, windows))

    def diagnosis_inputs(self, closing: bool = False) -> DiagnosisInputs:
        """The flags of ``diagnose`` besides the logs: the config watch reads (the one named,
        or the running nginx's), the proxy, the log type, the live checks or not (``closing``:
        the close reads the logs only, the live state then is the fixed one: closing.py)."""
        o = self.options
        config = o.default_proxy_config if self.proxy == DEFAULT else o.config
        return DiagnosisInputs(
            config=config, proxy=o.proxy, log_type=o.log_type, offline=o.offline or closing,
            # the host config watch read itself is the diagnosis' too
            extra=["--discover"] if config is None and self.discovers else [])

    def window_lines(self, now: float) -> list[tuple[str, str, bytes]]:
        """The window's lines of every followed log: ``(kind, path, lines)``."""
        out: list[tuple[str, str, bytes]] = []
        for f in self.followed:
            if not f.windows and f.kind != "auto":  # nothing read from it yet: an empty window
                out.append(("lb" if f.family else f.kind, f.follower.path, b""))
            for kind, win in f.windows.items():
                win.trim(now)
                if win.dropped_lines:
                    self.note(Diagnostic("info", f"{f.follower.path}: the diagnosis reads the last "
                                         f"{win.lines:,} lines of the window ({win.dropped_lines:,} "
                                         f"older ones are past its {win.budget >> 20} MiB)"))
                    win.dropped_lines = 0
                out.append((kind, f.follower.path, win.snapshot()))
        return out

    def wait_diagnosis(self, timeout: float) -> None:
        """Block until the diagnosis under way is in (tests, and a last report at exit)."""
        if self.pending is not None:
            wait([self.pending[2]], timeout)
            self._collect_diagnosis(time.monotonic())

    def _collect_diagnosis(self, now: float) -> None:
        if self.pending is None or not self.pending[2].done():
            return
        inc, kind, future = self.pending
        self.pending = None
        result = future.result()
        inc.diagnosis_s = round(time.monotonic() - self.diagnosis_started, 2)
        if kind == "incident-opened":
            # the quiet time before it resolves counts from when its cause is known: a diagnosis
            # longer than --resolve-after (a child diagnose on a loaded host takes seconds) made
            # the incident open and resolve in the same step, unseen by any scrape
            inc.last_fired = max(inc.last_fired, now)
        before = (inc.cause, inc.summary)
        if isinstance(result, str):
            self.note(Diagnostic("warning", f"diagnosis of incident {inc.id} failed: {result}"))
        else:
            if self.options.redact:
                result = redact(result)
            if kind == "incident-resolved":
                # the whole span's evidence; the cause stays the one diagnosed live (closing.py)
                self.report = closing_report(result, self.report, inc.cause)
            else:
                self.report = result
            inc.redacted = self.report.redacted
            if result.findings and kind != "incident-resolved":
                top = result.findings[0]
                inc.cause, inc.title, inc.confidence = top.cause, top.title, top.confidence
                inc.upstream = top.upstream or top.target
                inc.target = top.target
                inc.summary = top.explanation.splitlines()[0] if top.explanation else top.title
                inc.evidence = top.evidence[0].summary if top.evidence else ""
                inc.fix = top.fix.summary if top.fix else ""
        if inc.resolved is None:
            self.metrics.open_incident(inc.cause, inc.upstream, inc.target,
                                       datetime.fromisoformat(inc.opened).timestamp())
        if kind == "incident-opened":
            self.metrics.incidents.labels(inc.cause).inc()
            self.metrics.incidents_open.labels(inc.cause).set(1)
            self._event(kind, inc)
            return
        changed = (inc.cause, inc.summary) != before
        if changed and before[0] != inc.cause:
            self.metrics.incidents_open.labels(before[0]).set(0)
            self.metrics.incidents_open.labels(inc.cause).set(1)
        if kind == "incident-resolved" and inc.closing == inc.last_fired and self.incident is inc:
            self._resolve(inc)  # no rule fired during the closing diagnosis
        elif changed:
            self._event("incident-updated", inc)

    def _write_report(self, inc: Incident, report: Report) -> str | None:
        from why502.reporters.json.report import to_json

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


def named_logs(o: WatchOptions) -> bool:
    """Was any log named (``--error-log``, ``--access-log``, ``--fpm-log``, a LOG)?"""
    return bool(o.error_logs or o.access_logs or o.fpm_logs or o.app_logs or o.logs)
