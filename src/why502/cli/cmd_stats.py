"""`why502 stats FILE...`: access-log analytics -- 5xx timeline, per-upstream truth, causes.

Only the standard library is imported at module level (``why502 --help`` stays fast); polars,
rich and the config parser are imported inside ``run``.
"""

from __future__ import annotations

import argparse
import sys

from why502.errors import EXIT_FINDINGS, EXIT_HEALTHY, UsageError
from why502.timeargs import parse_time_arg

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
    parser.add_argument("--top", type=int, default=10, metavar="N", help="rows per breakdown table (10)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on big inputs")


def run(args: argparse.Namespace) -> int:
    from why502.app.stats import StatsOptions, run_stats
    from why502.reporters.stats_json import stats_to_json, timeline_csv

    since = None if args.since is None else parse_time_arg(args.since, "--since")
    until = None if args.until is None else parse_time_arg(args.until, "--until")
    if since and until and since > until:
        raise UsageError("--since is after --until")
    if args.top < 1:
        raise UsageError("--top must be at least 1")
    if args.nginx_conf == "-" and (not args.files or "-" in args.files):
        raise UsageError("stdin can carry the nginx -T dump or an access log, not both")
    opts = StatsOptions(
        paths=list(args.files),
        log_format=args.log_format,
        nginx_conf=args.nginx_conf,
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
    data = st.to_dict()
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
    return EXIT_FINDINGS if st.total_5xx else EXIT_HEALTHY


def _total_size(paths: list[str]) -> int:
    import contextlib
    import os

    total = 0
    for p in paths:
        with contextlib.suppress(OSError):
            total += os.path.getsize(p)
    return total
