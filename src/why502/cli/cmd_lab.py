"""`why502 lab`: reproduce each root cause on a real nginx on loopback, then diagnose it.

Only the standard library is imported at module level (``why502 --help`` stays fast); the lab,
diagnose and the reporters are imported inside ``run``.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from why502.cli.proxyargs import in_words
from why502.cli.vocab import add_format_argument, add_output_argument
from why502.errors import EXIT_FINDINGS, EXIT_HEALTHY, InputError, UsageError

if TYPE_CHECKING:
    from why502.findings.model import Report
    from why502.lab.runtime import Stack
    from why502.lab.scenarios import Scenario, ScenarioRun

DESCRIPTION = in_words("""\
Reproduce a cause of 502/503/504 for real -- a real {own.title}, real PHP-FPM and real backends on
127.0.0.1/::1 in a temp dir, random ports -- provoke it with a few requests, run `why502 diagnose`
on the still-running stack (live probes on), print the report, then stop every process by PID and
delete the temp dir (unless --keep).  For learning, and for checking why502 itself.

examples:
  why502 lab list                       # the scenarios and the root cause each reproduces
  why502 lab run backend-too-slow       # reproduce, diagnose, show the report
  why502 lab run keepalive-race --keep  # keep the temp dir (config, logs) to look at
  why502 lab check                      # run every scenario: does diagnose find the cause?
  why502 lab check --proxy {lab_check}      # only the {lab_title} scenarios (also: {lab_also})
  why502 lab matrix --sample 40 --seed 7  # 40 generated fault cells, diagnosed through the CLI
  why502 lab matrix --sample 160 --jobs 3 --format json -o m.json   # 3 cells at a time
  why502 lab matrix --shard 3/16 --jobs 2 --format json -o shard-3-of-16.json   # a piece of the whole
  why502 lab matrix --fault crash --proxy {lab_matrix}   # only the cells of one fault behind one proxy

exit codes: run: 0 when diagnose ranks the expected cause first, 1 otherwise;
check, matrix: 0 when every scenario/cell that could run was diagnosed right; 2 usage;
3 lab unavailable
""")

FORMATS = ("text", "json", "markdown", "html")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Subcommands ``list``, ``run NAME`` and ``check``."""
    from why502.proxies import names  # the registry (nothing heavy)

    sub = parser.add_subparsers(dest="lab_command", metavar="SUBCOMMAND")
    lst = sub.add_parser("list", help="list the scenarios")
    lst.add_argument("--all", action="store_true",
                     help="also list the recording-only recipes used for test fixtures")
    lst.add_argument("--proxy", choices=names(), metavar="NAME",
                     help=f"only the scenarios of this proxy ({', '.join(names())})")
    add_format_argument(lst, "lab list", ("text", "json"))
    add_output_argument(lst, "the list")
    run = sub.add_parser("run", help="reproduce one scenario and diagnose it")
    run.add_argument("name", metavar="NAME", help="scenario name (see `why502 lab list`)")
    add_format_argument(run, "lab run", FORMATS, default=None,
                        notes="default: from the -o suffix (.html/.htm, .md/.markdown, .json), else text")
    add_output_argument(run, "the report")
    run.add_argument("--keep", action="store_true",
                     help="keep the temp dir (config and logs) after the processes are stopped")
    run.add_argument("--show-logs", action="store_true",
                     help=in_words("also print what {own.title}/PHP-FPM logged"))
    run.add_argument("-v", "--verbose", action="store_true", help="show all evidence")
    check = sub.add_parser("check", help="run every scenario and compare diagnose's answer")
    check.add_argument("names", nargs="*", metavar="NAME", help="only these scenarios")
    check.add_argument("--noisy", action="store_true",
                       help="run each scenario on a noisy host's baseline (other jobs' OOM kills "
                            "and segfaults, an old incident in the rotated log, client noise)")
    check.add_argument("--proxy", choices=names(), metavar="NAME",
                       help=f"only the scenarios of this proxy ({', '.join(names())})")
    add_format_argument(check, "lab check", ("text", "json"),
                        notes="json: one document at the end, after every scenario ran")
    add_output_argument(check, "the results")
    matrix = sub.add_parser(
        "matrix", help="run the generated fault matrix (faults x proxies x backends x traffic x noise)")
    matrix.add_argument("--seed", type=int, default=None,
                        help="the sample's seed (default: a new one, printed so a run can be repeated)")
    matrix.add_argument("--sample", type=int, default=0, metavar="K",
                        help="run K cells (stratified: every proxy x fault first); default: all")
    matrix.add_argument("--proxy", choices=names(), action="append", metavar="NAME",
                        help=f"only the cells of this proxy (repeatable: {', '.join(names())})")
    matrix.add_argument("--fault", action="append", metavar="NAME",
                        help="only the cells of this fault (repeatable; names: --list)")
    matrix.add_argument("--backend", action="append", metavar="KIND",
                        help="only cells on this backend kind: tcp4, tcp6, unix, fpm-tcp, fpm-unix, "
                             "gunicorn, uvicorn, uwsgi, node (repeatable)")
    matrix.add_argument("--traffic", action="append", metavar="SHAPE",
                        help="only cells of this traffic shape: steady, bursty, post, slow-send, "
                             "slow-read, concurrent (repeatable)")
    matrix.add_argument("--noise", action="append", metavar="NOISE",
                        help="only cells with this noise: quiet, noisy (repeatable)")
    matrix.add_argument("--cell", action="append", metavar="NAME",
                        help="only this cell, by its full name (repeatable; names: --list)")
    matrix.add_argument("--shard", metavar="K/N",
                        help="only shard K of N (a cell's shard is a hash of its name: the same "
                             "on every run, seed and machine; bench/matrix.py --merge joins the "
                             "shards' JSON into the whole matrix)")
    matrix.add_argument("--list", action="store_true", help="list the cells, run nothing")
    matrix.add_argument("-j", "--jobs", type=int, default=1, metavar="N",
                        help="run N cells at a time (default 1; a cell mostly waits, so N above the "
                             "cores pays; the output is in cell order whatever N)")
    add_format_argument(matrix, "lab matrix", ("text", "json", "markdown"),
                        notes="text: a line per cell, then the table; markdown: the table")
    matrix.add_argument("-o", "--output", metavar="FILE",
                        help="also write the table/JSON to FILE (atomically; never over an input)")


def run(args: argparse.Namespace) -> int:
    command = getattr(args, "lab_command", None)
    if command in ("list", "check") and args.output and args.output != "-":
        from why502.cli.output import result_to

        with result_to(args.output, []):  # atomic, like every command's -o (it reads no file)
            return _list_or_check(args)
    if command in ("list", "check"):
        return _list_or_check(args)
    if command == "run":
        return _run_one(args)
    if command == "matrix":
        return _matrix(args)
    raise UsageError("lab: choose a subcommand: list, run NAME, check, matrix (see `why502 lab --help`)")


def _scenarios(include_all: bool = False) -> dict[str, Scenario]:
    from why502.lab.scenarios import RECORDINGS, SCENARIOS

    return dict(RECORDINGS if include_all else SCENARIOS)


def _list_or_check(args: argparse.Namespace) -> int:
    if args.lab_command == "list":
        return _list(bool(args.all), args.proxy, args.format)
    return _check(list(args.names), bool(args.noisy), args.proxy, args.format)


def _wrapped(head: str, rest: str) -> str:
    """``head rest`` on one line when it fits the run's width (``cli.termwidth``), else ``head``
    then ``rest`` wrapped under it, indented: never wider than the width."""
    import shutil
    import textwrap

    width = shutil.get_terminal_size().columns
    line = f"{head} {rest}".rstrip()
    if len(line) <= width:
        return line
    # too narrow for the columns: their padding goes first
    first = head.rstrip() if len(head.rstrip()) <= width else "\n".join(
        textwrap.wrap(" ".join(head.split()), width, subsequent_indent="  "))
    return "\n".join([first, *textwrap.wrap(rest, width, initial_indent="    ",
                                              subsequent_indent="    ", break_on_hyphens=False)])


def _list(include_all: bool, proxy: str | None = None, fmt: str = "text") -> int:
    from why502.lab.runtime import LabSkip

    rows = []
    for name, sc in _scenarios(include_all).items():
        if proxy is not None and sc.proxy != proxy:
            continue
        cannot: str | None = None
        try:
            sc.check_requirements()
        except LabSkip as err:
            cannot = str(err)
        rows.append({"name": name, "proxy": sc.proxy, "cause": sc.cause or None, "title": sc.title,
                     "lab": bool(sc.lab), "runnable": cannot is None, "cannot_run": cannot})
    if fmt == "json":
        from why502.textutil import write_json

        write_json(sys.stdout, {"tool": "why502 lab list", "scenarios": rows})
        sys.stdout.write("\n")
        return EXIT_HEALTHY
    for r in rows:
        lab = "" if r["lab"] else " (recording only)"
        note = f"  [cannot run here: {r['cannot_run']}]" if r["cannot_run"] else ""
        print(_wrapped(f"{r['name']:30} {r['proxy']:8} {r['cause'] or '-':24}", f"{r['title']}{lab}{note}"))
    return EXIT_HEALTHY


def _lookup(name: str) -> Scenario:
    scenarios = _scenarios(include_all=True)
    if name not in scenarios:
        known = ", ".join(_scenarios())
        raise UsageError(f"lab: unknown scenario {name!r}; known: {known}")
    return scenarios[name]


def _diagnose_stack(stack: Stack, result: ScenarioRun) -> Report:
    """Run diagnose on the live stack: its config, logs and PHP-FPM files, probes on."""
    from why502.app.diagnose import diagnose

    options = result.diagnose_options(stack)
    with stack.inside():  # a stack in its own network namespace is probed from inside it
        return diagnose(options)


def _run_one(args: argparse.Namespace) -> int:
    from why502.lab.runtime import Stack
    from why502.textutil import strip_terminal_escapes

    scenario = _lookup(args.name)
    scenario.check_requirements()
    if args.output:  # fail before starting nginx and backends, not after the whole run
        import os

        parent = os.path.dirname(os.path.abspath(args.output))
        if os.path.isdir(args.output) or not os.access(parent, os.W_OK):
            why = "is a directory" if os.path.isdir(args.output) else (
                "no such directory" if not os.path.isdir(parent) else "permission denied")
            raise InputError(f"cannot write {args.output}: {why}")
    err = sys.stderr
    print(f"why502 lab: {scenario.name} -- {scenario.title}", file=err)
    print(f"  {scenario.description}", file=err)
    with Stack(keep=bool(args.keep)) as stack:
        result = scenario.run(stack)
        for step in result.steps:
            print(f"  * {step}", file=err)
        statuses = ", ".join(f"{label} -> {status if status is not None else 'no response'}"
                             for label, status in result.responses)
        print(f"  client saw: {statuses}", file=err)
        if args.show_logs:
            from why502.proxies import title

            # the proxy's word and the file's own name: "nginx error.log", "HAProxy haproxy.log"
            log_name = f"{title(result.proxy)} {result.error_log.name if result.error_log else 'error log'}"
            shown = [(log_name, result.error_log), ("php-fpm.log", result.fpm_log),
                     ("kernel.log", result.kernel_log)]
            shown += [(p.name, p) for p in result.app_logs]
            for label, path in shown:
                if path is not None and path.exists():
                    print(f"  --- {label}", file=err)
                    for line in path.read_text(errors="replace").splitlines()[-20:]:
                        print(f"  {strip_terminal_escapes(line)[:300]}", file=err)
        report = _diagnose_stack(stack, result)
        if args.keep:
            print(f"  kept: {stack.root}", file=err)
    print(file=err)
    _emit(report, args.format, args.output, bool(args.verbose))
    top = report.findings[0].cause if report.findings else None
    if top == scenario.cause:
        print(f"\nwhy502 lab: diagnose ranked the expected cause first: {scenario.cause or 'nothing'}",
              file=err)
        return EXIT_HEALTHY
    print(f"\nwhy502 lab: expected {scenario.cause}, diagnose ranked first: {top or 'nothing'}", file=err)
    return EXIT_FINDINGS


def _emit(report: Report, fmt: str | None, output: str | None, verbose: bool) -> None:
    if fmt is None:  # like `why502 render`/`diagnose`: `-o report.html` means HTML
        suffix = output.rsplit(".", 1)[-1].lower() if output and "." in output else ""
        fmt = {"html": "html", "htm": "html", "md": "markdown", "markdown": "markdown",
               "json": "json"}.get(suffix, "text")
    from why502.reporters import RenderOptions, render

    # text coloured only on a terminal, never in a file
    color = fmt == "text" and output is None and sys.stdout.isatty()
    text = render(fmt, report, RenderOptions(color=color, verbose=verbose))
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        return
    try:
        with open(output, "w", encoding="utf-8") as fh:
            fh.write(text)
    except OSError as err:
        raise InputError(f"cannot write {output}: {err.strerror or err}") from None


def _check(names: list[str], noisy: bool = False, proxy: str | None = None, fmt: str = "text") -> int:
    from why502.lab.runtime import LabError, LabSkip, Stack

    scenarios = _scenarios()
    for name in names:
        _lookup(name)
    selected = [_lookup(n) for n in names] if names else list(scenarios.values())
    if proxy is not None:
        selected = [s for s in selected if s.proxy == proxy]
    wrong = 0
    rows: list[dict[str, object]] = []
    text = fmt != "json"  # json: one document at the end
    for scenario in selected:
        row: dict[str, object] = {"scenario": scenario.name, "expected": scenario.cause, "got": None,
                                  "also": [], "result": "ok", "note": None}
        rows.append(row)
        try:
            with Stack() as stack:
                result = scenario.run(stack, noisy=noisy)
                unmet = scenario.unmet(result)
                report = _diagnose_stack(stack, result)
        except LabSkip as err:
            row.update(result="skip", note=str(err))
            if text:
                print(_wrapped(f"skip  {scenario.name:30}", str(err)))
            continue
        except LabError as err:
            row.update(result="error", note=str(err))
            if text:
                print(_wrapped(f"ERROR {scenario.name:30}", str(err)))
            wrong += 1
            continue
        found = [f.cause for f in report.findings]
        top = found[0] if found else "nothing"
        ok = (found[0] if found else None) == scenario.cause  # a control (cause None): nothing
        wrong += 0 if ok else 1
        row.update(got=found[0] if found else None, also=found[1:4], result="ok" if ok else "wrong",
                   note=f"symptoms not logged: {unmet}" if unmet else None)
        if text:
            extra = f"  (symptoms not logged: {unmet})" if unmet else ""
            others = f"  also: {', '.join(found[1:4])}" if len(found) > 1 else ""
            print(_wrapped(f"{'ok   ' if ok else 'WRONG'} {scenario.name:30}",
                           f"expected {scenario.cause or 'nothing':24} got {top}{others}{extra}"))
    if not text:
        from why502.textutil import write_json

        write_json(sys.stdout, {"tool": "why502 lab check", "results": rows, "wrong": wrong})
        sys.stdout.write("\n")
    return EXIT_HEALTHY if wrong == 0 else EXIT_FINDINGS


def _matrix(args: argparse.Namespace) -> int:
    """``lab matrix``: the generated cells (``why502.lab.matrix``), run one by one, a line each
    as it ends (progress), then the table: right / reproduced / run per dimension."""
    import random

    from why502.lab import matrix
    from why502.textutil import dump_json

    faults = {f.name for f in matrix.FAULTS}
    unknown = sorted(set(args.fault or ()) - faults)
    if unknown:
        raise UsageError(f"lab matrix: no fault {', '.join(unknown)} (faults: {', '.join(sorted(faults))})")
    every = matrix.cells()
    unknown = sorted(set(args.cell or ()) - {c.name for c in every})
    if unknown:
        raise UsageError(f"lab matrix: no cell {', '.join(unknown)} (names: lab matrix --list)")
    for flag, values, known in (("backend", args.backend, matrix.BACKENDS),
                                ("traffic", args.traffic,
                                 matrix.TRAFFIC + matrix.CLIENT_TRAFFIC + matrix.FAULT_TRAFFIC),
                                ("noise", args.noise, matrix.NOISE)):
        unknown = sorted(set(values or ()) - set(known))
        if unknown:
            raise UsageError(f"lab matrix: no {flag} {', '.join(unknown)} ({flag}: {', '.join(known)})")
    pool = [c for c in every
            if (not args.proxy or c.proxy in args.proxy)
            and (not args.backend or c.backend in args.backend)
            and (not args.traffic or c.traffic in args.traffic)
            and (not args.noise or c.noise in args.noise)
            and (not args.fault or c.fault.name in args.fault)
            and (not args.cell or c.name in args.cell)]
    if args.shard:
        try:
            index, count = matrix.parse_shard(args.shard)
        except ValueError as err:
            raise UsageError(f"lab matrix: {err}") from None
        pool = matrix.shard(pool, index, count)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    if args.sample < 0:
        raise UsageError("lab matrix: --sample must be 0 (all) or more")
    if not 1 <= args.jobs <= 64:
        raise UsageError("lab matrix: --jobs must be between 1 and 64")
    selected = matrix.sample(args.sample, seed, pool) if args.sample else pool
    if args.list:
        for cell in selected:
            print(f"{cell.name:50} {cell.fault.cause}")
        # the gaps on stderr (stdout stays one cell a line): a proxy with no cell for a fault
        for fault in matrix.FAULTS:
            if not args.fault or fault.name in args.fault:
                for proxy, why in fault.no_cell.items():
                    if not args.proxy or proxy in args.proxy:
                        print(f"no cell {fault.name} behind {proxy}: {why}", file=sys.stderr)
        if not (args.fault or args.cell):  # and the catalog's causes with no fault at all
            for cause, why in matrix.NOT_IN_MATRIX.items():
                print(f"no fault for {cause}: {why}", file=sys.stderr)
        return EXIT_HEALTHY
    print(f"why502 lab matrix: {len(selected)} of {len(pool)} cells, seed {seed}, jobs {args.jobs}",
          file=sys.stderr)

    def line(res: matrix.CellResult) -> None:
        word = "ok   " if res.right else ("NOREP" if not res.reproduced else "WRONG")
        why = res.error or "; ".join(res.violations)
        print(f"{word} {res.cell:50} expected {res.expected:24} got {res.got or '-'}"
              + (f"  ({why})" if why else "") + f"  {res.seconds:.1f}s",
              file=sys.stderr if args.format != "text" else sys.stdout, flush=True)

    def progress(res: matrix.CellResult, done: int, total: int) -> None:
        # with N > 1 the lines wait for the cells before them: say which cell just ended
        print(f"[{done}/{total}] {res.cell} ended ({res.seconds:.1f}s)", file=sys.stderr, flush=True)

    table = matrix.run_cells(selected, line, jobs=args.jobs,
                             on_done=progress if args.jobs > 1 else None)
    if args.format == "json":
        doc: dict[str, object] = {"seed": seed}
        if args.shard:  # what bench/matrix.py --merge checks: which piece of the whole this is
            doc["shard"] = f"{index}/{count}"
            doc["matrix_cells"] = len(every)
        text = dump_json({**doc, "cells": [r.to_dict() for r in table.results]}) + "\n"
    else:
        text = table.markdown()
    sys.stdout.write(text if args.format != "text" else "\n" + text)
    if args.output:
        from why502.cli.output import write_output

        write_output(args.output, text)
    wrong = [r for r in table.results if not r.right and not (r.error or "").startswith("skipped")]
    return EXIT_HEALTHY if not wrong else EXIT_FINDINGS
