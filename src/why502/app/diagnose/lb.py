"""``diagnose --access-log FILE`` when FILE is a cloud load balancer / proxy log (ALB, Classic
ELB, Cloudflare, Envoy/Istio, Caddy, Traefik): the root cause from the log's own fields.

No nginx is involved, so nothing of the machine is read: the log is the evidence
(``evidence.lb_evidence``), the vocabulary table says what each word means and
``analyzers.cloud_lb`` weighs it.  Reached when every ``--access-log`` is such a log (detected
from the content, or ``--log-type``) and no nginx config or error log was named.
"""

from __future__ import annotations

import datetime as dt
import socket
from collections import Counter
from datetime import datetime
from typing import Any

from why502 import __version__
from why502.analyzers.cloud_lb import analyze
from why502.app.diagnose.options import DiagnoseOptions, check_named_inputs
from why502.app.stats.lb import iter_records
from why502.errors import InputError
from why502.evidence.lb_evidence import LbEvidence
from why502.findings.model import Diagnostic, Finding, Report, TimelinePoint
from why502.sources.proxyprocs import EdgeProcess
from why502.timeargs import parse_time_arg


def lb_report(options: DiagnoseOptions, families: tuple[str, ...],
              discovered: EdgeProcess | None = None) -> Report:
    """The report of one or several load balancers' logs: with several families mixed in the
    files (``parsers.lblogs.detect_families``), each line is read as its own family and each
    family is weighed on its own evidence, so every edge's failures are named."""
    check_named_inputs(options)
    cutoff = None
    if options.since:
        since = parse_time_arg(options.since, "--since")
        cutoff = (since if since.tzinfo else since.astimezone()).astimezone(dt.timezone.utc)
    mixed = len(families) > 1
    evs: dict[str, LbEvidence] = {fam: LbEvidence(family=fam) for fam in families}
    lines = unparsed = 0
    # Caddy's and Traefik's error lines (the reason their access log does not give) may come as
    # --error-log or as one more --access-log
    for path, n, text, rec in iter_records([*options.access_logs, *options.error_logs],
                                           None if mixed else families[0]):
        lines += 1
        if rec is None:
            unparsed += 1
            continue
        if cutoff is not None and rec.time and _before(rec.time, cutoff):
            continue
        ev = evs.get(rec.family) or evs.setdefault(rec.family, LbEvidence(family=rec.family))
        ev.add(rec, path, n, text)
    read = {fam: ev for fam, ev in evs.items() if ev.requests or ev.error_lines}
    name = "+".join(read) or "+".join(families)
    if not read:
        raise InputError(f"no {name} request line in {', '.join(options.access_logs)}")
    diagnostics = []
    if unparsed:
        diagnostics.append(Diagnostic(severity="info", message=(
            f"{unparsed:,} of {lines:,} lines were not {' or '.join(read)} request lines (not counted)")))
    for fam, ev in read.items():
        if ev.unexplained and not ev.error_failures:
            diagnostics.append(Diagnostic(severity="warning", message=(
                f"{ev.unexplained:,} 5xx were made by the {fam} proxy itself but its access log does "
                "not say why: pass its error log too (Caddy: the http.log.error lines; Traefik: the "
                "DEBUG log) with --error-log")))
    if len(read) > 1:
        diagnostics.append(Diagnostic(severity="info", message=(
            "several load balancers' logs in one input, each read on its own: " + ", ".join(
                f"{fam} {ev.requests:,} requests ({ev.five:,} 5xx)" for fam, ev in read.items()))))
    diagnostics.append(Diagnostic(severity="info", message=(
        f"read as a {' and '.join(read)} log: the load balancer's own fields are the evidence; "
        "nothing of this machine was read")))
    per_minute: dict[str, Counter[str]] = {}
    totals: Counter[str] = Counter()
    for ev in read.values():
        totals.update(ev.totals_per_minute)
        for m, c in ev.per_minute.items():
            per_minute.setdefault(m, Counter()).update(c)
    timeline = [TimelinePoint(minute=m, counts=dict(c), total=totals.get(m, 0))
                for m, c in sorted(per_minute.items())][-1440:]
    findings = [f for ev in read.values() for f in analyze(ev)]
    if options.config:  # the proxy's config, when named: its facts name the group, route and timeout
        findings = _with_config(options, findings, diagnostics)
    findings.sort(key=lambda f: (-f.confidence, -f.count, f.cause))
    made_by: Counter[str] = Counter()
    for ev in read.values():
        made_by.update(ev.made_by)
    inputs: dict[str, Any] = {
        "access_logs": list(options.access_logs), "log_type": name,
        "requests": sum(ev.requests for ev in read.values()),
        "5xx": sum(ev.five for ev in read.values()), "made_by": dict(made_by),
        "error_logs": list(options.error_logs)}
    if discovered is not None:  # found running (diagnose with nothing named): its config is said
        inputs.update(config=discovered.config, proxy=discovered.kind, discovered=[
            {"proxy": discovered.kind, "pid": discovered.pid, "config": discovered.config}])
    if len(read) > 1:
        inputs["log_types"] = {fam: {"requests": ev.requests, "5xx": ev.five, "made_by": dict(ev.made_by)}
                               for fam, ev in read.items()}
    return Report(
        findings=findings, diagnostics=diagnostics, inputs=inputs, timeline=timeline,
        generated_at=datetime.now().astimezone().isoformat(timespec="seconds"),
        host=socket.gethostname(), tool_version=__version__,
    )


def _with_config(options: DiagnoseOptions, findings: list[Finding],
                 diagnostics: list[Diagnostic]) -> list[Finding]:
    """The findings joined to ``--config`` (``analyzers.edge_config``), for a proxy whose config
    is read through its hooks (``Hooks.config_facts``); else as they are, with a note."""
    from why502.analyzers.edge_config import with_config
    from why502.app.diagnose.proxies import read_with_hooks
    from why502.proxies import choose, get

    assert options.config is not None
    name = choose(options.proxy, options.config)
    if get(name).hooks.config_facts is None:
        diagnostics.append(Diagnostic(severity="info", message=(
            f"--config {options.config} ({name}) is not read with a load balancer's log")))
        return findings
    inputs: dict[str, Any] = {}
    view = read_with_hooks(options, diagnostics, inputs, name)
    diagnostics.append(Diagnostic(severity="info", message=(
        f"config {view.main_file} read: {len(view.groups)} {get(name).vocabulary.group}s, "
        f"{len(view.targets)} targets")))
    return with_config(findings, name, view.targets, view.groups, view.files)


def _before(time: str, cutoff: dt.datetime) -> bool:
    try:
        when = dt.datetime.fromisoformat(time.replace("Z", "+00:00"))
    except ValueError:
        return False
    when = when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)
    return when < cutoff
