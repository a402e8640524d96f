"""``why502 stats``' typed results (``findings.results.StatsReport``, ``LbStatsReport``).

``access_report`` wraps the engine's ``AccessStats``; ``proxied_report`` is stats on HAProxy's
httplog lines or Apache's access log, read through nginx's columns (``app.stats.haproxy``), as the
user should see it: the proxy's own word in the notes (given to the engine, which writes them --
before, ``cli/cmd_stats.py`` rewrote the notes' text with ``str.replace``), the log format by its
name, HAProxy's backends as the upstreams' locations and its runtime view, and the user's files
named instead of the rewritten copy.
"""

from __future__ import annotations

from contextlib import ExitStack
from datetime import datetime
from typing import TYPE_CHECKING

from why502 import proxies
from why502.findings.results import LbStatsReport, StatsReport
from why502.proxies import Capability

if TYPE_CHECKING:
    from why502.evidence.stats.model import AccessStats


def access_report(st: AccessStats) -> StatsReport:
    """The engine's statistics as the typed result."""
    return StatsReport.from_dict(st.to_dict())


def lb_report(data: dict[str, object]) -> LbStatsReport:
    """``app.stats.lb.lb_stats``' document as the typed result."""
    return LbStatsReport.from_dict(data)


def proxied_report(files: list[str], proxy: str, config: str | None, log_format: str | None,
                   error_logs: list[str] | None, since: datetime | None,
                   until: datetime | None) -> StatsReport:
    """Stats of ``proxy``'s (haproxy or apache) access log ``files``; ``config`` its config."""
    from why502.app.stats import StatsOptions, run_stats
    from why502.app.stats.haproxy import (
        apache_as_nginx,
        backends_of,
        haproxy_as_nginx,
        haproxy_timeouts,
        runtime_servers,
    )
    from why502.proxies.apache.log import NGINX_FORMAT

    timeouts: dict[str, tuple[float, str]] | None = None
    notes: list[str] = []
    with ExitStack() as stack:
        # a proxy with one log (HAProxy) has its httplog lines there: read them as the access log
        if proxies.of(proxy).hooks.access_feed is not None:
            timeouts, notes = haproxy_timeouts(config)
            paths = stack.enter_context(haproxy_as_nginx(list(files), config))
            engine_format, source = "why502", "HAProxy httplog (configuration.txt 8.2.3)"
        else:
            paths, apache_fmt = stack.enter_context(apache_as_nginx(list(files), config, log_format))
            engine_format, source = NGINX_FORMAT, f"Apache LogFormat {apache_fmt}"
        opts = StatsOptions(paths=paths, log_format=engine_format, error_logs=error_logs,
                            no_error_log=not error_logs, since=since, until=until, timeouts=timeouts,
                            maker=proxies.of(proxy).vocabulary.stats_word, format_source=source)
        st, _ = run_stats(opts)
        report = access_report(st)
        report.proxy = proxy  # who "made by nginx" means: the proxy that wrote the log
        report.notes = [*report.notes, *notes]
        if proxies.of(proxy).can(Capability.HEALTH_CHECKED_SERVERS):  # its backends, runtime API
            backends = backends_of(config)
            for u in report.upstreams:
                if not u.get("locations"):
                    u["locations"] = backends.get(str(u.get("address")), [])
            servers, why = runtime_servers(config)
            if servers:
                report.servers_now = servers
            report.notes = [*report.notes, *why]
        # name the user's files, not the rewritten copy (also in the rows' file:line)
        report.files = list(files)
        report.log_format = source
        for row in report.requests_5xx:
            if row.get("file") == paths[0]:
                row["file"] = files[0] if len(files) == 1 else None
    return report
