"""`why502 lint [NGINX_CONF | --config FILE]`: 502/504 pitfalls in a proxy's config (nginx, HAProxy,
Apache httpd), before they bite.

Heavy modules (crossplane, rich) are imported inside ``run`` only, so ``why502 --help`` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from why502.cli.output import add_redact_argument, for_output
from why502.cli.proxyargs import (
    add_default_config_argument,
    add_proxy_arguments,
    default_proxy,
    in_words,
    proxy_of_file,
    with_vocabulary,
    words,
)
from why502.cli.vocab import add_format_argument, add_output_argument
from why502.errors import EXIT_INPUT, UsageError

if TYPE_CHECKING:
    from why502.proxies.base import Proxy
from why502.timeargs import SecondsArg


def _others() -> list[Proxy]:
    """The proxies besides the default one that say what lint checks in their config."""
    return [p for p in with_vocabulary("lint_help") if p.vocabulary is not default_proxy()]


def lint_of_others() -> str:
    """What lint checks in the other proxies' configs, each in its own words (``lint_help``)."""
    return "  ".join(f"{p.vocabulary.long_title} {p.vocabulary.lint_help}." for p in _others())


DESCRIPTION = in_words("""\
Check an {own.title} configuration for settings that cause 502/503/504: {own.lint_help} (why502 lint
--list-rules).

""") + lint_of_others() + in_words("""  The kind is detected from the content (--proxy forces it).

{own.config_argument}: a config file (includes followed), a saved `{own.config_dump}` dump, or - for a
dump on stdin. Its absolute includes ({own_dir}/conf.d/*.conf) are not read from this machine: each is a note
naming it; --root DIR reads them under a copied tree, --host from this machine.
Without it: `{own.config_dump}` when {own.title} is installed, else {own.default_config}; host facts
(FPM pools, net.core.somaxconn, MemTotal, {own.title}'s open-files limit) are then read from this machine too.

Rules that are trade-offs or informational (W502-006, W502-007, W502-016) are off by default:
--enable CODE adds them, --select CODE runs exactly those (ALL: every rule), as in ruff.

Silence a finding: --ignore CODE (repeatable, or a comma list), or a comment in the config on the
directive's line or alone on the line above it: # why502: ignore W502-007 (no codes: every rule).

examples:
  why502 lint
  why502 lint {own.default_config} --ignore W502-007,W502-002
  {own.config_dump} | why502 lint - --format sarif > why502.sarif
  why502 lint {own.default_config} --fpm-conf /etc/php/8.2/fpm --header-bytes 9000 --fail-on warning
""") + "".join(f"  why502 lint --config {p.vocabulary.default_config} {p.vocabulary.lint_example}\n"
               for p in _others())


BACKEND_MINIMUM = 0.001
"""A backend's timeout is more than 0 s (``0`` once made fixes like ``proxy_read_timeout 0s;``)."""


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"not a positive integer: {text!r}")
    return int(text)


def _sniff(path: str | None) -> str:
    """The kind of a positional NGINX_CONF, through the registry's one check: another proxy when
    its content says so, a config of a proxy why502 does not read (a Caddyfile) a one-line
    ``InputError`` (exit 3), else the default one, nginx (whose loader then reports an unreadable
    or unrecognised file as it always did)."""
    from why502.proxies import DEFAULT, choose

    # a FIFO is never opened here
    return choose(None, path, flag=default_proxy().config_argument, fallback=DEFAULT)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    own = default_proxy()
    add_proxy_arguments(parser, f"lint ({own.config_argument} is the same)")
    add_default_config_argument(parser, "alias of --config (the older name; {config_argument} is the same "
                                        "too)", dest="config")
    parser.add_argument("config_file", nargs="?", metavar=own.config_argument,
                        help=f"config file, {own.config_dump} dump, or - (default: {own.config_dump} / "
                             f"{own.default_config})")
    add_format_argument(parser, "lint", ("text", "json", "sarif"))
    add_output_argument(parser, "the findings")
    parser.add_argument("--fail-on", choices=("error", "warning", "info", "never"), default="error",
                        help="exit 1 when a finding is at or above this severity (default: error)")
    parser.add_argument("--select", "--rule", dest="rule", action="append", default=[], metavar="CODE|NAME",
                        help="run only these rules, off-by-default ones included (repeatable, comma "
                             "list, ALL)")
    parser.add_argument("--enable", "--extend-select", dest="enable", action="append", default=[],
                        metavar="CODE|NAME", help="also run these off-by-default rules (repeatable, ALL)")
    parser.add_argument("--fix", action="store_true",
                        help="show the config changes (= why502 fix --lint; apply: fix --lint --apply)")
    parser.add_argument("--ignore", action="append", default=[], metavar="CODE|NAME",
                        help="never report this rule (repeatable, or a comma list)")
    parser.add_argument("--no-inline-ignores", dest="inline_ignores", action="store_false",
                        help="report findings silenced by '# why502: ignore' comments too")
    parser.add_argument("--list-rules", action="store_true", help="list the rules and exit")
    parser.add_argument("--fpm-conf", action="append", default=[], metavar="PATH",
                        help="PHP-FPM config file or directory (repeatable; default: discovered)")
    parser.add_argument("--header-bytes", type=_positive_int, metavar="N",
                        help="largest response header the backend sends (enables W502-004)")
    parser.add_argument("--backend-timeout", type=SecondsArg("--backend-timeout", BACKEND_MINIMUM),
                        metavar="SECONDS", help="the backend's own request timeout, e.g. gunicorn "
                        f"--timeout (W502-005; {SecondsArg.HELP})")
    parser.add_argument("--backend-keepalive", type=SecondsArg("--backend-keepalive", BACKEND_MINIMUM),
                        metavar="SECONDS", help="the backend's idle keep-alive timeout, e.g. gunicorn "
                        f"--keep-alive (W502-021; {SecondsArg.HELP})")
    parser.add_argument("--concurrency", type=_positive_int, metavar="N",
                        help="requests in flight at once the site must serve at its peak ("
                             + "; ".join(f"{v.title}'s {v.concurrency_limit}"
                                         for v in words("concurrency_limit"))
                             + ")")
    parser.add_argument("--somaxconn", type=_positive_int, metavar="N", help="net.core.somaxconn to assume")
    parser.add_argument("--mem-total", metavar="SIZE", help="memory to assume, e.g. 2g (W502-012)")
    parser.add_argument("--nofile", type=_positive_int, metavar="N",
                        help=in_words("open-files limit {own.title} runs with when worker_rlimit_nofile "
                                      "is unset"))
    host = parser.add_mutually_exclusive_group()
    host.add_argument("--host", dest="host", action="store_true", default=None,
                      help=in_words("read FPM pools, limits and {own.config_argument}'s absolute includes "
                                    "from this machine"))
    host.add_argument("--no-host", dest="host", action="store_false",
                      help="never read facts from this machine")
    parser.add_argument("--root", metavar="DIR",
                        help="resolve absolute include paths under DIR (a config tree copied from elsewhere)")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="colour the text output (default: auto, when stdout is a terminal)")
    add_redact_argument(parser)


def output_inputs(args: argparse.Namespace) -> list[str]:
    """What ``-o`` must never replace: the config and the FPM configs read (``cli.main._run``)."""
    return [args.config_file or "", args.config or "", *args.fpm_conf]


def run(args: argparse.Namespace) -> int:
    from why502 import __version__
    from why502.app.lint import LintOptions, exit_code, gather, parse_mem
    from why502.catalog.lint_rules import load_rules

    if args.list_rules:
        for rule in load_rules().values():
            off = "  (off by default)" if rule.off_by_default else ""
            print(f"{rule.code}  {rule.proxy:<7}  {rule.severity:<7}  {rule.name}: {rule.title}{off}")
        return 0
    if args.config and args.config_file:
        raise UsageError(f"--config and {default_proxy().config_argument} name the same thing: give one "
                         "of them")
    args.config_file = args.config_file or args.config
    proxy = args.proxy or (proxy_of_file(args.config) if args.config else _sniff(args.config_file))
    if args.config_file == "-" and args.root:
        raise UsageError("--root makes no sense with a dump on stdin")
    options = LintOptions(
        config=args.config_file, fpm_conf=list(args.fpm_conf), host=args.host,
        header_bytes=args.header_bytes, backend_timeout=args.backend_timeout,
        backend_keepalive=args.backend_keepalive, somaxconn=args.somaxconn,
        mem_total=parse_mem(args.mem_total) if args.mem_total else None, nofile=args.nofile,
        rules=list(args.rule), root=args.root, ignore=list(args.ignore),
        inline_ignores=args.inline_ignores, enable=list(args.enable), proxy=proxy,
        concurrency=args.concurrency,
    )
    outcome = gather(options)
    if args.fix:
        from why502.app.fix.plan import from_lint
        from why502.reporters import RenderOptions, write

        plan = from_lint(outcome.findings, args.config_file if args.config_file != "-" else None)
        write("text", plan, sys.stdout, RenderOptions(redact=args.redact))
        if plan.changes:
            sys.stdout.write("\ndry run: nothing changed (why502 fix --lint --apply makes these changes)\n")
        return 1 if plan.changes else 0
    report = for_output(outcome.report(), args)
    from why502.reporters import RenderOptions, write

    color = {"always": True, "never": False}.get(args.color, sys.stdout.isatty())
    write(args.format, report, sys.stdout, RenderOptions(color=color, tool_version=__version__))
    if report.unread:
        return EXIT_INPUT  # not checked whole: never "clean" (findings.lint.LintReport.unread)
    return exit_code(outcome.findings, args.fail_on)
