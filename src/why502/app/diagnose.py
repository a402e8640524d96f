"""``why502 diagnose``: read the world once, join the evidence, run the analyzers, build a Report.

What is read (DESIGN.md, "the pipeline"):

- the nginx config (``--nginx-conf``, else ``nginx -T``, else ``/etc/nginx/nginx.conf``);
- the error and access logs it names (or ``--error-log``/``--access-log``), rotated sets included,
  limited to ``--since``;
- PHP-FPM pools and log (``--fpm-conf``/``--fpm-log`` or discovered), the kernel log
  (``--kernel-log`` or ``dmesg``/journal);
- live: the listening sockets and their processes, a probe of every target of the config (and
  nothing else), unix-socket permissions, systemd units, SELinux, sysctls.  ``--offline`` turns
  every live/system read off (no probes, no /proc, no journal).

One rule for inputs: a file the user named with a flag (``--nginx-conf``, ``--error-log``,
``--access-log``, ``--fpm-conf``, ``--fpm-log``, ``--kernel-log``, ``--app-log``) that is missing
or unreadable is an ``InputError`` (exit 3: the user asked for it, and going on without it could
print a false "healthy"); anything found by discovery (logs named by the config, rotated
siblings, FPM pools under /etc/php, dmesg/journal, /proc) that cannot be read becomes a
``Diagnostic`` (a note under the answer); "nothing at all to read" is an ``InputError`` too.
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from why502 import __version__
from why502.analyzers.rank import run_all
from why502.errors import InputError
from why502.evidence.build import (
    LogAggregator,
    config_facts,
    limit_settings,
    nginx_listens,
    with_client_view,
)
from why502.evidence.events import log_event
from why502.evidence.model import Evidence, LogEvent, SocketStat, UpstreamTiming
from why502.facts.net import Listener, split_key
from why502.facts.probes import ProbeResult
from why502.facts.setting import Setting
from why502.findings.model import (
    Diagnostic,
    Report,
    TimelineEvent,
    TimelinePoint,
    UpstreamSummary,
)
from why502.timeargs import parse_time_arg

# 4 MiB batches, two classifying threads while the next batch is read (app.classify._run):
# at most three batches in flight, each needing ~15x its size while it is classified
BATCH_BYTES = 4 << 20
CLASSIFY_WORKERS = 2


@dataclass
class DiagnoseOptions:
    """Command-line choices of ``why502 diagnose`` (all optional: discovery fills the rest)."""

    nginx_conf: str | None = None
    error_logs: list[str] = field(default_factory=list)
    access_logs: list[str] = field(default_factory=list)
    fpm_conf: str | None = None
    fpm_logs: list[str] = field(default_factory=list)
    kernel_log: str | None = None
    # other programs' logs classified like the FPM log: app servers, supervisord (restarts)
    app_logs: list[str] = field(default_factory=list)
    since: str | None = None
    offline: bool = False
    demo: bool = False
    probe_timeout: float = 2.0
    now: datetime | None = None  # for tests / recorded incidents: "now" for --since


# ---------------------------------------------------------------------------------------------


@dataclass
class Gathered:
    """Everything read for one diagnosis, before the analyzers run (tests inspect it)."""

    evidence: Evidence
    diagnostics: list[Diagnostic]
    inputs: dict[str, Any]
    access_stats: Any = None
    probe_dicts: dict[str, Any] = field(default_factory=dict)


def diagnose(options: DiagnoseOptions) -> Report:
    """Run the whole diagnosis and return the Report (findings ordered most likely first)."""
    if options.demo:
        return _demo(options)
    started = time.monotonic()
    return report_from(gather(options), started)


def report_from(g: Gathered, started: float | None = None) -> Report:
    """Run the analyzers on gathered evidence and build the Report."""
    findings, adiags = run_all(g.evidence)
    inputs = dict(g.inputs)
    if started is not None:
        inputs["elapsed_ms"] = round((time.monotonic() - started) * 1000)
    return Report(
        findings=findings, diagnostics=[*g.diagnostics, *adiags], inputs=inputs,
        timeline=_timeline(g.evidence, g.access_stats), events=_events(g.evidence),
        upstreams=_upstreams(g.evidence, g.probe_dicts),
        generated_at=datetime.now().astimezone().isoformat(timespec="seconds"),
        host=socket.gethostname(), tool_version=__version__)


def gather(options: DiagnoseOptions) -> Gathered:
    """Read every input (config, logs, live state) into typed evidence."""
    diags: list[Diagnostic] = []
    inputs: dict[str, Any] = {"offline": options.offline}
    since = (None if options.since is None
             else parse_time_arg(options.since, "--since", options.now))
    check_named_inputs(options)
    if since:
        inputs["since"] = since.isoformat(timespec="seconds")

    cfg = _load_config(options, diags, inputs)
    targets, groups, files = config_facts(cfg) if cfg is not None else ([], {}, {})
    inputs["targets"] = sorted({t.key for t in targets})

    # logs -------------------------------------------------------------------------------
    error_logs = _log_paths(options.error_logs, cfg, "error", diags)
    access_logs = _log_paths(options.access_logs, cfg, "access", diags)
    fpm_pools_raw: list[Any] = []
    fpm_config: Any = None
    if options.fpm_conf or not options.offline:
        fpm_pools_raw, fpm_config = _fpm_pools(options.fpm_conf, diags,
                                               explicit=bool(options.fpm_conf))
    fpm_logs = list(options.fpm_logs) or _fpm_log_paths(fpm_config, options)
    kernel_events: list[LogEvent] = []
    if options.kernel_log:
        kernel_events = kernel_log_events(options.kernel_log, since, diags)
        inputs["kernel_log"] = options.kernel_log
    if cfg is None and not (error_logs or access_logs or fpm_logs or options.kernel_log
                            or options.app_logs):
        raise InputError(_nothing_reason(options))
    agg = LogAggregator()
    read: dict[str, list[str]] = {}
    seen: set[tuple[int, int] | str] = set()  # one file is read once, whichever list names it
    join: dict[str, list[Any]] = {}  # the error logs' rows for the access-log join, per file
    for kind, paths in (("error_logs", error_logs), ("fpm_logs", fpm_logs),
                        ("app_logs", list(options.app_logs))):
        read[kind] = _classify_into(agg, paths, since, diags, explicit=_explicit(kind, options),
                                    seen=seen, join=join if kind == "error_logs" else None)
    inputs.update(read)

    # FPM facts need the pool files' lines for diffs
    for pool in fpm_pools_raw:
        pfile = pool.file
        if pfile and pfile not in files:
            with contextlib.suppress(OSError):
                files[pfile] = tuple(Path(pfile).read_text(encoding="utf-8", errors="replace")
                                     .splitlines())
    fpm_pools = tuple(fpm_pools_raw)

    # live / system ------------------------------------------------------------------------
    live: dict[str, Any] = {}
    if not options.offline:
        live = _live(cfg, targets, fpm_pools, since, diags, options, agg)
    events = agg.events() + kernel_events + live.get("events", [])
    access, access_stats = _access(access_logs, cfg, read["error_logs"], since, diags, inputs,
                                   explicit=bool(options.access_logs), join=join)

    ev = Evidence(
        targets=tuple(targets), groups=groups,
        symptoms=tuple(with_client_view(agg.groups(), access_stats)),
        events=tuple(sorted(events, key=lambda e: e.time or datetime.min)),
        probes=live.get("probes"), listeners=live.get("listeners"), fpm_pools=fpm_pools,
        sockets=live.get("sockets", {}), units=live.get("units", {}), access=access,
        nginx_user=live.get("user") or (cfg.user.split()[0] if cfg is not None and cfg.user else None),
        nginx_user_groups=live.get("user_groups", ()), nginx_group=live.get("group"),
        nginx_conf_file=cfg.main_file if cfg is not None else None,
        worker_connections=_wc(cfg), worker_rlimit_nofile=_rlimit(cfg),
        selinux_mode=live.get("selinux"), sysctls=live.get("sysctls", {}),
        limits=live.get("limits", {}), time_wait=live.get("time_wait", {}), files=files,
        target_units=live.get("target_units", {}), resolvers=live.get("resolvers", ()),
        per_minute=agg.per_minute,
        nginx_listens=nginx_listens(cfg) if cfg is not None else (),
        limits_config=limit_settings(cfg) if cfg is not None else (),
        offline=options.offline, now=options.now or datetime.now())
    inputs["log_lines_recognised"] = agg.lines
    return Gathered(ev, diags, inputs, access_stats, live.get("probe_dicts", {}))


def unreadable(path: str) -> str | None:
    """Why ``path`` cannot be read (``No such file or directory``, ``Permission denied``), or None.

    Opened for real (``os.access`` answers for the real uid and ignores ACLs/LSMs), non-blocking
    so that a FIFO does not hang; a directory must be listable (``--fpm-conf`` takes one).
    """
    try:
        if os.path.isdir(path):
            os.listdir(path)
        else:
            os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
    except OSError as err:
        return err.strerror or str(err)
    return None


def check_named_inputs(options: DiagnoseOptions) -> None:
    """Every file named with a flag must be readable: else one-line ``InputError`` (exit 3).

    The user asked for these; diagnosing without one could print a false "healthy".  Files
    found by discovery are checked where they are read and become notes instead.
    """
    named = [("--nginx-conf", options.nginx_conf), ("--fpm-conf", options.fpm_conf),
             ("--kernel-log", options.kernel_log),
             *(("--error-log", p) for p in options.error_logs),
             *(("--access-log", p) for p in options.access_logs),
             *(("--fpm-log", p) for p in options.fpm_logs),
             *(("--app-log", p) for p in options.app_logs)]
    for flag, path in named:
        if path and path != "-" and (why := unreadable(path)):
            raise InputError(f"cannot read {path} ({flag}): {why}")


def _explicit(kind: str, options: DiagnoseOptions) -> bool:
    return {"error_logs": bool(options.error_logs), "fpm_logs": bool(options.fpm_logs),
            "app_logs": True}[kind]


def _nothing_reason(options: DiagnoseOptions) -> str:
    from why502.sources.nginx import DEFAULT_CONF, find_nginx

    if options.nginx_conf:
        return f"cannot read nginx config {options.nginx_conf}"
    if find_nginx() is None and not os.path.exists(DEFAULT_CONF):
        return ("nothing to diagnose: nginx is not installed and /etc/nginx/nginx.conf does not "
                "exist (pass --nginx-conf FILE and/or --error-log FILE, or try --demo)")
    return ("nothing to diagnose: no readable nginx config or log (pass --nginx-conf/--error-log; "
            "run as root to read /etc/nginx and /var/log/nginx)")


def _load_config(options: DiagnoseOptions, diags: list[Diagnostic], inputs: dict[str, Any]) -> Any:
    from why502.sources.nginx import DEFAULT_CONF, find_nginx, load_config

    if options.nginx_conf is None and find_nginx() is None and not os.path.exists(DEFAULT_CONF):
        diags.append(Diagnostic("info", "nginx is not installed and /etc/nginx/nginx.conf does not "
                                "exist: diagnosing from the logs given only"))
        return None
    try:
        cfg = load_config(options.nginx_conf)
    except InputError as err:
        if options.nginx_conf is not None:
            raise
        diags.append(Diagnostic("warning", f"nginx config not read: {err}"))
        return None
    errors = [p for p in cfg.problems if p.severity == "error"]
    if options.nginx_conf is not None and not cfg.main.directives and errors:
        # the wrong file given (a binary, a log): unreadable input like for `why502 lint`, not
        # "no root cause found" and exit 0
        why = (errors[0].message.splitlines() or [""])[0]
        raise InputError(f"{options.nginx_conf}: not a readable nginx config: {why}")
    for p in cfg.problems:
        sev = p.severity if p.severity in ("info", "warning", "error") else "warning"
        diags.append(Diagnostic(sev, p.message, f"{p.file}:{p.line}" if p.file else None))  # type: ignore[arg-type]
    inputs["nginx_conf"] = cfg.main_file
    inputs["nginx_conf_source"] = cfg.source
    inputs["config_files"] = list(cfg.files)
    return cfg


def _log_paths(given: list[str], cfg: Any, kind: str, diags: list[Diagnostic]) -> list[str]:
    if given:
        return list(given)
    if cfg is None:
        return []
    targets = cfg.error_logs if kind == "error" else cfg.access_logs
    out: list[str] = []
    if not targets:
        # no error_log/access_log directive: nginx's compiled-in path (Debian/upstream packages:
        # --error-log-path / --http-log-path = /var/log/nginx/{error,access}.log)
        default = f"/var/log/nginx/{kind}.log"
        if os.path.exists(default):
            diags.append(Diagnostic("info", f"no {kind}_log in the config: reading nginx's "
                                    f"default {default}"))
            return [default]
        return []
    for lt in targets:
        path = lt.path
        if lt.is_off or path.startswith(("syslog:", "memory:")) or path in ("stderr", "/dev/stderr",
                                                                          "/dev/stdout"):
            continue
        if "$" in path:
            diags.append(Diagnostic("info", f"{kind} log path with variables not read: {path}"))
            continue
        if path not in out:
            out.append(path)
    return out


def _classify_into(agg: LogAggregator, paths: list[str], since: datetime | None,
                   diags: list[Diagnostic], explicit: bool,
                   seen: set[tuple[int, int] | str] | None = None,
                   join: dict[str, list[Any]] | None = None) -> list[str]:
    """Classify every line of ``paths`` (rotated sets, .gz) into ``agg``; return files read.

    The loop is ``app.classify.classify_files`` (the ``why502 classify`` one); this adds the
    per-file rules of diagnose (named files strict, discovered ones notes, ``--since`` skips old
    files).  ``seen``: identities of the files read so far (``sources.logfiles.file_identity``),
    shared by the calls of one run so no file is read twice -- ``--error-log error.log
    --error-log error.log.1`` names ``error.log.1`` again after finding it as a sibling.
    ``join``: when given, the rows of each file that the access-log join needs
    (``error_join_rows``) are collected there per file, before ``--since`` (as ``app.stats``
    reads them), so ``compute_for_diagnose`` need not read and classify the error log again.
    """
    if not paths:
        return []
    from why502.app.classify import classify_files, filter_since
    from why502.sources.logfiles import expand_inputs, file_identity

    if seen is None:
        seen = set()
    done: list[str] = []
    for path in paths:
        if path != "-" and not os.path.exists(path):
            if explicit:
                raise InputError(f"cannot read {path}: No such file or directory")
            diags.append(Diagnostic("warning", f"log not found: {path}", path))
            continue
        try:
            files = [str(p) for p in expand_inputs([path], rotated=True)]
        except InputError as err:
            if explicit:
                raise
            diags.append(Diagnostic("warning", str(err), path))
            continue
        except OSError as err:
            if explicit:
                raise InputError(f"cannot read {path}: {err.strerror or err}") from None
            diags.append(Diagnostic("warning", f"cannot read {path}: {err.strerror or err}", path))
            continue
        for f in files:
            key = file_identity(f)
            if key in seen:  # named twice, or named and found as a rotated sibling: read once
                continue
            # the named file itself is strict; its rotated siblings were found by why502: notes
            strict = explicit and (f == path or os.path.realpath(f) == os.path.realpath(path))
            if since is not None and f != "-" and _older_than(f, since):
                diags.append(Diagnostic("info", f"skipped {f}: last written before --since", f))
                continue
            seen.add(key)
            rows: list[Any] = []
            try:
                for df in classify_files([f], batch_bytes=BATCH_BYTES, with_text=True,
                                         workers=CLASSIFY_WORKERS):
                    if join is not None:
                        rows.append(error_join_rows(df))
                    agg.add(df if since is None else filter_since(df, since))
                done.append(f)
                if join is not None:
                    join[f] = rows
            except OSError as err:
                if strict:
                    raise InputError(f"cannot read {f}: {err.strerror or err}") from None
                diags.append(Diagnostic("warning", f"cannot read {f}: {err.strerror or err}", f))
            except InputError as err:
                if strict:
                    raise
                diags.append(Diagnostic("warning", str(err), f))
    return done


# What ``app.stats.read_error_lines`` returns, in its order: the access-log join's input.
JOIN_COLUMNS = ("time", "client", "request", "host", "upstream", "symptom", "message")


def error_join_rows(df: Any) -> Any:
    """The rows of one classified batch (``classify_files(with_text=True)``) that a 5xx access
    line can be joined to, as ``app.stats.read_error_lines`` picks them: nginx's own lines whose
    text names a client and a request (``ngx_http_log_error_handler`` appends ``, client: ``,
    ``, request: "..."``), columns ``JOIN_COLUMNS`` as strings."""
    import polars as pl

    text = pl.col("text")
    return df.filter(
        text.str.contains(", client: ", literal=True) & text.str.contains(", request: ", literal=True)
        & (pl.col("source") == "nginx")
    ).select(pl.col(c).cast(pl.String) for c in JOIN_COLUMNS)


def error_join_frame(join: dict[str, list[Any]], files: list[str]) -> Any:
    """The frame ``compute_for_diagnose(errors=...)`` takes, equal to ``read_error_lines(files)``:
    the files' rows oldest first (``order_rotated``, the order stats reads them in: the join
    sorts by time and takes the nearest line, so ties keep this order), ``time`` a naive
    datetime to the second."""
    import polars as pl

    from why502.sources.rotation import order_rotated

    frames = [f for name in order_rotated(files) for f in join.get(name, []) if f.height]
    if not frames:
        return pl.DataFrame(schema={c: pl.String for c in JOIN_COLUMNS}).with_columns(
            pl.col("time").cast(pl.Datetime("us")))
    return pl.concat(frames).with_columns(
        pl.col("time").str.slice(0, 19).str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M:%S",
                                                     strict=False))


def _older_than(path: str, since: datetime) -> bool:
    """A file last modified before ``since`` holds no line after it (rotated sets: skip it)."""
    try:
        return datetime.fromtimestamp(os.stat(path).st_mtime) < since
    except OSError:
        return False


def _fpm_pools(fpm_conf: str | None, diags: list[Diagnostic], explicit: bool) -> tuple[list[Any], Any]:
    """PHP-FPM pools (``sources.fpm.load_fpm_config``) and the config object for log discovery."""
    try:
        from why502.sources.fpm import load_fpm_config
    except ImportError:
        return [], None
    try:
        result = load_fpm_config(fpm_conf)
    except OSError as err:
        if explicit:
            raise InputError(f"cannot read {fpm_conf}: {err.strerror or err}") from None
        diags.append(Diagnostic("warning", f"PHP-FPM config not read: {err}"))
        return [], None
    if explicit and not result.pools and any(d.severity == "error" for d in result.diagnostics):
        raise InputError(next(d.message for d in result.diagnostics if d.severity == "error"))
    diags += [d for d in result.diagnostics if explicit or d.severity != "info"]
    return list(result.pools), result


def _split_diags(result: Any) -> tuple[Any, list[Diagnostic]]:
    """Sources return ``data`` or ``(data, diagnostics)``; accept both."""
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], list) and all(
            isinstance(d, Diagnostic) for d in result[1]):
        return result[0], list(result[1])
    for attr in ("pools", "listeners", "events", "units", "denials"):
        if hasattr(result, attr) and hasattr(result, "diagnostics"):
            return getattr(result, attr), list(result.diagnostics)
    return result, []


def _fpm_log_paths(fpm_config: Any, options: DiagnoseOptions) -> list[str]:
    if fpm_config is None:
        return []
    try:
        from why502.sources.fpm import fpm_log_paths

        return [p for p in fpm_log_paths(None, fpm_config) if os.path.exists(p)]
    except (ImportError, OSError):
        return []


def _wc(cfg: Any) -> Setting | None:
    if cfg is None:
        return None
    d = cfg.worker_connections_line
    return Setting(str(cfg.worker_connections), d.file if d else None, d.line if d else None,
                   d is None)


def _rlimit(cfg: Any) -> Setting | None:
    if cfg is None or cfg.worker_rlimit_nofile is None:
        return None
    return Setting(str(cfg.worker_rlimit_nofile), None, None, False)


# ---------------------------------------------------------------------------------------------
# live


def _live(cfg: Any, targets: list[Any], fpm_pools: tuple[Any, ...], since: datetime | None,
          diags: list[Diagnostic], options: DiagnoseOptions, agg: LogAggregator) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        from why502.sources.listeners import read_listener_table

        table = read_listener_table()
        out["listeners"] = tuple(table.listeners)
        diags += table.diagnostics
    except (ImportError, OSError) as err:
        diags.append(Diagnostic("warning", f"listening sockets not read: {err}"))
    # probes: every target of the config, and nothing else
    try:
        from concurrent.futures import ThreadPoolExecutor

        from why502.sources.probes import probe

        real = [t for t in targets if not t.uses_variables and (t.host or t.unix_path)]
        seen: dict[str, Any] = {}
        for t in real:
            seen.setdefault(t.key, t)
        # in parallel: 40 blackholed targets must cost one timeout, not forty
        with ThreadPoolExecutor(max_workers=min(16, max(1, len(seen)))) as pool:
            results = list(pool.map(lambda t: probe(t, options.probe_timeout), seen.values()))
        out["probes"] = dict(zip(seen, results))
        out["probe_dicts"] = {k: r.to_dict() for k, r in zip(seen, results)}
        _tls_second_look(seen, results, out, options.probe_timeout)
    except ImportError as err:
        diags.append(Diagnostic("warning", f"probes unavailable: {err}"))
    # sockets and nginx's worker identity
    try:
        from why502.sources.accounts import nginx_worker_identity, stat_path

        directive = None
        if cfg is not None and cfg.user:
            directive = f"{cfg.user} {cfg.group}" if cfg.group else cfg.user
        ident, more = nginx_worker_identity(directive)
        diags += more
        if ident is not None:
            out["user"] = ident.user
            out["group"] = ident.group if ident.gid is not None else None
            import grp

            names = []
            for gid in ident.gids:
                try:
                    names.append(grp.getgrgid(gid).gr_name)
                except KeyError:
                    names.append(str(gid))
            out["user_groups"] = tuple(names)
        paths = {t.unix_path for t in targets if t.unix_path}
        paths |= {split_key(p.key)[2] for p in fpm_pools if p.key.startswith("unix:")}
        from why502.sources.accounts import check_socket_access

        sockets = {}
        for path in sorted(x for x in paths if x):
            st = stat_path(path)
            allowed: bool | None = None
            reason: str | None = None
            if ident is not None and ident.uid is not None and st.exists:
                access = check_socket_access(path, ident.uid, ident.gids)
                allowed, reason = access.allowed, access.reason
            sockets[path] = SocketStat(path=path, exists=st.exists, is_socket=st.is_socket,
                                       owner=st.owner, group=st.group,
                                       uid=st.st_uid if st.exists else None,
                                       gid=st.st_gid if st.exists else None,
                                       mode=(st.st_mode & 0o7777) if st.exists else None,
                                       error=st.error, worker_allowed=allowed,
                                       worker_reason=reason)
        out["sockets"] = sockets
    except ImportError:
        pass
    # kernel, journal, units, selinux, sysctls (the system engineer's sources)
    fpm_files = sorted({p.file for p in fpm_pools if p.file})
    _system(out, since, diags, options, out.get("listeners") or (), targets, fpm_files)
    out["resolvers"] = _resolvers()
    tw = out.pop("time_wait_ports", {})
    out["time_wait"] = {t.key: tw[t.port] for t in targets if t.port and t.port in tw}
    return out


def kernel_log_events(path: str | None, since: datetime | None,
                      diags: list[Diagnostic]) -> list[LogEvent]:
    """OOM kills and segfaults (``sources.system.read_kernel_events``) as LogEvents."""
    from why502.evidence.build import parse_time
    from why502.sources import system

    res = system.read_kernel_events(path, since)
    diags += res.diagnostics
    # the oom-kill:constraint summary names the victim's memory cgroup (task_memcg=...); the
    # kill line after it does not
    memcg = {k.pid: k.memcg for k in res.events if k.kind == "oom-constraint" and k.memcg}
    out = []
    for k in res.events:
        if k.kind not in ("oom-kill", "segfault"):
            continue  # the constraint/invoked/chosen lines repeat the same kill
        event = log_event(k.event_id, k.raw, source="kernel", pattern=k.pattern,
                          captures=k.captures, time=parse_time(k.time), file=path or res.source,
                          line=k.line or None)
        out.append(replace(event, unit=_unit_from_memcg(k.memcg or memcg.get(k.pid))))
    return out


def _unit_from_memcg(memcg: str | None) -> str | None:
    if memcg and memcg.endswith(".service"):
        return memcg.rsplit("/", 1)[-1]
    return None


def _resolvers(path: str = "/etc/resolv.conf") -> tuple[str, ...]:
    """The host's nameservers (for a ``resolver`` fix that works here)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ()
    out = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            out.append(f"[{parts[1]}]" if ":" in parts[1] else parts[1])
    return tuple(out)


def _tls_second_look(seen: dict[str, Any], results: list[Any], out: dict[str, Any],
                     timeout: float) -> None:
    """An http:// target that resets a plain request may be a TLS port: ask it in TLS too.

    Still the same target of the config (nothing else is probed); a TLS server drops a plaintext
    request, which looks like a crash in nginx's log (``recv() failed (104: ...)``).
    """
    from why502.sources.probes import ProbeTarget, probe

    for (key, t), res in zip(seen.items(), results):
        if t.kind != "proxy" or t.scheme != "http" or res.protocol is None or res.answer not in (
                "reset", "empty"):
            continue
        again = probe(ProbeTarget(kind="proxy", scheme="https", host=t.host, port=t.port,
                                  unix_path=t.unix_path), timeout=timeout)
        if any(x.ok for x in again.tls):
            fact: ProbeResult = out["probes"][key]
            out["probes"][key] = replace(fact, protocol=replace(res.protocol, answer="tls"),
                                         detail=f"{fact.detail}; it completes a TLS handshake: "
                                                "the port speaks TLS")


def _system(out: dict[str, Any], since: datetime | None, diags: list[Diagnostic],
            options: DiagnoseOptions, listeners: Iterable[Listener], targets: list[Any],
            fpm_files: list[str]) -> None:
    """Kernel, systemd, SELinux, sysctls, nginx's fd limit; each failure is a Diagnostic."""
    from why502.evidence.build import parse_time
    from why502.sources import system

    events: list[LogEvent] = []
    if not options.kernel_log:
        try:
            events += kernel_log_events(None, since, diags)
        except Exception as err:
            diags.append(Diagnostic("warning", f"kernel log not read: {err}"))
    listeners = list(listeners)
    target_units = _target_units(targets, fpm_files, listeners)
    out["target_units"] = target_units
    units = sorted(set(target_units.values()))[:20]
    try:
        states = system.read_unit_states(units)
        diags += states.diagnostics
        found = {u.name: u for u in states.units if u.exists}
        out["units"] = found
        if found:
            journal = system.read_journal(list(found), since)
            diags += journal.diagnostics
            from why502.parsers.errorlog import classify_line

            for e in journal.entries:
                # systemd's messages about the unit, or the unit's own output (PHP-FPM with
                # error_log = syslog, gunicorn, uwsgi): recognised by the catalog once
                c = classify_line(e.message)
                if c is not None:
                    item = log_event(c.symptom, e.message, source=c.source, pattern=c.pattern,
                                     captures=c.captures, time=parse_time(e.time), file="journal")
                    events.append(replace(item, unit=e.unit or item.unit))
    except Exception as err:
        diags.append(Diagnostic("warning", f"systemd state not read: {err}"))
    try:
        se = system.selinux_denials(since)
        diags += se.diagnostics
        out["selinux"] = se.mode
        for d in se.denials:
            if d.comm in (None, "nginx"):
                events.append(LogEvent(kind="selinux-avc", text=d.raw, source="audit",
                                       time=parse_time(d.time), pid=d.pid, process=d.comm,
                                       detail="SELinux denied " + " ".join(d.permissions)
                                       + (f" to port {d.dest_port}" if d.dest_port else "")))
    except Exception as err:
        diags.append(Diagnostic("warning", f"SELinux state not read: {err}"))
    try:
        net = system.read_net_limits()
        if net.port_range:
            out["sysctls"] = {"net.ipv4.ip_local_port_range": f"{net.port_range[0]} {net.port_range[1]}"}
        out["time_wait_ports"] = dict(net.time_wait_by_remote_port)
    except Exception as err:
        diags.append(Diagnostic("warning", f"network limits not read: {err}"))
    nginx_pids = [x.pid for x in listeners if x.process == "nginx" and x.pid]
    if nginx_pids:
        try:
            lim = system.read_process_limits(nginx_pids[0])
            soft = getattr(lim.max_open_files, "soft", None)
            if isinstance(soft, int):
                out["limits"] = {"nginx-nofile": soft}
        except Exception:  # noqa: S110
            pass
    out["events"] = events


def _target_units(targets: list[Any], fpm_files: list[str],
                  listeners: list[Listener]) -> dict[str, str]:
    """peer key -> the systemd unit serving it: the cgroup of the process listening there
    (``/proc/PID/cgroup``); for PHP-FPM targets, Debian's ``phpX.Y-fpm.service`` from the pool's
    config path (so a stopped FPM still gets its unit)."""
    import re

    from why502.sources.system import unit_of_pid

    ev = Evidence(listeners=tuple(listeners))
    out: dict[str, str] = {}
    fpm_units = sorted({f"php{m.group(1)}-fpm.service" for f in fpm_files
                        if (m := re.search(r"/etc/php/([\d.]+)/fpm/", f))})
    for t in targets:
        for lst in ev.listeners_for(t.key):
            if lst.pid and lst.process != "nginx":
                unit, _ = unit_of_pid(lst.pid)
                if unit:
                    out[t.key] = unit
                    break
        if t.key not in out and t.kind == "fastcgi" and len(fpm_units) == 1:
            out[t.key] = fpm_units[0]
    return out


# ---------------------------------------------------------------------------------------------
# access logs


def _access(paths: list[str], cfg: Any, error_logs: list[str], since: datetime | None,
            diags: list[Diagnostic], inputs: dict[str, Any], explicit: bool,
            join: dict[str, list[Any]] | None = None) -> tuple[dict[str, UpstreamTiming], Any]:
    """Per-upstream truth from the access logs (the stats engineer's ``compute_for_diagnose``).

    The error logs were classified already (``_classify_into``): their join rows go along
    (``errors=``) instead of a second read.  When no error log was read, ``error_logs=None``
    leaves stats its own fallback (the config's ``error_log``), as before.
    """
    inputs["access_logs"] = []
    readable = []
    for p in paths:
        why = unreadable(p)
        if why is None:
            readable.append(p)
        elif explicit:  # checked up front (check_named_inputs); kept for direct callers
            raise InputError(f"cannot read {p} (--access-log): {why}")
        else:
            diags.append(Diagnostic("warning", f"access log not read: cannot read {p}: {why}", p))
    if not readable:
        return {}, None
    from why502.app.stats import compute_for_diagnose

    try:
        errors = error_join_frame(join, error_logs) if join is not None and error_logs else None
        st = compute_for_diagnose(readable, config=cfg, error_logs=error_logs or None, since=since,
                                  errors=errors)
    except InputError as err:
        # the files exist (checked above): lines that do not parse are a tool-side problem,
        # a diagnostic (DESIGN.md), not a reason to withhold the diagnosis
        diags.append(Diagnostic("warning", f"access log not used: {err}"))
        return {}, None
    except OSError as err:
        diags.append(Diagnostic("warning", f"access log not read: {err.strerror or err}"))
        return {}, None
    inputs["access_logs"] = list(readable)
    inputs["access_requests"] = st.requests
    for note in st.notes:
        if "cannot tell" in note or "no $upstream_header_time" in note:
            diags.append(Diagnostic("info", note))
    return {u.address: timing_from_stats(u) for u in st.upstreams}, st


def timing_from_stats(u: Any) -> UpstreamTiming:
    """``evidence.access_stats.UpstreamStats`` -> ``UpstreamTiming``."""
    statuses = {int(k): v for k, v in u.statuses.items() if str(k).isdigit()}
    backend = int(u.made_by.get("backend", 0))
    nginx = int(u.made_by.get("nginx", 0))
    # per-attempt 5xx mix nginx's own (a failed attempt is written as 502/504 in
    # $upstream_status) with the backend's: take the failed attempts off 502, then 504, and
    # name the backend's 5xx by what is left (a backend 503 is not nginx's more frequent 502)
    left = {s: n for s, n in statuses.items() if s >= 500}
    failed = int(getattr(u, "failed_attempts", 0))
    for s in (502, 504):
        take = min(failed, left.get(s, 0))
        if s in left:
            left[s] -= take
        failed -= take
    five = sorted(((n, s) for s, n in left.items() if n), reverse=True) or sorted(
        ((n, s) for s, n in statuses.items() if s >= 500), reverse=True)
    own = sorted(((n, s) for s, n in statuses.items() if s in (502, 504)), reverse=True) or five
    rt = u.header_time if u.header_time.count else u.response_time
    p50 = rt.quantile(0.5)
    p95 = rt.quantile(0.95)
    return UpstreamTiming(
        upstream=u.address, requests=u.attempts, statuses=statuses,
        backend_5xx={five[0][1]: backend} if five and backend else {},
        proxy_5xx={own[0][1]: nginx} if own and nginx else {},
        p50_ms=p50 * 1000 if p50 is not None else None,
        p95_ms=p95 * 1000 if p95 is not None else None,
        max_ms=rt.max * 1000 if rt.count else None,
        at_timeout=int(u.near_timeout), timeout_s=u.timeout)


# ---------------------------------------------------------------------------------------------
# report extras


def _timeline(ev: Evidence, stats: Any) -> list[TimelinePoint]:
    """Per-minute 5xx counts: from the access log when read, else from the error-log times."""
    if stats is not None and getattr(stats, "timeline", None):
        out = []
        for row in stats.timeline:
            per = {k: int(v) for k, v in row.items() if k.isdigit() and int(k) >= 500 and v}
            if row.get("other_5xx"):
                per["5xx"] = int(row["other_5xx"])
            out.append(TimelinePoint(minute=str(row["minute"])[:16], counts=per,
                                     total=int(row.get("requests", 0) or 0)))
        return out[-1440:]
    return [TimelinePoint(minute=m, counts=dict(c), total=sum(c.values()))
            for m, c in sorted(ev.per_minute.items())][-1440:]


def _events(ev: Evidence) -> list[TimelineEvent]:
    out = [TimelineEvent(time=e.time.isoformat(timespec="seconds"), kind=e.kind,
                         label=e.detail or e.kind, source=e.file, text=e.text)
           for e in ev.events if e.time][:200]
    for g in ev.symptoms:
        if g.first:
            out.append(TimelineEvent(time=g.first.isoformat(timespec="seconds"), kind=g.symptom,
                                     label=f"first {g.symptom}" + (f" to {g.peer}" if g.peer else ""),
                                     source=g.samples[0].file if g.samples else None,
                                     text=g.samples[0].text if g.samples else None))
    out.sort(key=lambda e: e.time)
    return out


def _upstreams(ev: Evidence, probe_dicts: dict[str, Any]) -> list[UpstreamSummary]:
    names: dict[str, list[str]] = {}
    where: dict[str, str] = {}
    for t in ev.targets:
        name = t.group or t.key
        names.setdefault(name, [])
        if t.key not in names[name]:
            names[name].append(t.key)
        if t.pass_file:
            where.setdefault(name, f"{t.pass_file}:{t.pass_line}")
    out = []
    for name, keys in names.items():
        sym: Counter[str] = Counter()
        statuses: Counter[str] = Counter()
        for g in ev.symptoms:
            if g.peer in keys or g.peer == name:
                sym[g.symptom] += g.count
                for s, n in g.statuses.items():
                    statuses[str(s)] += n
        timing = ev.access.get(name)
        if timing:
            for s, n in timing.statuses.items():
                statuses[str(s)] = max(statuses[str(s)], n)
        out.append(UpstreamSummary(name=name, targets=keys, symptoms=dict(sym),
                                   statuses=dict(statuses),
                                   probes=[probe_dicts[k] for k in keys if k in probe_dicts],
                                   config=where.get(name)))
    return out


# ---------------------------------------------------------------------------------------------
# demo


def _demo(options: DiagnoseOptions) -> Report:
    """Diagnose the recorded lab incident bundled in ``why502/demo`` (offline, no nginx needed).

    The bundle (format described in ``why502/demo/README.md``) is unpacked into a temp dir where
    the recording's ``/lab`` paths become real again, diagnosed offline with the recording's
    "now", and the socket table and probes taken at the height of the incident are used as the
    live evidence.  Paths in the report are shown as ``/lab/...`` again.
    """
    import json
    import shutil
    import tempfile
    from importlib import resources

    bundle = resources.files("why502").joinpath("demo")
    try:
        manifest = json.loads(bundle.joinpath("manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise InputError(f"the demo bundle is missing or broken: {err}") from None
    if str(manifest.get("format", "")).split(".")[0] != "1":
        raise InputError(f"unsupported demo bundle format {manifest.get('format')!r}")
    placeholder = manifest.get("root_placeholder", "/lab")
    tmp = Path(tempfile.mkdtemp(prefix="why502-demo-"))
    try:
        where: dict[str, Path] = {}
        for recorded, name in manifest["tree"].items():
            dest = tmp / recorded[len(placeholder) + 1:]
            dest.parent.mkdir(parents=True, exist_ok=True)
            text = bundle.joinpath(name).read_bytes().decode("utf-8", errors="replace")
            dest.write_text(text.replace(placeholder, str(tmp)), encoding="utf-8")
            where[name] = dest
        files = manifest["files"]
        opts = DiagnoseOptions(
            nginx_conf=str(where[files["nginx_conf"]]),
            error_logs=[str(where[f]) for f in files.get("error_logs", [])],
            access_logs=[str(where[f]) for f in files.get("access_logs", [])],
            fpm_conf=str(where[files["fpm_conf"]]) if files.get("fpm_conf") else None,
            fpm_logs=[str(where[f]) for f in files.get("fpm_logs", [])],
            since=options.since, offline=True,
            now=datetime.fromisoformat(manifest["now"]) if manifest.get("now") else None)
        started = time.monotonic()
        g = gather(opts)
        snap = json.loads(json.dumps(manifest.get("snapshot") or {}).replace(placeholder, str(tmp)))
        listeners = tuple(Listener.from_dict(x) for x in snap.get("listeners", []))
        probes = {}
        for raw in snap.get("probes", []):
            t = raw.get("target", {})
            key = (f"unix:{t['unix_path']}" if t.get("unix_path") else
                   f"{t.get('host')}:{t.get('port')}")
            probes[key] = ProbeResult.from_dict(raw)
            g.probe_dicts[key] = raw
        g = replace(g, evidence=replace(g.evidence, listeners=listeners or g.evidence.listeners,
                                        probes=probes or g.evidence.probes),
                    inputs={**g.inputs, "demo": True, "demo_title": manifest.get("title"),
                            "recorded_at": manifest.get("recorded_at")})
        report = report_from(g, started)
        doc = json.loads(json.dumps(report.to_dict()).replace(str(tmp), placeholder))
        return Report.from_dict(doc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
