"""`why502 stats FILE...`: access-log analytics -- 5xx timeline, per-upstream truth, causes.

Only the standard library is imported at module level (``why502 --help`` stays fast); polars,
rich and the config parser are imported inside ``run``.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from why502.cli.nothingread import nothing_read
from why502.cli.output import add_redact_argument
from why502.cli.proxyargs import (
    add_default_config_argument,
    add_proxy_arguments,
    config_path,
    default_proxy,
    in_words,
    proxy_of_file,
    with_hook,
)
from why502.cli.vocab import add_format_argument, add_output_argument
from why502.errors import EXIT_FINDINGS, EXIT_HEALTHY, UsageError
from why502.timeargs import SecondsArg, parse_time_arg

if TYPE_CHECKING:
    from why502.findings.results import LbStatsReport, StatsReport

DESCRIPTION = in_words("""\
Access-log analytics for 502/503/504: status breakdown, 5xx per minute with incident windows,
per-upstream attempts and timings (p50/p95/p99/max) next to the configured timeout, who made
each 5xx ({own.title} or the backend -- never judged by $upstream_status alone), requests rescued by
proxy_next_upstream, and each 5xx joined to its error-log line.

examples:
  why502 stats {own_logs}/access.log*                       # rotated set, .gz read in place
  why502 stats {own.config_flag} {own.default_config}               # format, logs and timeouts from config
  why502 stats access.log --log-format combined --error-log error.log
  why502 stats access.log --log-format '$remote_addr [$time_local] "$request" $status ...'
  why502 stats access.log --since 2h --format json
  why502 stats access.log --format csv > timeline.csv
""")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # a proxy with one log (Hooks.access_feed: HAProxy's) has its access log in it
    one_log = "; ".join(f"{p.vocabulary.title}: its log's request lines are the access log"
                        for p in with_hook("access_feed"))
    add_proxy_arguments(parser, f"read ({one_log})")
    parser.add_argument(
        "files", nargs="*", metavar="FILE", help="access log(s): plain, .gz, a rotated set, or - for stdin"
    )
    add_default_config_argument(
        parser,
        "alias of --config for {title}: {file} or an '{config_dump}' dump (- for stdin): "
        "log_format, access_log, error_log and timeouts come from it",
    )
    from why502.parsers.log_format import PREDEFINED  # the names, a proxy folder's too

    parser.add_argument(
        "--log-format",
        metavar="FORMAT",
        help="a log_format string ('escape=json ...' allowed) or a name: "
        f"{', '.join(PREDEFINED)}, or one defined in " + default_proxy().config_flag,
    )
    error_logs = parser.add_mutually_exclusive_group()
    error_logs.add_argument(
        "--error-log",
        action="append",
        metavar="PATH",
        help=in_words("{own.title} error log to join with each 5xx (repeatable)"),
    )
    error_logs.add_argument("--no-error-log", action="store_true", help="do not read any error log")
    parser.add_argument(
        "--since",
        metavar="TIME",
        help="ISO time (the log's local time, or with Z / +hh:mm) or relative: 30m, 2h, 1d, 1w",
    )
    parser.add_argument("--until", metavar="TIME", help="ISO time or relative, like --since")
    add_format_argument(parser, "stats", ("text", "json", "csv"))
    add_output_argument(parser, "the statistics")
    parser.add_argument(
        "--log-type",
        metavar="TYPE",
        help=in_words("force the log type: {own_name}, {log_types} (default: detected from the first lines)"),
    )
    parser.add_argument(
        "--lb-timeout",
        type=SecondsArg("--lb-timeout"),
        metavar="SECONDS",
        help=f"the load balancer's timeout to compare backend times with ({SecondsArg.HELP}; "
        + in_words("default: ALB/ELB 60, Cloudflare 120, {lb_timeouts})"),
    )
    parser.add_argument("--top", type=int, default=10, metavar="N", help="rows per breakdown table (10)")
    add_redact_argument(parser)
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on big inputs")


def run(args: argparse.Namespace) -> int:
    from why502.app.stats import StatsOptions, run_stats

    since = None if args.since is None else parse_time_arg(args.since, "--since")
    until = None if args.until is None else parse_time_arg(args.until, "--until")
    if since and until and since > until:
        raise UsageError("--since is after --until")
    if args.top < 1:
        raise UsageError("--top must be at least 1")
    if args.default_proxy_config == "-" and (not args.files or "-" in args.files):
        raise UsageError(f"stdin can carry the {default_proxy().config_dump} dump or an access log, not both")
    config = config_path(args)
    from why502.app.stats.sniff import check_log_type, sniff_access_logs, sniff_log_type
    from why502.proxies import DEFAULT, DEFAULT_FLAG, PROXIES
    from why502.proxies.logfamilies import log_types

    # every way the config arrives goes through the registry's one check (its alias too)
    proxy = proxy_of_file(config, args.proxy, "--config" if args.config else DEFAULT_FLAG)
    if proxy != DEFAULT and not PROXIES[proxy].hooks.stats:  # no stats plug-in (Envoy, Caddy, Traefik, Kong)
        if args.files and "-" not in args.files:
            # its access log is a log family, read as the one named or sniffed, its config not
            # needed (was: an internal error)
            edge_type = check_log_type(args.log_type) or sniff_log_type(list(args.files))
            if edge_type not in (None, DEFAULT):
                return _run_lb(args, edge_type, since, until)
        families = log_types()
        how = (f"--log-type {proxy}" if proxy in families else
               f"no --proxy/--config (its access log is read as {DEFAULT}'s format)")
        raise UsageError(f"stats reads no {PROXIES[proxy].vocabulary.title} access log through its "
                         f"config: give the log files with {how}")
    if proxy != DEFAULT:  # its log read through the default proxy's columns (app.stats.report)
        return _rewritten(args, proxy, config, since, until)

    log_type = check_log_type(args.log_type)
    inputs = _inputs(args)
    if log_type is None and inputs and not config and not args.log_format:
        log_type = sniff_log_type(inputs)
    if log_type not in (None, DEFAULT):  # the default proxy's access log is the engine's own
        return _run_lb(args, log_type, since, until)
    if log_type is None and args.files and not config and not args.log_format and args.proxy is None:
        # logs alone in another proxy's own access format (HAProxy's httplog), as diagnose reads
        # them: the default's reader matched none of its lines and said to give a format
        own = sniff_access_logs(list(args.files))
        if own is not None:
            return _rewritten(args, own, None, since, until)
    opts = StatsOptions(
        paths=list(args.files),
        log_format=args.log_format,
        config_file=config,
        error_logs=args.error_log,
        no_error_log=args.no_error_log,
        since=since,
        until=until,
    )
    show_progress = (
        args.format == "text"
        and not args.no_progress
        and not args.output
        and sys.stderr.isatty()
        and _total_size(opts.paths) > (64 << 20)
    )
    if show_progress:
        from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

        with Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            DownloadColumn(),
            TimeRemainingColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task("reading", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            opts.progress = progress
            st, _ = run_stats(opts)
    else:
        st, _ = run_stats(opts)
    from why502.app.stats.report import access_report

    return _print(access_report(st), args)


def _rewritten(args: argparse.Namespace, proxy: str, config: str | None, since: object,
               until: object) -> int:
    """HAProxy's httplog lines or Apache's access log (``app.stats.report.proxied_report``)."""
    from datetime import datetime

    from why502.app.stats.report import proxied_report

    if not args.files or "-" in args.files:
        from why502 import proxies

        raise UsageError(f"give {proxies.of(proxy).vocabulary.title}'s log file(s)")
    report = proxied_report(list(args.files), proxy, config, args.log_format, args.error_log,
                            since if isinstance(since, datetime) else None,
                            until if isinstance(until, datetime) else None)
    return _print(report, args)


def _print(report: StatsReport | LbStatsReport, args: argparse.Namespace) -> int:
    """Render the result in ``--format``; exit 1 when clients got a 5xx (the documented "findings")."""
    from why502.findings.results import StatsReport
    from why502.reporters import RenderOptions, write

    if args.redact and isinstance(report, StatsReport):
        # the 5xx requests quote the logged URI: ?access_token=, session IDs
        from why502.findings.redact import notice, redact_data

        data, hidden = redact_data(report.to_dict())
        report = StatsReport.from_dict(data)
        if hidden:
            report.redacted = hidden
            report.notes = [*report.notes, notice(hidden)]
    # text at the run's width (cli.termwidth), coloured on a terminal
    write(args.format, report, sys.stdout, RenderOptions(color=sys.stdout.isatty(), top=args.top))
    if report.read_nothing:
        noted = (report.files or ["-"]) if args.format != "text" else []  # (the text's headline says it)
        return nothing_read("stats", "nothing to count", noted)
    return EXIT_FINDINGS if report.fivexx else EXIT_HEALTHY


def output_inputs(args: argparse.Namespace) -> list[str]:
    """What ``-o`` must never replace: the logs and the config read (``cli.main._run``)."""
    return [*args.files, *(args.error_log or []), args.config or "", args.default_proxy_config or ""]


def _total_size(paths: list[str]) -> int:
    import contextlib
    import os

    total = 0
    for p in paths:
        with contextlib.suppress(OSError):
            total += os.path.getsize(p)
    return total


def _inputs(args: argparse.Namespace) -> list[str]:
    """The logs named, or stdin (``-``) when none is and it is piped (no terminal), else none."""
    return list(args.files) or (["-"] if not sys.stdin.isatty() else [])


def _run_lb(args: argparse.Namespace, log_type: str, since: object, until: object) -> int:
    """``stats`` on a cloud load balancer / proxy log (ALB, Cloudflare, Envoy, Caddy, Traefik)."""
    import datetime as dt

    from why502.app.stats.lb import lb_stats
    from why502.app.stats.report import lb_report

    files = _inputs(args)
    if not files:
        raise UsageError(f"--log-type {log_type} reads the files, directories or - (stdin) named after it")
    if args.lb_timeout is not None and args.lb_timeout <= 0:
        raise UsageError("--lb-timeout must be positive")
    data = lb_stats(
        files, log_type,
        since=since if isinstance(since, dt.datetime) else None,
        until=until if isinstance(until, dt.datetime) else None,
        timeout_s=args.lb_timeout, top=args.top,
    )
    return _print(lb_report(data), args)
