"""``why502 diagnose`` with no flags on a host that runs several proxies: find them, diagnose each
one, merge the reports.

A host may run nginx in front of an app and HAProxy in front of another pool, or Apache for a
legacy site next to nginx.  With nothing named on the command line (no config, no log, no
``--proxy``), the running masters are read from ``/proc`` (``sources.proxyprocs``: their kind,
PID and the config their command line names); each is diagnosed as if its config had been given
with ``--config``, and every finding says which proxy it is about (``Finding.proxy``).  One
nginx master alone started with the compiled-in config keeps the classic path (``nginx -T``,
which reads that config with every include); one started with ``-c FILE`` is diagnosed from FILE,
as ``nginx -T`` would read /etc/nginx, which is not what runs (issue 31: a false "healthy");
no proxy running keeps the classic path too (nginx, else the packaged HAProxy or Apache config).
"""

from __future__ import annotations

import os
from dataclasses import replace
from typing import Any, get_args

from why502.analyzers.rank import order
from why502.app.diagnose.judged import EMPTY_LOGS
from why502.app.diagnose.options import DiagnoseOptions
from why502.errors import InputError
from why502.findings.model import Judged, Report, TimelinePoint
from why502.proxies import DEFAULT, Capability, get, report_config
from why502.sources.proxyprocs import (
    DEFAULT_CONFIGS,
    EdgeProcess,
    ProxyProcess,
    own_default_config,
    running_edges,
    running_proxies,
)


def nothing_named(options: DiagnoseOptions) -> bool:
    """No config, proxy or proxy log named: discovery decides what to read."""
    return not (options.default_proxy_config or options.config or options.proxy or options.error_logs
                or options.access_logs or options.demo or options.log_type)


def discover(options: DiagnoseOptions) -> list[tuple[ProxyProcess, DiagnoseOptions]]:
    """One ``DiagnoseOptions`` per running proxy master, or ``[]`` for the classic path (nothing
    running, or one nginx alone)."""
    if not nothing_named(options):
        return []
    masters = [p for p in running_proxies() if p.config]
    if not masters or (len(masters) == 1 and own_default_config(masters) is None
                       and masters[0].kind == DEFAULT and not masters[0].container):
        return []
    out: list[tuple[ProxyProcess, DiagnoseOptions]] = []
    for proc in masters:
        root = container_root(proc)
        config = os.path.normpath(root + proc.config) if root and proc.config else proc.config
        if (proc.kind == DEFAULT and proc.config == DEFAULT_CONFIGS[DEFAULT] and not root
                and not os.path.exists(proc.config)):
            continue
        out.append((proc, replace(options, config=config, proxy=proc.kind, prefix=proc.prefix,
                                  unit=proc.unit, container=proc.container, root=root,
                                  error_logs=syslog_logs(proc, root))))
    return out


def container_root(proc: ProxyProcess) -> str | None:
    """``/proc/PID/root`` of a master running in a container (another mount namespace): the
    paths its command line and config name are inside that root, as the kernel shows it to
    root, and every proxy's loader resolves them there (``parsers.rooted``: includes, links,
    logs).  None for a master of this host's namespace."""
    return f"/proc/{proc.pid}/root" if proc.container else None


def syslog_logs(proc: ProxyProcess, root: str | None) -> list[str]:
    """The log of a contained master whose proxy logs through syslog
    (``Capability.LOGS_THROUGH_SYSLOG``: its config names no file): the packaged log path
    inside the container's root when it is there (the container's own rsyslog wrote it), never
    this host's file of the same name.  ``[]`` otherwise (the config's logs are read)."""
    proxy = get(proc.kind)
    if not root or not proxy.can(Capability.LOGS_THROUGH_SYSLOG):
        return []
    path = os.path.normpath(root + proxy.vocabulary.default_error_log)
    return [path] if os.path.isfile(path) and os.access(path, os.R_OK) else []


def watched_master() -> tuple[ProxyProcess, str, str | None] | None:
    """The one running master ``watch`` follows when nothing is named: ``(master, its config as
    read from here, its root)`` -- under ``/proc/PID/root`` for a master in a container, as
    ``diagnose`` reads it.  None when no master, or several, run (watch follows one proxy), or
    when its proxy's logs are not followed (``Capability.WATCH``)."""
    masters = [p for p in running_proxies() if p.config]
    if len(masters) != 1 or not get(masters[0].kind).can(Capability.WATCH):
        return None
    proc = masters[0]
    root = container_root(proc)
    config = os.path.normpath(root + proc.config) if root and proc.config else proc.config
    assert config is not None
    return proc, config, root


def root_unreadable(proc: ProxyProcess, root: str) -> str | None:
    """Why the container's root cannot be read (not root), or None."""
    try:
        os.listdir(root)
    except OSError as err:
        return (f"{proc.kind} (pid {proc.pid}) runs in container {proc.container}: its config "
                f"{proc.config} is a path inside it, and {root} cannot be read ({err.strerror or err}); "
                f"nothing of it was read (this host's {proc.config} is another file): run why502 as "
                "root, or inside the container")
    return None


def discover_edge(options: DiagnoseOptions) -> tuple[EdgeProcess, DiagnoseOptions] | None:
    """With nothing named and no nginx, Apache or HAProxy running but Caddy running: Caddy's
    own logs (the access logs its config writes, its standard error when that is a file), read
    as a Caddy log.  Before, this host's packaged nginx config was read instead -- a proxy that
    does not run -- and the verdict was "healthy", exit 0, while Caddy answered 502 to every
    request (issue 31).  A Caddy whose logs cannot be read is exit 3 saying so: never healthy."""
    if not nothing_named(options) or options.offline or running_proxies():
        return None
    edges = running_edges()
    if not edges:
        return None
    proc = edges[0]
    logs = [p for p in proc.access_logs if os.access(p, os.R_OK)]
    if not logs:
        words = get(proc.kind).vocabulary
        missing = ", ".join(proc.access_logs) or f"none: its config has no `{words.access_log_statement}`"
        raise InputError(f"{words.title} runs (pid {proc.pid}, config {proc.config}) but its access log "
                         f"cannot be read ({missing}); diagnose it with --access-log FILE --log-type "
                         f"{proc.kind} (run as root, or add {words.access_log_to_file})")
    return proc, replace(options, access_logs=logs,
                         error_logs=[proc.own_log] if proc.own_log and os.access(proc.own_log, os.R_OK)
                         else [], log_type=proc.kind)


def merge(reports: list[tuple[ProxyProcess, Report]]) -> Report:
    """One report of several proxies' diagnoses: findings ordered as ``analyzers.rank`` orders
    them (confidence weighted by impact, over all proxies), the rest concatenated; ``inputs``
    lists each proxy found (``discovered``) and what each run read (``runs``)."""
    findings = [f for _p, r in reports for f in r.findings]
    biggest = max((f.count for f in findings), default=0)
    findings.sort(key=lambda f: order(f, biggest))  # current before recovered, over all proxies
    timeline: dict[str, dict[str, int]] = {}
    totals: dict[str, int] = {}
    for _p, r in reports:
        for point in r.timeline:
            counts = timeline.setdefault(point.minute, {})
            for k, v in point.counts.items():
                counts[k] = counts.get(k, 0) + v
            totals[point.minute] = totals.get(point.minute, 0) + point.total
    inputs: dict[str, Any] = {
        "offline": reports[0][1].inputs.get("offline", False),
        "discovered": [{"proxy": p.kind, "pid": p.pid, "config": p.config} for p, _r in reports],
        "runs": [r.inputs for _p, r in reports],
        # the config each run read, at the top like a single run's (the verdict's "read:" line)
        "configs": [report_config(r.inputs) for _p, r in reports],
    }
    for key in ("error_logs", "access_logs", "targets", "fpm_logs", "app_logs"):
        merged: list[Any] = []
        for _p, r in reports:
            for v in r.inputs.get(key) or []:
                if v not in merged:
                    merged.append(v)
        inputs[key] = merged
    empty = [p for _p, r in reports for p in r.inputs.get(EMPTY_LOGS) or []]
    if empty:  # the logs of every run that held no line (the "read:" line's "(0 lines)")
        inputs[EMPTY_LOGS] = list(dict.fromkeys(empty))
    # what the verdict rests on: what any proxy's run judged (None: a run that did not say)
    said = [r.judged for _p, r in reports]
    judged = None if any(j is None for j in said) else [
        j for j in get_args(Judged) if any(j in (s or []) for s in said)]
    first = reports[0][1]
    return Report(
        findings=findings,
        # each proxy's run read the same host facts (PHP-FPM's config, the journal): one note each
        diagnostics=list(dict.fromkeys(d for _p, r in reports for d in r.diagnostics)),
        inputs=inputs,
        timeline=[TimelinePoint(m, timeline[m], totals[m]) for m in sorted(timeline)][-1440:],
        events=sorted((e for _p, r in reports for e in r.events), key=lambda e: e.time),
        upstreams=[u for _p, r in reports for u in r.upstreams],
        generated_at=first.generated_at, host=first.host, tool_version=first.tool_version,
        judged=judged)
