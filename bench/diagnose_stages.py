"""Where `why502 diagnose`'s CPU goes, stage by stage, without a profiler.

cProfile's per-call overhead made Python-heavy stages look several times bigger than they are
(the catalog's "199 regex compiles" were 0.26 s under it and are 37 ms without; JSON rendering
0.28 s against 0.03 s: BENCHMARKS.md, 2026-11-24 stop 36). This wraps a few functions with
``time.process_time`` (the whole process's clock: a stage includes the polars and classify
threads that run during it) and runs ``why502`` in this process.

    python bench/diagnose_stages.py diagnose --offline --nginx-conf HOST/nginx.conf --format json
    python bench/diagnose_stages.py --wrap why502.evidence.aggregate:LogAggregator.add -- diagnose ...
    python bench/diagnose_stages.py --thread-clock diagnose ...   # the main thread's own CPU only

Run it with the allocator setting of the command (`cli.main.ALLOCATOR`). This script imports
polars before `main` sets `_RJEM_MALLOC_CONF`, so the setting must already be in the
environment.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib
import io
import os
import sys
import time
from collections.abc import Callable
from typing import Any

START = time.process_time()
STAGES = [
    ("why502.cli.threads:ensure_threads", "ensure_threads"),
    ("why502.app.diagnose.inputs:read_config", "config (inputs.read_config)"),
    # the access log is read on its own thread while the error logs are classified (since stop
    # 40, BENCHMARKS.md): the process clock of the error-log stage counts both passes, and the
    # access-log stage is then only the join and the finish
    ("why502.app.diagnose.logfacts:read_logs", "all logs (logfacts.read_logs)"),
    ("why502.app.diagnose.logs:classify_into", "error logs (logs.classify_into)"),
    ("why502.app.diagnose.access:access_stats", "access log (access.access_stats)"),
    ("why502.app.diagnose.report:report_from", "analyzers, rank, report (report_from)"),
    ("why502.reporters.json.report:to_json", "JSON rendering (to_json)"),
]


CLOCK: list[Callable[[], float]] = [time.process_time]  # --thread-clock: thread_time, --wall: perf_counter


def _timed(orig: Callable[..., Any], label: str, totals: dict[str, float]) -> Callable[..., Any]:
    @functools.wraps(orig)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        clock = CLOCK[0]
        t = clock()
        try:
            return orig(*args, **kwargs)
        finally:
            totals[label] = totals.get(label, 0.0) + clock() - t
    return wrapper


def wrap(spec: str, label: str, totals: dict[str, float]) -> None:
    """Replace ``module:function`` (in every module that imported it) or ``module:Class.method``."""
    modname, name = spec.split(":", 1)
    module = importlib.import_module(modname)
    if "." in name:
        cls_name, meth = name.split(".", 1)
        cls = getattr(module, cls_name)
        setattr(cls, meth, _timed(getattr(cls, meth), label, totals))
        return
    orig = getattr(module, name)
    new = _timed(orig, label, totals)
    for mod in list(sys.modules.values()):
        for key, value in list(getattr(mod, "__dict__", {}).items()):
            if value is orig:
                setattr(mod, key, new)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wrap", action="append", default=[], metavar="MODULE:NAME",
                    help="time this function too (repeatable)")
    ap.add_argument("--thread-clock", action="store_true",
                    help="time each stage on the calling thread's clock (time.thread_time): the "
                         "access-log thread and polars' pool are then left out of the stages")
    ap.add_argument("--wall", action="store_true",
                    help="time each stage on the wall clock (time.perf_counter): what the user waits "
                         "for, passes that overlap counted once in their common stage")
    ap.add_argument("argv", nargs=argparse.REMAINDER, help="the why502 command line")
    args = ap.parse_args()
    argv = [a for a in args.argv if a != "--"]
    if args.thread_clock:
        CLOCK[0] = time.thread_time
    if args.wall:
        CLOCK[0] = time.perf_counter
    if "_RJEM_MALLOC_CONF" not in os.environ:
        print("note: _RJEM_MALLOC_CONF is not set: polars runs on its own allocator defaults here",
              file=sys.stderr)
    totals: dict[str, float] = {}
    t = CLOCK[0]()
    for spec, _ in STAGES:  # imported now so they can be wrapped: their import is a stage
        importlib.import_module(spec.split(":")[0])
    importlib.import_module("why502.app.diagnose.gather")
    totals["imports (polars included)"] = CLOCK[0]() - t
    for spec, label in STAGES + [(s, s) for s in args.wrap]:
        wrap(spec, label, totals)
    from why502.cli.main import main as why502_main

    with contextlib.redirect_stdout(io.StringIO()):
        code = why502_main(argv)
    for label, seconds in totals.items():
        print(f"{seconds:7.3f} s  {label}")
    print(f"{time.process_time() - START:7.3f} s  whole run in this process (exit {code})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
