"""`why502 watch`: follow nginx's logs live, export Prometheus metrics, open incidents and
diagnose them on the spot, alert Alertmanager with the root cause.

Only the standard library is imported here at module level (``why502 --help`` stays fast).
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from why502.cli.output import add_redact_argument
from why502.cli.proxyargs import add_default_config_argument, add_proxy_arguments, in_words
from why502.cli.vocab import add_format_argument
from why502.errors import EXIT_HEALTHY, InputError, UsageError
from why502.timeargs import SecondsArg

if TYPE_CHECKING:
    from why502.app.watch.incidents import Rules

DESCRIPTION = in_words("""\
Follow the proxy's logs live (across logrotate's rename, copytruncate, delete and {own.title} -s
reopen, or a stream on stdin), export what they say on /metrics for Prometheus, open an
incident when 5xx start, diagnose it on the spot (`why502 diagnose` itself, on the lines of the
incident's window, kept in memory, with live probes) and send it to Alertmanager with the root
cause and the fix.  The inputs are diagnose's: {watched} (--config), the access logs of load
balancers and edge proxies ({edges}, ALB, ...: --log-type, else detected).

examples:
  why502 watch                                  # logs found in the {own.title} config, live view
  kubectl logs -f {own.k8s_logs} | why502 watch -   # a stream on stdin
  why502 watch --config {syslogged.default_config} --error-log {syslogged.default_error_log}
  why502 watch --access-log /var/log/{edge}/access.log --log-type {edge}
  why502 watch --format jsonl --alertmanager http://127.0.0.1:9093 --reports /var/lib/why502
  why502 watch --error-log error.log --access-log access.log --listen 127.0.0.1:9502
  why502 watch --probe-interval 10              # health-check every target of the config
  why502 watch --reports /var/lib/why502        # then open http://127.0.0.1:9502/ (live page)

output: a live view on a terminal; otherwise one line per event (incident-opened,
incident-updated, incident-resolved), or JSON objects with --format jsonl.  Problems reading a
log go to stderr and to why502_log_follow_errors_total; watch keeps running.

exit: 0 when stopped (SIGTERM, SIGINT, --duration, --max-events); 2 usage error; 3 a named
input unreadable at start.
""")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``why502 watch``."""
    parser.add_argument("logs", nargs="*", metavar="LOG",
                        help="logs to follow, each line taken for what it is (an error-log line, "
                             "a request, a load balancer's line); - = stdin "
                             "(kubectl logs -f ... | why502 watch -)")
    add_proxy_arguments(parser, "watch")
    add_default_config_argument(parser, "{title} config or saved '{config_dump}' dump; default: "
                                        "{config_dump}, else {default_config}")
    parser.add_argument("--log-type", metavar="TYPE",
                        help=in_words("the access logs are a load balancer's / proxy's: {log_types} "
                                      "(default: detected from their first lines)"))
    parser.add_argument("--error-log", action="append", default=[], metavar="FILE",
                        help="error log to follow (repeatable); default: the config's error_log")
    parser.add_argument("--access-log", action="append", default=[], metavar="FILE",
                        help="access log to follow (repeatable); default: the config's access_log")
    parser.add_argument("--fpm-log", action="append", default=[], metavar="FILE",
                        help="PHP-FPM log to follow too (repeatable)")
    parser.add_argument("--app-log", action="append", default=[], metavar="FILE",
                        help="an app server's own log to follow too (gunicorn, uWSGI, Node, "
                             "Puma; repeatable): given to an incident's diagnosis as diagnose's "
                             "--app-log")
    parser.add_argument("--kernel-log", metavar="FILE",
                        help="the kernel's log as a file (/var/log/kern.log, a saved dmesg) to "
                             "follow too: an incident's diagnosis reads its window as diagnose's "
                             "--kernel-log instead of this machine's ring buffer")
    parser.add_argument("--discover", action="store_true",
                        help=in_words("with logs named, also follow what this host's {own.title} config "
                                      "names ({own.config_dump}, else {own.default_config}); default: "
                                      "only the logs named are followed, the config is read only "
                                      "when no log is named"))
    parser.add_argument("--from-start", action="store_true",
                        help="read what the logs already hold first (default: start at the end)")
    parser.add_argument("--listen", default="127.0.0.1:9502", metavar="HOST:PORT",
                        help="serve Prometheus metrics on http://HOST:PORT/metrics (default "
                             "127.0.0.1:9502; port 0 = any free port; the word off disables it) "
                             "and a live page on http://HOST:PORT/")
    parser.add_argument("--no-page", action="store_true",
                        help="serve /metrics only, not the live page (/, /api/state, /reports/)")
    add_format_argument(parser, "watch", ("text", "jsonl"),
                        notes="text is a live view on a terminal, else one line per event; no -o: "
                              "watch streams until stopped (redirect it, or --reports DIR)")
    parser.add_argument("--rules", metavar="FILE",
                        help="incident rules from a TOML file (keys window, ratio, min_requests, "
                             "min_failures, resolve_after); flags given on the command line win")
    parser.add_argument("--window", type=SecondsArg("--window"), metavar="SECONDS",
                        help=f"sliding window of the incident rules ({SecondsArg.HELP}; default 60)")
    parser.add_argument("--ratio", type=float,
                        help="5xx ratio in the window that opens an incident (default 0.05)")
    parser.add_argument("--min-requests", type=int,
                        help="requests in the window before the ratio counts (default 10)")
    parser.add_argument("--min-failures", type=int,
                        help="failed upstream attempts in the window that open an incident when "
                             "no access log is followed, and answers nginx relayed as HTTP/0.9 "
                             "(status 009) that open one in any case (default 5)")
    parser.add_argument("--resolve-after", type=SecondsArg("--resolve-after"), metavar="SECONDS",
                        help=f"quiet time before an incident is resolved ({SecondsArg.HELP}; default 60)")
    parser.add_argument("--reports", metavar="DIR",
                        help="write each incident's JSON report (the diagnose schema) here when "
                             "it closes; `why502 render` turns it into HTML")
    parser.add_argument("--alertmanager", metavar="URL",
                        help="send incidents to Alertmanager's v2 API (URL/api/v2/alerts)")
    parser.add_argument("--probe-interval", type=SecondsArg("--probe-interval"), default=0.0,
                        metavar="SECONDS",
                        help=f"health-check every target of the config this often ({SecondsArg.HELP}; "
                             "default off)")
    parser.add_argument("--probe-path", default="/", metavar="PATH",
                        help="HTTP path the health checks GET (default /; TCP, unix-socket and "
                             "FastCGI targets get their own probe)")
    parser.add_argument("--state-dir", metavar="DIR",
                        help="why502 fix's state directory: say which mitigations are in force and when "
                             "their servers answer again (default /var/lib/why502/fix as root, else "
                             "~/.local/state/why502/fix)")
    parser.add_argument("--revert-after", type=SecondsArg("--revert-after"), default=300.0,
                        metavar="SECONDS",
                        help="a taken-out server answering this long is said healthy (default 300; "
                             f"{SecondsArg.HELP})")
    parser.add_argument("--auto-revert", action="store_true",
                        help="then revert its mitigation (why502 mitigate --revert), not only say so")
    parser.add_argument("--offline", action="store_true",
                        help="the incident diagnosis makes no live checks (no probes, no /proc)")
    parser.add_argument("--duration", type=SecondsArg("--duration"), metavar="SECONDS",
                        help=f"stop after this long ({SecondsArg.HELP})")
    parser.add_argument("--max-events", type=int, metavar="N",
                        help="stop after N incident events")
    parser.add_argument("--print-rules", action="store_true",
                        help="print Prometheus alerting rules for these metrics and exit")
    parser.add_argument("--write-mixin", metavar="DIR",
                        help="write the monitoring mixin (alerting rules, recording rules, Grafana "
                             "dashboard) into DIR and exit")
    add_redact_argument(parser)


def _listen(value: str) -> tuple[str, int] | None:
    if value == "off":
        return None
    host, sep, port = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise UsageError(f"--listen {value!r}: expected HOST:PORT (e.g. 127.0.0.1:9502) or off")
    return host, int(port)


def run(args: argparse.Namespace) -> int:
    from why502.app.watch.engine import Watch, WatchOptions
    from why502.findings.model import Diagnostic
    from why502.findings.results import WatchEvent
    from why502.reporters import write
    from why502.textutil import strip_terminal_escapes

    if args.print_rules or args.write_mixin:
        from why502.app.watch import mixin

        if args.write_mixin:
            try:
                written = mixin.write_mixin(Path(args.write_mixin))
            except OSError as err:
                raise InputError(f"--write-mixin {args.write_mixin}: {err.strerror or err}") from None
            print("\n".join(str(p) for p in written))
        else:
            sys.stdout.write(mixin.render_yaml(mixin.alert_groups(), mixin.ALERTS_HEADER))
        return EXIT_HEALTHY
    listen = _listen(args.listen)
    if not re.fullmatch(r"/[\x21-\x7e]*", args.probe_path):
        raise UsageError(f"--probe-path {args.probe_path!r}: a path starting with / (no spaces)")
    rules = make_rules(args)
    options = WatchOptions(
        default_proxy_config=args.default_proxy_config, config=args.config, proxy=args.proxy,
        log_type=args.log_type,
        logs=list(args.logs), error_logs=list(args.error_log),
        access_logs=list(args.access_log), fpm_logs=list(args.fpm_log),
        app_logs=list(args.app_log), kernel_log=args.kernel_log,
        from_start=args.from_start, rules=rules, reports_dir=args.reports,
        alertmanager=args.alertmanager, probe_interval=args.probe_interval,
        probe_path=args.probe_path,
        offline=args.offline, duration=args.duration, max_events=args.max_events,
        state_dir=_state_dir(args.state_dir), revert_after=args.revert_after, auto_revert=args.auto_revert,
        redact=args.redact, discover=args.discover)
    if args.revert_after <= 0:
        raise UsageError("--revert-after must be > 0")
    live = args.format == "text" and sys.stdout.isatty()

    def emit(event: dict[str, Any]) -> None:
        if not live:  # one JSON object or one line of text per event (reporters.jsonl, .text.watch)
            write(args.format, WatchEvent.from_dict(event), sys.stdout)
            sys.stdout.flush()

    def note(d: Diagnostic) -> None:
        print(f"why502: {strip_terminal_escapes(d.message)}", file=sys.stderr, flush=True)

    watch = Watch(options, emit, note)
    if args.rules:
        watch.reload_rules = lambda: make_rules(args)  # SIGHUP: the --rules file again
    page = None
    if listen is not None:
        routes = {}
        if not args.no_page:
            from why502.app.watch.livepage import LivePage

            page = LivePage(watch)
            routes = page.routes()
        try:
            server = watch.metrics.serve(*listen, routes=routes)
        except OSError as err:
            raise UsageError(f"--listen {args.listen}: {err.strerror or err}") from None
        where = f"[{listen[0]}]" if ":" in listen[0] else listen[0]
        note(Diagnostic("info", f"metrics on http://{where}:{server.server_port}/metrics"))
        if page is not None:
            page.start()
            note(Diagnostic("info", f"live page on http://{where}:{server.server_port}/"))
    signal.signal(signal.SIGTERM, lambda *_: watch.stop())
    if hasattr(signal, "SIGHUP"):
        signal.signal(signal.SIGHUP, lambda *_: watch.request_reload())
    from why502.app.watch.services import start_services

    stop_services = start_services(watch, note)
    try:
        if live:
            from why502.app.watch.view import run_live

            run_live(watch)
        else:
            watch.run()
    finally:
        stop_services()
        if page is not None:
            page.stop()
    return EXIT_HEALTHY


def _state_dir(named: str | None) -> str:
    from why502.app.fix.state import default_state_dir

    return str((Path(named) if named else default_state_dir()).absolute())


def make_rules(args: argparse.Namespace) -> Rules:
    """The incident rules: the defaults, then ``--rules FILE``, then the flags (at start and on
    SIGHUP, so an edited rules file takes effect without a restart)."""
    from why502.app.watch.incidents import Rules

    values = dict(DEFAULTS)
    if args.rules:
        values.update(read_rules(args.rules))
    values.update({k: float(getattr(args, k)) for k in RULE_KEYS if getattr(args, k) is not None})
    for name in ("window", "resolve_after"):
        if values[name] <= 0:
            raise UsageError(f"{name.replace('_', '-')} must be > 0")
    if not 0 < values["ratio"] <= 1:
        raise UsageError("ratio must be in (0, 1]")
    return Rules(window=float(values["window"]), ratio=float(values["ratio"]),
                 min_requests=max(1, int(values["min_requests"])),
                 min_failures=max(1, int(values["min_failures"])),
                 resolve_after=float(values["resolve_after"]))


RULE_KEYS = ("window", "ratio", "min_requests", "min_failures", "resolve_after")
DEFAULTS: dict[str, float] = {"window": 60.0, "ratio": 0.05, "min_requests": 10, "min_failures": 5,
                              "resolve_after": 60.0}


def read_rules(path: str) -> dict[str, float]:
    """``--rules FILE``: the incident rules as TOML; unknown keys and bad values are one-line
    usage errors, an unreadable file exit 3."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - Python 3.10
        import tomli as tomllib

    from why502.errors import InputError
    from why502.sources.opening import read_small

    try:
        data = tomllib.loads(read_small(path, 1 << 20))
    except OSError as err:
        raise InputError(f"cannot read {path} (--rules): {err.strerror or err}") from None
    except tomllib.TOMLDecodeError as err:
        raise UsageError(f"{path}: not valid TOML: {err}") from None
    data = data.get("watch", data)
    unknown = sorted(set(data) - set(RULE_KEYS))
    if unknown:
        raise UsageError(f"{path}: unknown rule key(s) {', '.join(unknown)} "
                         f"(known: {', '.join(RULE_KEYS)})")
    out: dict[str, float] = {}
    for key, value in data.items():
        if key in ("window", "resolve_after") and isinstance(value, str):
            # a duration as the flags take it: window = "2m" (timeargs.parse_duration)
            from why502.timeargs import parse_duration

            out[key] = parse_duration(value, f"{path}: {key}")
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UsageError(f"{path}: {key} must be a number")
        out[key] = float(value)
    return out
