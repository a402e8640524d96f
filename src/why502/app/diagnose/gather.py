"""Read every input once and join it into ``Evidence`` (the analyzers' only input).

Order: the inputs the user named are checked first (one-line errors before any work), then the
configs, the logs (each file classified once), the live state (unless ``--offline``) and last
the access logs, which join the error logs' rows already classified.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from why502.app.diagnose import inputs as config
from why502.app.diagnose.access import access_stats
from why502.app.diagnose.live import Live, read_live
from why502.app.diagnose.logs import FileKey, classify_into, kernel_log_events
from why502.app.diagnose.options import DiagnoseOptions, check_named_inputs, nothing_to_read
from why502.app.diagnose.proxies import ProxyView, read_apache, read_haproxy, which_proxy
from why502.app.stats.errorlog import JoinRows
from why502.evidence.aggregate import LogAggregator
from why502.evidence.client_view import client_failures, location_outcomes, with_client_view
from why502.evidence.config_facts import config_facts, limit_settings, nginx_listens
from why502.evidence.haproxy_facts import with_aliases
from why502.evidence.model import Evidence, LogEvent
from why502.evidence.stats import AccessStats
from why502.facts.fpm import FpmPool
from why502.findings.model import Diagnostic
from why502.sources.fpm import FpmConfig
from why502.timeargs import parse_time_arg


@dataclass
class Gathered:
    """Everything read for one diagnosis, before the analyzers run (tests inspect it)."""

    evidence: Evidence
    diagnostics: list[Diagnostic]
    inputs: dict[str, Any]  # the report's "inputs" object (JSON: what was read, from where)
    access_stats: AccessStats | None = None
    probe_dicts: dict[str, dict[str, Any]] = field(default_factory=dict)  # the report's probes


def _access_end(stats: AccessStats | None) -> datetime | None:
    """The minute of the access log's last request (log time), or None."""
    if stats is None or not stats.last_time:
        return None
    try:
        return datetime.fromisoformat(stats.last_time[:16])
    except ValueError:
        return None


def gather(options: DiagnoseOptions) -> Gathered:
    """Read every input (config, logs, live state) into typed evidence."""
    diags: list[Diagnostic] = []
    inputs: dict[str, Any] = {"offline": options.offline}
    since = (None if options.since is None
             else parse_time_arg(options.since, "--since", options.now))
    check_named_inputs(options)
    if since:
        inputs["since"] = since.isoformat(timespec="seconds")

    proxy = which_proxy(options)
    hap: ProxyView | None = None
    cfg = None
    if proxy in ("haproxy", "apache"):
        hap = (read_haproxy if proxy == "haproxy" else read_apache)(options, diags, inputs)
        targets, groups, files = hap.targets, hap.groups, hap.files
    else:
        if options.config is not None and options.nginx_conf is None:
            options = replace(options, nginx_conf=options.config)
        cfg = config.nginx_config(options, diags, inputs)
        targets, groups, files = config_facts(cfg) if cfg is not None else ([], {}, {})
    inputs["targets"] = sorted({t.key for t in targets})

    # logs -------------------------------------------------------------------------------
    error_logs = (hap.error_logs if hap is not None and not options.error_logs
                  else config.log_paths(options.error_logs, cfg, "error", diags))
    access_logs = config.log_paths(options.access_logs, cfg, "access", diags)
    pools: list[FpmPool] = []
    fpm_config: FpmConfig | None = None
    if options.fpm_conf or not (options.offline or options.logs_only()):
        pools, fpm_config = config.fpm_pools(options.fpm_conf, diags, explicit=bool(options.fpm_conf))
    fpm_logs = list(options.fpm_logs) or config.fpm_logs(fpm_config)
    kernel_events: list[LogEvent] = []
    if options.kernel_log:
        kernel_events = kernel_log_events(options.kernel_log, since, diags)
        inputs["kernel_log"] = options.kernel_log
    if cfg is None and hap is None and not (error_logs or access_logs or fpm_logs or options.kernel_log
                            or options.app_logs):
        raise nothing_to_read(options)
    agg = LogAggregator()
    read: dict[str, list[str]] = {}
    seen: set[FileKey] = set()  # one file is read once, whichever list names it
    join = JoinRows()  # the error logs' rows for the access-log join (on disk when many)
    for kind, paths in (("error_logs", error_logs), ("fpm_logs", fpm_logs),
                        ("app_logs", list(options.app_logs))):
        read[kind] = classify_into(agg, paths, since, diags, explicit=options.named(kind),
                                   seen=seen, join=join if kind == "error_logs" else None)
    inputs.update(read)
    diags.extend(Diagnostic("info", n) for n in agg.notes())  # what the bounds left out

    # FPM facts need the pool files' lines for diffs
    for pool in pools:
        if pool.file and pool.file not in files:
            with contextlib.suppress(OSError):
                files[pool.file] = tuple(Path(pool.file).read_text(encoding="utf-8", errors="replace")
                                         .splitlines())
    fpm_pools = tuple(pools)

    # live / system ------------------------------------------------------------------------
    live = Live()
    if not options.offline:
        live = read_live(cfg, targets, fpm_pools, since, diags, options.probe_timeout,
                         kernel_log_given=bool(options.kernel_log),
                         user_directive=hap.user_directive if hap else None)
    events = agg.events() + kernel_events + live.events
    try:
        access, stats = access_stats(access_logs, cfg, read["error_logs"], since, diags, inputs,
                                     explicit=bool(options.access_logs), join=join)
    finally:
        join.close()

    ev = Evidence(
        targets=tuple(targets), groups=groups,
        symptoms=tuple(with_client_view(with_aliases(agg.groups(), hap.aliases if hap else {}),
                                        stats)),
        events=tuple(sorted(events, key=lambda e: e.time or datetime.min)),
        probes=live.probes, listeners=live.listeners, fpm_pools=fpm_pools,
        sockets=live.sockets, units=live.units, access=access,
        locations_5xx=location_outcomes(stats), client_5xx=client_failures(stats),
        access_has_upstream=stats is None or "upstream_addr" in stats.log_format,
        nginx_user=live.user or (cfg.user.split()[0] if cfg is not None and cfg.user else None)
        or (hap.user if hap else None),
        nginx_user_groups=live.user_groups,
        nginx_group=live.group or (cfg.worker_identity()[1] if cfg is not None and cfg.user else None),
        nginx_conf_file=cfg.main_file if cfg is not None else (hap.main_file if hap else None),
        worker_connections=config.worker_connections(cfg),
        worker_rlimit_nofile=config.worker_rlimit_nofile(cfg),
        selinux_mode=live.selinux, sysctls=live.sysctls, limits=live.limits,
        time_wait=live.time_wait, files=files, target_units=live.target_units,
        resolvers=live.resolvers, per_minute=agg.per_minute,
        nginx_listens=nginx_listens(cfg) if cfg is not None else (hap.listens if hap else ()),
        limits_config=limit_settings(cfg) if cfg is not None else (),
        offline=options.offline, now=options.now or datetime.now(), proxy=proxy,
        server_states=hap.states if hap else None,
        runtime_socket=hap.runtime_socket if hap else None,
        inputs_end=_access_end(stats))
    inputs["log_lines_recognised"] = agg.lines
    return Gathered(ev, diags, inputs, stats, live.probe_dicts)

