"""``why502 diagnose``: read the world once, join the evidence, run the analyzers, build a Report.

What is read (docs/architecture.md, "the pipeline"), module by module:

- ``options``: the command-line choices and the rule for named inputs (a file the user named
  that cannot be read is a one-line error; what discovery finds and cannot read is a note);
- ``inputs``: the nginx config (``--nginx-conf``, else ``nginx -T``, else
  ``/etc/nginx/nginx.conf``), the logs it names, PHP-FPM's pools;
- ``logs``: the error, PHP-FPM, app and kernel logs, each line classified once, rotated sets
  included, limited to ``--since``;
- ``live`` (with ``probes`` and ``system``): the listening sockets and their processes, a probe
  of every target of the config (and nothing else), unix-socket permissions, systemd units,
  SELinux, sysctls; ``--offline`` turns every live read off;
- ``access``: the access logs, what the clients got per upstream;
- ``gather``: all of it joined into ``Evidence``; ``report``: the analyzers run and the
  ``Report`` assembled; ``demo``: the bundled incident's saved report (``--demo``).
"""

from __future__ import annotations

import time

from why502.app.diagnose.demo import demo_report
from why502.app.diagnose.gather import Gathered, gather
from why502.app.diagnose.options import DiagnoseOptions
from why502.app.diagnose.report import report_from
from why502.findings.model import Report

__all__ = ["DiagnoseOptions", "Gathered", "diagnose", "gather", "report_from"]


def diagnose(options: DiagnoseOptions) -> Report:
    """Run the whole diagnosis and return the Report (findings ordered most likely first)."""
    if options.demo:
        return demo_report()
    family = _lb_family(options)
    if family is not None:
        from why502.app.diagnose.lb import lb_report

        return lb_report(options, family)
    started = time.monotonic()
    return report_from(gather(options), started)


def _lb_family(options: DiagnoseOptions) -> str | None:
    """The load-balancer family when the access logs are an ALB/Cloudflare/Envoy/... log and
    nothing of nginx was named (else None: the nginx diagnosis)."""
    from why502.app.stats.lb import check_log_type, has_lines_of, sniff_log_type

    forced = check_log_type(options.log_type)
    if forced == "nginx" or not options.access_logs:
        return None
    if forced is not None:
        return forced
    if options.nginx_conf or "-" in options.access_logs:
        return None
    family = sniff_log_type(list(options.access_logs))
    if family is not None and options.error_logs and not has_lines_of(list(options.error_logs), family):
        return None  # an nginx error log next to it: the nginx diagnosis
    return family
