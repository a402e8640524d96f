"""`why502 mitigate [REPORT]`: the stop-gaps of the emergency checklist, made as safe and
reversible as `why502 fix` makes a fix (it uses fix's transaction); --revert and --list.

Only the standard library at module level (``why502 --help`` stays fast).
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import TYPE_CHECKING

from why502.cli.proxyargs import aliases, in_words
from why502.cli.vocab import add_format_argument
from why502.errors import UsageError
from why502.timeargs import SecondsArg

if TYPE_CHECKING:
    from why502.app.mitigate.model import Proposal

DESCRIPTION = in_words("""\
Stop the 5xx now, fix the cause next. From a diagnosis (a saved report, or one run now) and a
fresh probe of every server, propose the stop-gaps that fit (dry run): take the failing servers
of a group out of rotation while others serve ({take_out}); when every server of
a group fails, a fallback ({fallback}); a temporary timeout raise for a backend slower than {own.title} waits
(diagnose's backend-too-slow). A server whose probe does not fail is never taken out, nor the
last one that serves. --apply makes them with why502 fix's transaction (policy, lock, backup,
config test, reload, verify, rollback, journal); --revert undoes one exactly.

exit: 0 applied and verified (dry run: nothing to do), 1 stop-gaps listed (dry run) or the
mitigation failed and was rolled back, 2 usage error, 3 refused (not failing, last serving
server, not the running proxy's config, file changed, locked): nothing changed.

examples:
  why502 mitigate report.json                                  # what it would do
  why502 mitigate report.json --apply --yes --verify-url http://127.0.0.1/health
  why502 mitigate --config {syslogged.default_config} --proxy {syslogged_name} --apply --yes --verify-url http://127.0.0.1/
  why502 mitigate --list                                       # in force, since when, why
  why502 mitigate --revert                                     # undo the last one (or --revert ID)
""")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("report", nargs="?", metavar="REPORT",
                        help="saved diagnose JSON report (default: run diagnose now)")
    parser.add_argument("--config", *aliases("config_flag"), dest="config", metavar="FILE",
                        help="the proxy's main config (default: the running proxy's, as fix decides)")
    from why502.proxies import PROXIES

    drivable = tuple(name for name, p in PROXIES.items() if p.hooks.mitigate)  # = app.mitigate.run.drivable
    parser.add_argument("--proxy", choices=drivable, metavar="NAME",
                        help=f"which proxy: {', '.join(drivable)} (default: the report's)")
    parser.add_argument("--group", metavar="NAME", help="only this upstream / backend")
    parser.add_argument("--server", action="append", default=[], metavar="ADDR|NAME",
                        help="take out only this server (repeatable); refused unless it is failing")
    parser.add_argument("--raise-timeout", dest="timeout", type=SecondsArg("--raise-timeout", 1),
                        metavar="SECONDS",
                        help="the temporary timeout for a backend-too-slow finding (default 60; "
                             f"{SecondsArg.HELP}; whole seconds, rounded up)")
    parser.add_argument("--apply", action="store_true", help="make the stop-gaps (default: dry run)")
    add_format_argument(parser, "mitigate", ("text", "json"),
                        notes="json is the dry run's plan (schemas/mitigation-plan.schema.json); "
                              "--apply, --revert and --list write text")
    parser.add_argument("--yes", "-y", action="store_true", help="no confirmation per stop-gap (scripts)")
    parser.add_argument("--verify-for", type=SecondsArg("--verify-for"), default=10.0, metavar="SECONDS",
                        help=f"watch this long after the change (default 10; {SecondsArg.HELP}; "
                             "must be above 0)")
    parser.add_argument("--verify-url", action="append", default=[], metavar="URL",
                        help="GET URL via the proxy while verifying (required with --apply; repeatable)")
    parser.add_argument("--revert", nargs="?", const="", default=None, metavar="ID",
                        help="undo mitigation ID (default: the last one in force)")
    parser.add_argument("--list", action="store_true", help="show the mitigations in force")
    parser.add_argument("--state-dir", metavar="DIR",
                        help="fix's state directory (mitigations/ beside its journals)")
    parser.add_argument("--proxy-binary", *aliases("binary_flag"), dest="binary", metavar="PATH",
                        help="the proxy's binary (default: on PATH)")


def _ask(p: Proposal) -> bool:
    sys.stdout.write(f"apply the {p.kind} of {p.group}? [y/N] ")
    sys.stdout.flush()
    return sys.stdin.readline().strip().lower() in ("y", "yes")


def run(args: argparse.Namespace) -> int:
    """Its text wrapped to the run's width (``cli.termwidth``) line by line (issue 31)."""
    import shutil

    from why502.textutil import fitted_stdout

    with fitted_stdout(shutil.get_terminal_size().columns):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from why502.app.fix.state import default_state_dir
    from why502.app.mitigate import run as mrun
    from why502.reporters import write

    state_dir = (Path(args.state_dir) if args.state_dir else default_state_dir()).absolute()
    if args.revert is not None and args.list:
        raise UsageError("--revert and --list are separate commands")
    for url in args.verify_url:
        if not url.startswith(("http://", "https://")) or len(url.split("/")) < 3 or not url.split("/")[2]:
            raise UsageError(f"--verify-url needs an http:// or https:// URL, not {url!r}")
    if args.format == "json" and (args.apply or args.revert is not None or args.list):
        raise UsageError("--format json writes the dry run's plan; --apply, --revert and --list write text")
    if args.revert is not None:
        return mrun.revert(state_dir, sys.stdout, args.revert or None, list(args.verify_url))
    if args.list:
        return mrun.listing(state_dir, sys.stdout)
    if args.timeout is not None:
        args.timeout = math.ceil(args.timeout)  # nginx's timeouts here are whole seconds
    if args.timeout is not None and not 0 < args.timeout <= 3600:
        raise UsageError("--raise-timeout takes 1 to 3600 seconds")
    if args.apply and not args.yes and not sys.stdin.isatty():
        raise UsageError("--apply asks before each stop-gap on a terminal; add --yes to apply without asking")
    host_conf = None
    if args.report:
        from why502.cli.cmd_render import load_report

        report = load_report(args.report)
    else:
        from why502.app.diagnose import DiagnoseOptions, diagnose
        from why502.app.fix.plan import from_report

        report = diagnose(DiagnoseOptions(config=args.config, proxy=args.proxy))
        host_conf = from_report(report, args.proxy).config
    options = mrun.Options(state_dir=state_dir, config=args.config, host_conf=host_conf, proxy=args.proxy,
                           binary=args.binary, group=args.group, servers=list(args.server),
                           timeout=args.timeout, verify_for=args.verify_for,
                           verify_urls=list(args.verify_url),
                           confirm=None if args.yes else _ask)
    prepared = mrun.prepare(report, options, dry_run=not args.apply)
    if args.format == "json":
        import io

        write("json", prepared.plan, sys.stdout)
        return mrun.apply(prepared, options, io.StringIO(), dry_run=True)  # its exit status, nothing said
    write("text", prepared.plan, sys.stdout)
    sys.stdout.flush()
    return mrun.apply(prepared, options, sys.stdout, dry_run=not args.apply)
