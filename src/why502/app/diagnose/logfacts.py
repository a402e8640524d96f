"""The one provider of ``LogFacts``: every log of the run read once and joined.

The error logs (and PHP-FPM's, the app servers', a ``--kernel-log`` file) are classified first,
each file once whichever list names it (``logs.classify_into``); the access logs come last and
join the error logs' rows already classified instead of reading them again (``access``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from why502 import proxies
from why502.app.diagnose.access import access_stats, start_access
from why502.app.diagnose.fpm_access import read_fpm_access
from why502.app.diagnose.inputs import ConfigRead
from why502.app.diagnose.logs import FileKey, classify_into, kernel_log_events
from why502.app.diagnose.options import DiagnoseOptions
from why502.app.stats.errorlog import JoinRows
from why502.errors import InputError
from why502.evidence.aggregate import LogAggregator
from why502.evidence.aliases import with_aliases
from why502.evidence.client_view import client_failures, location_outcomes, with_client_view
from why502.evidence.model import LogEvent, LogFacts
from why502.evidence.stats import AccessStats
from why502.findings.model import Diagnostic
from why502.proxies.base import resolve
from why502.proxies.logfamilies import log_types
from why502.sources.scan import ENV_FREE


@dataclass
class LogRead:
    """The logs provider's result: the record and the access-log stats it was made from (the
    report's timeline reads them too)."""

    facts: LogFacts
    stats: AccessStats | None


def read_logs(options: DiagnoseOptions, conf: ConfigRead, since: datetime | None,
              diags: list[Diagnostic], inputs: dict[str, Any],
              found_app_logs: list[str] | None = None) -> LogRead:
    """Read and join every log of the run; what could not be read becomes a ``Diagnostic``.
    ``found_app_logs``: the app-server logs discovery found (``app.diagnose.appservers``): read
    like ``--app-log`` files, but as discovered inputs (a note when unreadable)."""
    kernel_events: list[LogEvent] = []
    if options.kernel_log:
        kernel_events = kernel_log_events(options.kernel_log, since, diags)
        inputs["kernel_log"] = options.kernel_log
    # a proxy whose own lines are a log family of parsers.lblogs (Caddy's JSON error lines)
    family = conf.proxy if conf.proxy in log_types() else None
    agg = LogAggregator(route=conf.view.route if conf.view is not None else None)
    read: dict[str, list[str]] = {}
    seen: set[FileKey] = set()  # one file is read once, whichever list names it
    join = JoinRows()  # the error logs' rows for the access-log join (on disk when many)
    # a proxy whose one log is its access log too (HAProxy): its rows are aggregated from the
    # error logs' one read (Hooks.access_feed), unless an access log is named
    feed_hook = proxies.of(conf.proxy).hooks.access_feed if conf.proxy is not None else None
    feed: Any = None
    # (an access log that is one of the error logs, as HAProxy's one log named as --access-log
    # becomes: the same file, read once)
    if feed_hook and set(conf.access_logs) <= set(conf.error_logs):
        try:
            feed = resolve(feed_hook)(conf.facts.main_file, since)  # type: ignore[operator]
        except InputError:  # its config unreadable: the hook's own read says so (access_stats)
            feed = None
    # the access logs are read on their own thread while the error logs are classified here
    # (neither pass needs the other until the join: access.start_access); the process
    # environment stays as it is meanwhile (sources.scan.ENV_FREE)
    started = None
    try:
        try:
            if feed is None:
                ENV_FREE.clear()
                started = start_access(conf.access_logs, conf.engine_config, since,
                                       explicit=bool(options.access_logs), proxy=conf.proxy)
            # pools' own access logs (their config's access.log, or an --app-log that is one)
            fpm_access, taken = read_fpm_access(conf.facts.fpm_pools, options.app_logs, since, diags)
            if fpm_access:
                inputs["fpm_access_logs"] = [a.file for a in fpm_access]
            for kind, paths in (("error_logs", conf.error_logs), ("fpm_logs", conf.fpm_logs),
                                ("app_logs", [p for p in options.app_logs if p not in taken])):
                read[kind] = classify_into(agg, paths, since, diags, explicit=options.named(kind),
                                           seen=seen, join=join if kind == "error_logs" else None,
                                           family=family if kind == "error_logs" else None,
                                           side=feed if feed is not None and kind == "error_logs" else None)
            read["app_logs"] += classify_into(agg, list(found_app_logs or []), since, diags,
                                              explicit=False, seen=seen)
        finally:
            ENV_FREE.set()
        inputs.update(read)
        diags.extend(Diagnostic("info", n) for n in agg.notes())  # what the bounds left out
        access, stats = access_stats(conf.access_logs, conf.engine_config, read["error_logs"], since, diags,
                                     inputs, explicit=bool(options.access_logs), join=join,
                                     proxy=conf.proxy, config=conf.facts.main_file,
                                     fed=feed.log if feed is not None else None, started=started)
    finally:
        if started is not None:
            started.read.close()
        join.close()
        if feed is not None:
            feed.close()
    inputs["log_lines_recognised"] = agg.lines
    facts = LogFacts(
        symptoms=tuple(with_client_view(with_aliases(agg.groups(), conf.aliases), stats)),
        events=tuple(sorted(agg.events() + kernel_events, key=lambda e: e.time or datetime.min)),
        per_minute=agg.per_minute, access=access,
        locations_5xx=location_outcomes(stats), client_5xx=client_failures(stats),
        access_has_upstream=stats is None or "upstream_addr" in stats.log_format,
        fpm_access=tuple(fpm_access))
    return LogRead(facts, stats)
