"""`why502 fix [REPORT]`: show the config changes of a diagnosis (or of lint), and with --apply
make them safely: hash check, lock, backup, journal, atomic write, config test, reload, verify,
automatic rollback; --undo and --list.

Only the standard library at module level (``why502 --help`` stays fast).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from why502.cli.output import add_redact_argument
from why502.cli.proxyargs import aliases, default_proxy, in_words, listed, with_hook
from why502.cli.vocab import add_format_argument
from why502.errors import InputError, UsageError
from why502.timeargs import SecondsArg

if TYPE_CHECKING:
    from why502.app.lint import LintOutcome
    from why502.findings.plan import Change, Plan

DESCRIPTION = in_words("""\
List the config changes that fix what diagnose (or lint) found -- finding, file, diff -- and change
nothing (dry run). With --apply each change is made as a transaction: refused if the file changed
since the report (SHA-256) or another why502 fix is running; every file backed up (mode, owner,
xattrs) and journaled before it is written atomically; the whole config tested by the proxy's own
checker ({fix_tests}; php-fpm -t); the service
reloaded the proxy's way ({fix_reloads}; systemctl reload when
systemd runs that master); the new workers watched for
--verify-for seconds; on any failure the backups are restored and the service reloaded again.
Commands that are not config changes (restart a backend, raise a limit) are printed, never run.

REPORT: a saved `why502 diagnose --format json` report. Without it, diagnose runs now (or lint,
with --lint). A report only proposes: the files written are those of the config the running
proxy uses (its -c/-f) or that --config names, as the proxy's own dump lists them ({own.config_dump});
each is locked while it is read and written, and a symlink is written through to its target.

exit: 0 applied and verified (dry run: nothing to change), 1 changes listed (dry run) or the fix
failed and was rolled back, 2 usage error, 3 refused (file changed, locked, permission denied,
disk full, not the running proxy's config, a damaged journal): nothing changed.

examples:
  why502 fix report.json                           # what would change
  why502 fix report.json --apply --verify-url http://127.0.0.1/health
  why502 fix --lint {own.default_config} --only W502-001 --apply --yes
  why502 fix --lint {syslogged.default_config} --only W502-027 --apply --yes
  why502 fix report.json --apply --verify-url http://127.0.0.1/   # a report of {fixable_others}
  why502 fix --undo                                # restore the last change set this user applied
  why502 fix --undo ID                             # restore change set ID (see --list)
  why502 fix --list                                # the history
""")


def fixable() -> tuple[str, ...]:
    """The proxies ``fix`` changes: those with a fix service in their ``Hooks`` (the registry
    imports nothing heavy; ``app.fix.service.fixable`` says the same once the service is loaded)."""
    from why502.proxies import PROXIES

    return tuple(name for name, p in PROXIES.items() if p.hooks.fix_service)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("report", nargs="?", metavar="REPORT",
                        help="saved diagnose JSON report (default: run diagnose now)")
    own = default_proxy().config_argument  # lint's positional config
    parser.add_argument("--lint", nargs="?", const="", default=None, metavar=own,
                        help=f"take the fixes of why502 lint (of {own}, default this host's config)")
    parser.add_argument("--config", *aliases("config_flag"), dest="config", metavar="FILE",
                        help=in_words("the proxy's main config, tested with its own checker ({fix_tests}) "
                                      "(default: the report's)"))
    parser.add_argument("--proxy", choices=fixable(), metavar="NAME",
                        help=f"which proxy the config is: {', '.join(fixable())} (default: the report's, or "
                             "detected from the file)")
    parser.add_argument("--fpm-conf", metavar="FILE", help="php-fpm's main config (php-fpm -t -y FILE)")
    parser.add_argument("--apply", action="store_true", help="make the changes (default: dry run)")
    add_format_argument(parser, "fix", ("text", "json"),
                        notes="json is the dry run's plan (schemas/fix-plan.schema.json), for scripts "
                              "and reviews; --apply, --undo and --list write text")
    parser.add_argument("--yes", "-y", action="store_true", help="no confirmation per change (scripts)")
    parser.add_argument("--only", action="append", default=[], metavar="CAUSE|RULE",
                        help="only the changes for this cause ID or lint code (repeatable, comma list)")
    parser.add_argument("--no-reload", dest="reload", action="store_false",
                        help="write and test, but do not reload (nor verify)")
    parser.add_argument("--verify-for", type=SecondsArg("--verify-for"), default=10.0, metavar="SECONDS",
                        help=f"watch the new config this long after reloading ({SecondsArg.HELP}; "
                             "default 10; 0: no check)")
    parser.add_argument("--verify-url", action="append", default=[], metavar="URL",
                        help="GET URL via the proxy while verifying; a 5xx fails the fix (repeatable)")
    parser.add_argument("--undo", nargs="?", const="", default=None, metavar="ID",
                        help="restore change set ID (--list shows them), or without ID the last "
                             "one this user applied")
    parser.add_argument("--list", action="store_true", help="show the history of change sets")
    parser.add_argument("--state-dir", metavar="DIR",
                        help="journal and backups (default /var/lib/why502/fix as root, else "
                             "~/.local/state/why502/fix)")
    parser.add_argument(*aliases("binary_flag"), "--proxy-binary", dest="binary", metavar="PATH",
                        help="the proxy's binary (default: "
                             + listed(["/".join(p.detection.programs) for p in with_hook("fix_service")
                                       if p.detection.programs], "or") + " on PATH)")
    parser.add_argument("--php-fpm", metavar="PATH", help="php-fpm binary (default: found on PATH)")
    add_redact_argument(parser)


def _only(args: list[str]) -> set[str]:
    return {p.strip() for a in args for p in a.split(",") if p.strip()}


def _require_fix_service(proxy: str | None, conf: str | None) -> None:
    """InputError (exit 3, one line) when the proxy has no fix service (``Hooks.fix_service``):
    why502 reads its config but does not test, reload or roll it back (Traefik: no binary)."""
    from why502.app.fix.service import fixable, service_class
    from why502.proxies import DEFAULT, PROXIES

    name = proxy or DEFAULT
    if name in PROXIES and service_class(name) is None:
        title = PROXIES[name].vocabulary.title
        raise InputError(f"fix does not change {title} configs (no config test or reload for it); "
                         f"'why502 lint {conf or ''}' shows the findings and their diffs to apply "
                         f"by hand (fix changes: {', '.join(fixable())})")


def _managed(plan: Plan, outcome: LintOutcome, apply: bool) -> None:
    """A config its control plane owns (``Hooks.managed``: an Envoy configured by Istio, Envoy
    Gateway or any xDS server): the findings' changes are notes in the control plane's terms,
    none is a change to make; with ``--apply`` they are printed and fix refuses (exit 3)."""
    from why502.proxies import get
    from why502.proxies.base import resolve

    hook = get(plan.proxy).hooks.managed
    why = resolve(hook)(outcome.config) if hook else None  # type: ignore[operator]
    if not why:
        return
    plan.changes.clear()
    plan.notes.append(str(why))
    plan.notes.extend(f"{f.code} {f.where}: {f.message}" for f in outcome.findings)
    if apply:
        print_plan(plan)
        raise InputError(f"fix --apply refuses: {why}")


def make_plan(args: argparse.Namespace) -> tuple[Plan, str | None]:
    """The plan, and the main config this run found on this host (lint or a diagnosis run now):
    with a saved REPORT that is None, as a report's own idea of the config is only a claim
    (``app.fix.policy``)."""
    from why502.app.fix import plan as fixplan

    if args.lint is not None:
        if args.report:
            raise UsageError("give a REPORT or --lint, not both")
        from why502.app.lint import LintOptions, gather
        from why502.proxies import DEFAULT, choose

        conf = args.lint or args.config or None
        # the registry's one check, naming the flag the file came with (exit 3 for a Caddyfile)
        proxy = choose(args.proxy, conf, "--lint" if args.lint else "--config")
        _require_fix_service(proxy, conf)
        outcome = gather(LintOptions(config=conf, proxy=proxy))
        plan = fixplan.from_lint(outcome.findings, args.config or outcome.config.main_file,
                                 str(outcome.inputs.get("proxy") or DEFAULT))
        _managed(plan, outcome, bool(args.apply))
        return plan, plan.config
    if args.report:
        from why502.cli.cmd_render import load_report

        saved = fixplan.from_report(load_report(args.report), args.proxy)
        _require_fix_service(saved.proxy, saved.config)
        return saved, None
    from why502.app.diagnose import DiagnoseOptions, diagnose

    report = diagnose(DiagnoseOptions(config=args.config, proxy=args.proxy))
    plan = fixplan.from_report(report, args.proxy if args.proxy else None)
    _require_fix_service(plan.proxy, plan.config)
    return plan, plan.config


def print_plan(plan: Plan, *, redact: bool = True) -> None:
    """The plan as text (``reporters.text.plan``) on standard output; credentials in it shown as
    ``[redacted]`` unless ``redact`` is False (what is *applied* is the plan itself)."""
    from why502.reporters import RenderOptions, write

    write("text", plan, sys.stdout, RenderOptions(redact=redact))


def plan_json(plan: Plan, *, redact: bool = True) -> None:
    """The plan as one JSON document (``Plan.to_dict``, ``schemas/fix-plan.schema.json``) on
    standard output, credentials shown as ``[redacted]`` like the text unless ``redact`` is False."""
    from dataclasses import replace

    from why502.findings.redact import redact_diff, redact_text
    from why502.reporters import RenderOptions, write

    if redact:
        def text(value: str) -> str:
            return redact_text(value)[0]

        plan = replace(plan, changes=[replace(c, diff=redact_diff(c.diff)[0], title=text(c.title),
                                              commands=tuple(map(text, c.commands)))
                                      for c in plan.changes],
                       commands=[(key, text(cmd)) for key, cmd in plan.commands],
                       notes=[text(n) for n in plan.notes])
    write("json", plan, sys.stdout, RenderOptions(redact=redact))


def _ask(change: Change) -> bool:
    sys.stdout.write(f"apply the change for {change.key} to {change.file}? [y/N] ")
    sys.stdout.flush()
    answer = sys.stdin.readline().strip().lower()
    return answer in ("y", "yes")


def run(args: argparse.Namespace) -> int:
    """Its text wrapped to the run's width (``cli.termwidth``) line by line (issue 31)."""
    import shutil

    from why502.textutil import fitted_stdout

    with fitted_stdout(shutil.get_terminal_size().columns):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from why502.app.fix import run as fixrun
    from why502.app.fix.plan import select
    from why502.app.fix.state import default_state_dir

    # absolute: the journal records where its backups are, and a later run may start elsewhere
    state_dir = (Path(args.state_dir) if args.state_dir else default_state_dir()).absolute()
    if args.verify_for < 0:
        raise UsageError("--verify-for must be >= 0")
    for url in args.verify_url:
        if not url.startswith(("http://", "https://")) or len(url.split("/")) < 3 or not url.split("/")[2]:
            raise UsageError(f"--verify-url needs an http:// or https:// URL, not {url!r}")
    if args.undo is not None and args.list:
        raise UsageError("--undo and --list are separate commands")
    if args.format == "json" and (args.apply or args.undo is not None or args.list):
        raise UsageError("--format json writes the dry run's plan; --apply, --undo and --list write text")
    if args.undo is not None:
        if args.report:
            raise UsageError(f"--undo takes a change set ID, not a REPORT ({args.report})")
        return fixrun.undo(state_dir, sys.stdout, reload=args.reload, change_set=args.undo or None)
    if args.list:
        return fixrun.history(state_dir, sys.stdout)
    if args.apply and not args.yes and not sys.stdin.isatty():
        raise UsageError("--apply asks before each change on a terminal; add --yes to apply without asking")
    made, host_conf = make_plan(args)
    plan = select(made, _only(args.only))
    if args.format == "json":
        plan_json(plan, redact=args.redact)
        return 1 if plan.changes else 0
    print_plan(plan, redact=args.redact)
    if not args.apply:
        if plan.changes:
            sys.stdout.write("\ndry run: nothing changed (--apply makes these changes)\n")
        return 1 if plan.changes else 0
    sys.stdout.write("\n")
    options = fixrun.ApplyOptions(
        state_dir=state_dir, config=args.config, host_conf=host_conf, binary=args.binary,
        proxy=args.proxy,
        fpm_conf=args.fpm_conf,
        fpm_bin=args.php_fpm, reload=args.reload, verify_for=args.verify_for,
        verify_urls=list(args.verify_url), confirm=None if args.yes else _ask)
    return fixrun.apply(plan, options, sys.stdout)
