"""`why502 diagnose`: the root cause of 502/503/504 on this host, its evidence, and the fix.

Only the standard library is imported here at module level (``why502 --help`` stays fast);
polars, rich and crossplane are imported inside ``run``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from why502.cli.output import add_redact_argument, for_output, refuse_input, write_output
from why502.cli.proxyargs import (
    add_default_config_argument,
    add_proxy_arguments,
    aliases,
    config_path,
    in_words,
    with_vocabulary,
)
from why502.cli.vocab import add_format_argument, add_output_argument
from why502.errors import EXIT_FINDINGS, EXIT_HEALTHY, InputError, UsageError

if TYPE_CHECKING:
    from why502.findings.model import Report

DESCRIPTION = in_words("""\
Find why this reverse proxy returns 502/503/504: read {own.title}'s config ({own.config_dump}) and the logs it
names, PHP-FPM's pools and log, the kernel's OOM kills and systemd's restarts, look at what
listens where and probe every target of the config; then print the root cause first, with the
evidence that proves it and the fix (commands and a diff against the real file).

examples:
  why502 diagnose                         # this host, everything discovered
  why502 diagnose --since 30m             # only the last 30 minutes of logs
  why502 diagnose --offline {own.config_flag} {own.title}-T.txt --error-log error.log
  why502 diagnose --format json -o report.json
  why502 diagnose --demo                  # a recorded real incident, no {own.title} needed

logs only: when only logs are named (no --config, --proxy or --discover), only they are read:
nothing of this host's configuration (they may come from another machine).

inputs: a file named with a flag ({own.config_flag}, --error-log, --access-log, --fpm-conf,
--fpm-log, --kernel-log, --app-log) that is missing or unreadable is an error (exit 3); what
why502 finds by itself (the config's logs, rotated siblings, PHP-FPM pools, dmesg/journal, /proc)
and cannot read is a note under the answer; nothing readable at all exits 3.

counts: an error-log line is one failed attempt ({own.title} may retry it); what clients got (final
status, retries that rescued the request) is said only from the access log.

no evidence: when every log read held no line (empty, just rotated, an empty pipe) and no
config, live check or Kubernetes object was read, there is nothing to judge: "? no evidence",
exit 3, never "healthy"; a config read alone with empty logs, offline, is "no config pitfall
found; no log line to judge" (exit 0), not "healthy".

exit codes: 0 healthy / no findings, 1 findings, 2 usage error, 3 inputs unreadable or no
evidence, 4 internal error
""")

FORMATS = ("text", "json", "html", "markdown")
_SUFFIXES = {".html": "html", ".htm": "html", ".md": "markdown", ".markdown": "markdown",
             ".json": "json"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of ``why502 diagnose``."""
    add_proxy_arguments(parser, "diagnose")
    add_default_config_argument(parser, "alias of --config for {title}: its config file or saved "
                                        "'{config_dump}' dump ('-' = stdin); default: {config_dump}, "
                                        "else {default_config}")
    parser.add_argument("--error-log", action="append", default=[], metavar="FILE",
                        help="the proxy's error log (repeatable; rotated .1/.gz siblings are read "
                             "too; HAProxy: its log file, httplog lines and server DOWN alerts); "
                             "default: the config's error_log")
    parser.add_argument("--access-log", action="append", default=[], metavar="FILE",
                        help="the proxy's access log (repeatable); default: the config's access_log")
    parser.add_argument("--log-type", metavar="TYPE",
                        help=in_words("the --access-log is a load balancer / proxy log: {log_types} "
                                      "(default: detected from its first lines)"))
    parser.add_argument("--fpm-conf", metavar="FILE",
                        help="PHP-FPM config (php-fpm.conf or a pool file); default: discovered")
    parser.add_argument("--fpm-log", action="append", default=[], metavar="FILE",
                        help="PHP-FPM error log (repeatable); default: from the FPM config")
    parser.add_argument("--app-log", action="append", default=[], metavar="FILE",
                        help="another log to read (repeatable): app server, supervisord (its "
                             "restarts show a crash loop)")
    parser.add_argument("--app-conf", action="append", default=[], metavar="FILE",
                        help="an app server's config (repeatable): gunicorn.conf.py, a uWSGI .ini, "
                             "a Puma .rb, a Node server's .js; read as text, never run; default: "
                             "the running masters' command lines and config files")
    parser.add_argument("--kernel-log", metavar="FILE",
                        help="kernel log file (dmesg output, kern.log); default: dmesg/journal")
    parser.add_argument("--k8s", metavar="PATH",
                        help="Kubernetes objects: a `kubectl get pods,endpointslices,services,events"
                             " -o json` dump (a file or a folder; Gateway/HTTPRoute too), or "
                             "`kubectl` to ask the cluster read-only (docs/guide/kubernetes.md)")
    parser.add_argument("--k8s-namespace", metavar="NS",
                        help="with --k8s kubectl: read this namespace only (default: all)")
    # the proxies with an admin API diagnose reads (Vocabulary.admin_api: Envoy's)
    admin = with_vocabulary("admin_api")
    parser.add_argument("--admin-api", *aliases("admin_flag"), metavar="URL", dest="admin_api",
                        help="the proxy's admin API ("
                             + ", ".join(f"{p.vocabulary.title}'s: {p.vocabulary.admin_api}" for p in admin)
                             + "): its live cluster state (/clusters, /stats) and, without --config, "
                             "its config (/config_dump); read-only GETs; default: the config's admin "
                             "address when it is on loopback ("
                             + ", ".join(f"docs/proxies/{p.name}.md" for p in admin) + ")")
    parser.add_argument("--discover", action="store_true",
                        help=in_words("with only logs named, also read this host's proxy config "
                                      "({own.config_dump}, {own.default_config}, the other proxies' "
                                      "packaged configs) and PHP-FPM pools; default: a log-only run "
                                      "reads only the logs named"))
    parser.add_argument("--since", metavar="WHEN",
                        help="only log lines since WHEN: 30m, 2h, 1d or an ISO time")
    parser.add_argument("--offline", action="store_true",
                        help="no live checks: no probes, no /proc, no journal, no dmesg")
    add_format_argument(parser, "diagnose", FORMATS, default=None,
                        notes="default: from the -o suffix (.html/.htm, .md/.markdown, .json), "
                              "else text")
    add_output_argument(parser, "the report")
    parser.add_argument("--demo", action="store_true",
                        help="show the report of a real incident recorded by the lab and bundled "
                             + in_words("with why502 (no {own.title} needed)"))
    parser.add_argument("-v", "--verbose", action="store_true", help="show all evidence")
    add_redact_argument(parser)


def run(args: argparse.Namespace) -> int:
    from why502.app.diagnose import DiagnoseOptions, diagnose

    if args.demo and (args.default_proxy_config or args.config or args.error_log or args.access_log
                      or args.fpm_conf or args.fpm_log or args.kernel_log or args.app_log or args.app_conf
                      or args.since or args.discover or args.k8s or args.admin_api):
        raise UsageError("--demo shows the bundled incident's saved report; it takes no input "
                         "flags and no --since")
    config_path(args)  # not both --config and its alias
    options = DiagnoseOptions(
        default_proxy_config=args.default_proxy_config, config=args.config, proxy=args.proxy,
        error_logs=list(args.error_log), access_logs=list(args.access_log), fpm_conf=args.fpm_conf,
        fpm_logs=list(args.fpm_log),
        kernel_log=args.kernel_log, app_logs=list(args.app_log), app_confs=list(args.app_conf),
        since=args.since,
        offline=bool(args.offline or args.demo),
        demo=bool(args.demo), log_type=args.log_type, discover=bool(args.discover),
        k8s=args.k8s, k8s_namespace=args.k8s_namespace, admin_api=args.admin_api)
    named = [config_path(args), *args.error_log, *args.access_log, args.fpm_conf, *args.fpm_log,
             args.kernel_log, *args.app_log, *args.app_conf, args.k8s]
    if args.output:  # before the run: a refused -o costs nothing
        refuse_input(args.output, named)
    report = diagnose(options)
    # like `why502 render`: `-o incident.html` means HTML, not terminal text in a .html file
    fmt: str = args.format or (_SUFFIXES.get(Path(args.output).suffix.lower(), "text")
                               if args.output else "text")
    text = _render(for_output(report, args), fmt, args.verbose, to_file=bool(args.output))
    unread = _unmatched_access_log(report, list(args.access_log))
    if args.output:
        from why502.proxies import SCHEMA_1_CONFIG

        found = [v for key in (SCHEMA_1_CONFIG, "config_files", "error_logs", "access_logs", "fpm_logs",
                               "app_logs") for v in _as_list(report.inputs.get(key))]
        write_output(args.output, text, [*named, *found])
        if fmt != "text":
            said = ("no evidence" if report.no_evidence else "no finding" if unread or report.config_only
                    else "healthy" if report.healthy else f"{len(report.findings)} finding(s)")
            print(f"why502: report written to {args.output} ({said})", file=sys.stderr)
    else:
        sys.stdout.write(text)
    if unread is not None:  # after the report: its notes say the rest
        raise InputError(unread)
    if report.no_evidence:  # after the report, which says what would decide: no verdict, exit 3
        raise InputError(_no_evidence(report))
    # 1 only for a failure going on: a report of recovered incidents only is 0 (issue 31)
    return EXIT_FINDINGS if report.failing_now else EXIT_HEALTHY


def _no_evidence(report: Report) -> str:
    """The one-line error of a run that judged nothing (``Report.no_evidence``): exit 3, as for
    "nothing could be read".  Why not 0: every log read was empty (a just-rotated log, an empty
    pipe) and nothing else was read or probed; "healthy", exit 0, was a false all-clear."""
    from why502.reporters.text.report import nothing_judged, to_decide

    return f"no evidence: {nothing_judged(report, files=True)}; to decide: {to_decide(report)}"


def _unmatched_access_log(report: Report, named: list[str]) -> str | None:
    """The note of an access log named with ``--access-log`` none of whose lines any reader
    took (``access.not_used``: its ``source`` is the file), when the report has no finding: exit
    3, not "healthy".  An Envoy log in a format of the user's own with 25 % 503s was such a log,
    and its run said ``"healthy": true`` and exit 0 -- a verdict on nothing read.  ``stats``
    refuses the same log (exit 3, the same words); ``diagnose`` still prints its report, whose
    notes say it.  With a finding from the other inputs the report stands (exit 1) and the note
    says which log was not used."""
    from why502.app.diagnose.access import NOT_USED

    if report.findings or not named:
        return None
    files = {os.path.realpath(p) for p in named}
    for d in report.diagnostics:
        if d.source is not None and d.message.startswith(NOT_USED) and os.path.realpath(d.source) in files:
            return d.message[len(NOT_USED):]
    return None


def _as_list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else [value]


def _render(report: object, fmt: str, verbose: bool, to_file: bool) -> str:
    """``reporters.<fmt>.render``: a terminal, a pipe and -o FILE all wrap at the run's width
    (cli.termwidth: --width N, COLUMNS, the terminal's, else 80); colour only on a terminal."""
    from why502 import reporters

    color = fmt == "text" and not to_file and sys.stdout.isatty()
    return reporters.render(fmt, report, reporters.RenderOptions(color=color, verbose=verbose))
