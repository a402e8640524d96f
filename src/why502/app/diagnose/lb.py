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
from datetime import datetime

from why502 import __version__
from why502.analyzers.cloud_lb import analyze
from why502.app.diagnose.options import DiagnoseOptions, check_named_inputs
from why502.app.stats.lb import iter_records
from why502.errors import InputError
from why502.evidence.lb_evidence import LbEvidence
from why502.findings.model import Diagnostic, Report, TimelinePoint
from why502.timeargs import parse_time_arg


def lb_report(options: DiagnoseOptions, family: str) -> Report:
    check_named_inputs(options)
    cutoff = None
    if options.since:
        since = parse_time_arg(options.since, "--since")
        cutoff = (since if since.tzinfo else since.astimezone()).astimezone(dt.timezone.utc)
    ev = LbEvidence(family=family)
    lines = unparsed = 0
    # Caddy's and Traefik's error lines (the reason their access log does not give) may come as
    # --error-log or as one more --access-log
    for path, n, text, rec in iter_records([*options.access_logs, *options.error_logs], family):
        lines += 1
        if rec is None:
            unparsed += 1
            continue
        if cutoff is not None and rec.time and _before(rec.time, cutoff):
            continue
        ev.add(rec, path, n, text)
    if not ev.requests and not ev.error_lines:
        raise InputError(f"no {family} request line in {', '.join(options.access_logs)}")
    diagnostics = []
    if unparsed:
        diagnostics.append(Diagnostic(severity="info", message=(
            f"{unparsed:,} of {lines:,} lines were not {family} request lines (not counted)")))
    if ev.unexplained and not ev.error_failures:
        diagnostics.append(Diagnostic(severity="warning", message=(
            f"{ev.unexplained:,} 5xx were made by the {family} proxy itself but its access log does "
            "not say why: pass its error log too (Caddy: the http.log.error lines; Traefik: the "
            "DEBUG log) with --error-log")))
    diagnostics.append(Diagnostic(severity="info", message=(
        f"read as a {family} log: the load balancer's own fields are the evidence; nothing of this "
        "machine was read")))
    timeline = [TimelinePoint(minute=m, counts=dict(c), total=ev.totals_per_minute.get(m, 0))
                for m, c in sorted(ev.per_minute.items())][-1440:]
    return Report(
        findings=analyze(ev), diagnostics=diagnostics,
        inputs={"access_logs": list(options.access_logs), "log_type": family, "requests": ev.requests,
                "5xx": ev.five, "made_by": dict(ev.made_by)},
        timeline=timeline,
        generated_at=datetime.now().astimezone().isoformat(timespec="seconds"),
        host=socket.gethostname(), tool_version=__version__,
    )


def _before(time: str, cutoff: dt.datetime) -> bool:
    try:
        when = dt.datetime.fromisoformat(time.replace("Z", "+00:00"))
    except ValueError:
        return False
    when = when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)
    return when < cutoff
