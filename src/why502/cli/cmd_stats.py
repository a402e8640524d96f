"""`why502 stats FILE...`: access-log analytics -- 5xx timeline, per-upstream truth, causes.

Only the standard library is imported at module level (``why502 --help`` stays fast); polars,
rich and the config parser are imported inside ``run``.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from why502.cli.output import add_redact_argument
from why502.cli.proxyargs import add_proxy_arguments, config_path, proxy_of_file
from why502.errors import EXIT_FINDINGS, EXIT_HEALTHY, UsageError
from why502.timeargs import SecondsArg, parse_time_arg

DESCRIPTION = """\
Access-log analytics for 502/503/504: status breakdown, 5xx per minute with incident windows,
per-upstream attempts and timings (p50/p95/p99/max) next to the configured timeout, who made
each 5xx (nginx or the backend -- never judged by $upstream_status alone), requests rescued by
proxy_next_upstream, and each 5xx joined to its error-log line.

examples:
  why502 stats /var/log/nginx/access.log*                       # rotated set, .gz read in place
  why502 stats --nginx-conf /etc/nginx/nginx.conf               # format, logs and timeouts from config
  why502 stats access.log --log-format combined --error-log error.log
  why502 stats access.log --log-format '$remote_addr [$time_local] "$request" $status ...'
  why502 stats access.log --since 2h --format json
  why502 stats access.log --format csv > timeline.csv
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_proxy_arguments(parser, "read (HAProxy: its log's httplog lines are the access log)")
    parser.add_argument(
        "files", nargs="*", metavar="FILE", help="access log(s): plain, .gz, a rotated set, or - for stdin"
    )
    parser.add_argument(
        "--nginx-conf",
        metavar="PATH",
        help="nginx.conf or an 'nginx -T' dump (- for stdin): log_format, access_log, "
        "error_log and timeouts come from it",
    )
    parser.add_argument(
        "--log-format",
        metavar="FORMAT",
        help="a log_format string ('escape=json ...' allowed) or a name: combined, main, "
        "why502, upstream_time, upstream_kv, json, or one defined in --nginx-conf",
    )
    error_logs = parser.add_mutually_exclusive_group()
    error_logs.add_argument(
        "--error-log",
        action="append",
        metavar="PATH",
        help="nginx error log to join with each 5xx (repeatable)",
    )
    error_logs.add_argument("--no-error-log", action="store_true", help="do not read any error log")
    parser.add_argument(
        "--since",
        metavar="TIME",
        help="ISO time (the log's local time, or with Z / +hh:mm) or relative: 30m, 2h, 1d, 1w",
    )
    parser.add_argument("--until", metavar="TIME", help="ISO time or relative, like --since")
    parser.add_argument(
        "--format",
        choices=("text", "json", "csv"),
        default="text",
        help="text (default), json, or csv (the per-minute timeline)",
    )
    parser.add_argument(
        "--log-type",
        metavar="TYPE",
        help="force the log type: nginx, alb, elb, cloudflare, envoy, caddy, traefik "
        "(default: detected from the first lines)",
    )
    parser.add_argument(
        "--lb-timeout",
        type=SecondsArg("--lb-timeout"),
        metavar="SECONDS",
        help=f"the load balancer's timeout to compare backend times with ({SecondsArg.HELP}; "
        "default: ALB/ELB 60, Cloudflare 120, Envoy 15)",
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
    if args.nginx_conf == "-" and (not args.files or "-" in args.files):
        raise UsageError("stdin can carry the nginx -T dump or an access log, not both")
    config = config_path(args)
    proxy = args.proxy or (proxy_of_file(config) if args.config else "nginx")
    if proxy in ("haproxy", "apache"):
        return _rewritten(args, proxy, config, since, until)
    from why502.app.stats.lb import check_log_type, sniff_log_type

    log_type = check_log_type(args.log_type)
    if log_type is None and args.files and not config and not args.log_format:
        log_type = sniff_log_type(list(args.files))
    if log_type not in (None, "nginx"):
        return _run_lb(args, log_type, since, until)
    opts = StatsOptions(
        paths=list(args.files),
        log_format=args.log_format,
        nginx_conf=config,
        error_logs=args.error_log,
        no_error_log=args.no_error_log,
        since=since,
        until=until,
    )
    show_progress = (
        args.format == "text"
        and not args.no_progress
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
    return _print(st.to_dict(), args)


def _rewritten(args: argparse.Namespace, proxy: str, config: str | None, since: object,
               until: object) -> int:
    """HAProxy's httplog lines or Apache's access log, rewritten for the engine
    (``app.stats.haproxy``)."""
    from contextlib import ExitStack
    from datetime import datetime

    from why502.app.stats import StatsOptions, run_stats
    from why502.app.stats.haproxy import (
        apache_as_nginx,
        backends_of,
        haproxy_as_nginx,
        haproxy_timeouts,
        runtime_servers,
    )
    from why502.proxies.apache.log import NGINX_FORMAT

    if not args.files or "-" in args.files:
        raise UsageError(f"give {'HAProxy' if proxy == 'haproxy' else 'Apache'}'s log file(s)")
    timeouts: dict[str, tuple[float, str]] | None = None
    notes: list[str] = []
    with ExitStack() as stack:
        if proxy == "haproxy":
            timeouts, notes = haproxy_timeouts(config)
            paths = stack.enter_context(haproxy_as_nginx(list(args.files), config))
            log_format, source = "why502", "HAProxy httplog (configuration.txt 8.2.3)"
        else:
            paths, apache_fmt = stack.enter_context(
                apache_as_nginx(list(args.files), config, args.log_format))
            log_format, source = NGINX_FORMAT, f"Apache LogFormat {apache_fmt}"
        opts = StatsOptions(paths=paths, log_format=log_format,
                            error_logs=args.error_log, no_error_log=not args.error_log,
                            since=since if isinstance(since, datetime) else None,
                            until=until if isinstance(until, datetime) else None, timeouts=timeouts)
        st, _ = run_stats(opts)
        data = st.to_dict()
        data["proxy"] = proxy  # who "made by nginx" means: the proxy that wrote the log
        word = "haproxy" if proxy == "haproxy" else "Apache"
        data["notes"] = [f"log format: {source}" if str(n).startswith("log format:") else
                         str(n).replace("whether nginx or", f"whether {word} or")
                         .replace("(add $upstream_header_time or give --error-log)",
                                  "(give its error log with --error-log)")
                         for n in data.get("notes", [])] + notes
        if proxy == "haproxy":
            backends = backends_of(config)
            for u in data.get("upstreams") or []:
                if isinstance(u, dict) and not u.get("locations"):
                    u["locations"] = backends.get(str(u.get("address")), [])
            servers, why = runtime_servers(config)
            if servers:
                data["servers_now"] = servers
            data["notes"] = [*data["notes"], *why]
        # name the user's files, not the rewritten copy (also in the rows' file:line)
        data["files"] = list(args.files)
        data["log_format"] = source
        for row in data.get("requests_5xx") or []:
            if isinstance(row, dict) and row.get("file") == paths[0]:
                row["file"] = args.files[0] if len(args.files) == 1 else None
    return _print(data, args)


def _print(data: dict[str, Any], args: argparse.Namespace) -> int:
    from why502.reporters.stats_json import stats_to_json, timeline_csv

    if args.redact:  # the 5xx requests quote the logged URI: ?access_token=, session IDs
        from why502.findings.redact import notice, redact_data

        data, hidden = redact_data(data)
        if hidden:
            data = {**data, "redacted": hidden, "notes": [*data.get("notes", []), notice(hidden)]}

    if args.format == "json":
        sys.stdout.write(stats_to_json(data) + "\n")
    elif args.format == "csv":
        sys.stdout.write(timeline_csv(data))
    else:
        from rich.console import Console

        from why502.reporters.stats_text import render_stats_text

        console = Console() if sys.stdout.isatty() else Console(width=150)
        render_stats_text(data, console, top=args.top)
    # the documented exit codes: 1 = findings, and a 5xx answered to a client is one
    return EXIT_FINDINGS if data.get("total_5xx") else EXIT_HEALTHY


def _total_size(paths: list[str]) -> int:
    import contextlib
    import os

    total = 0
    for p in paths:
        with contextlib.suppress(OSError):
            total += os.path.getsize(p)
    return total


def _run_lb(args: argparse.Namespace, log_type: str, since: object, until: object) -> int:
    """``stats`` on a cloud load balancer / proxy log (ALB, Cloudflare, Envoy, Caddy, Traefik)."""
    import datetime as dt

    from why502.app.stats.lb import lb_stats
    from why502.reporters.stats_json import stats_to_json

    if not args.files or "-" in args.files:
        raise UsageError(f"--log-type {log_type} reads files (or a directory), not stdin")
    if args.lb_timeout is not None and args.lb_timeout <= 0:
        raise UsageError("--lb-timeout must be positive")
    data = lb_stats(
        list(args.files), log_type,
        since=since if isinstance(since, dt.datetime) else None,
        until=until if isinstance(until, dt.datetime) else None,
        timeout_s=args.lb_timeout, top=args.top,
    )
    if args.format == "json":
        sys.stdout.write(stats_to_json(data) + "\n")
    elif args.format == "csv":
        sys.stdout.write("minute,requests,5xx_lb,5xx_backend\n")
        timeline = data["timeline"]
        assert isinstance(timeline, list)
        for r in timeline:
            sys.stdout.write(f"{r['minute']},{r['total']},{r['5xx_lb']},{r['5xx_backend']}\n")
    else:
        from rich.console import Console

        from why502.reporters.lb_stats_text import render_lb_stats_text

        console = Console() if sys.stdout.isatty() else Console(width=150)
        render_lb_stats_text(data, console, top=args.top)
    # the documented exit codes: 1 = findings, and a 5xx answered to a client is one
    made = data.get("made_by")
    fives = sum(v for v in made.values() if isinstance(v, int)) if isinstance(made, dict) else 0
    return EXIT_FINDINGS if fives else EXIT_HEALTHY
