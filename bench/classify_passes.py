"""Where the polars engine's summary spends its CPU: each pass of ``errorlog_batch`` timed in-process.

``why502 classify`` without the native scanner (``WHY502_NATIVE=0``) summarises each batch
(``app.classify.SUMMARY_BATCH_BYTES``) with ``summarize_series``: the framing peel, one streaming
group query (``_engine_groups``, the expressions of ``_group_plan``) and the resolution of its
groups (``_resolve_groups``).  This reads a log's batches once (as ``app.classify`` cuts them),
then reports CPU seconds (this process, all threads) and microseconds per line for:

* the whole ``summarize_series``, the peel, the group query, ``_times_ok``, ``_resolve_groups``;
* the group query with one part taken out (its column a null literal; ``exact`` reduced to "no
  head"; no ``group_by``): what that part costs inside the fused query;
* each regex pass alone over every row, in a streaming query of its own (a pass with nothing
  to do costs the ``len`` row: the per-row floor of a string kernel).

Every figure is the least of ``--repeat`` rounds.  It times private functions, so it follows the
module: a renamed helper needs renaming here.  Do not loop it: the dev machine is shared.

    .venv/bin/python bench/classify_passes.py /tmp/outage-1M.log
    .venv/bin/python bench/classify_passes.py LOG --batches 20 --repeat 3
"""

from __future__ import annotations

import argparse
import resource
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import polars as pl

from why502.app.classify import SUMMARY_BATCH_BYTES, has_escaped_quote, split_lines
from why502.parsers import errorlog
from why502.parsers import errorlog_batch as eb
from why502.parsers.errorlog_peel import peel
from why502.parsers.normalize import FRAGMENT_INSIDE, HEAD_REPAIR_MARKS

Plan = tuple[tuple[str, tuple[pl.Expr, ...]], ...]


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def read_batches(path: Path, limit: int | None) -> list[tuple[pl.Series, bool]]:
    """The log's lines in ``SUMMARY_BATCH_BYTES`` batches cut at a newline, as the summary reads
    them, each with whether it holds an escaped quote."""
    out: list[tuple[pl.Series, bool]] = []
    carry = b""
    with path.open("rb") as f:
        while limit is None or len(out) < limit:
            data = f.read(SUMMARY_BATCH_BYTES)
            if not data:
                break
            data = carry + data
            cut = data.rfind(b"\n") + 1
            batch, carry = data[:cut], data[cut:]
            out.append((split_lines(batch)[0], has_escaped_quote(batch)))
    return out


def least(rounds: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(rounds):
        start = cpu()
        run()
        times.append(cpu() - start)
    return min(times)


def run_plan(batches: list[tuple[pl.Series, bool]], steps: Plan, group: bool = True) -> None:
    for text, _ in batches:
        lf = pl.LazyFrame({"line": text})
        for kind, exprs in steps:
            lf = lf.with_columns(*exprs) if kind == "with" else lf.filter(*exprs) if kind == "filter" \
                else lf.select(*exprs)
        if group:
            lf = lf.group_by(*eb._RAW, "upstream", "exact", "suspect").agg(*eb._GROUP_AGG)
        lf.collect(engine="streaming")


def without(steps: Plan, names: tuple[str, ...]) -> Plan:
    """``steps`` with the last select's ``names`` columns a null literal."""
    kind, exprs = steps[-1]
    kept = tuple(e if e.meta.output_name() not in names
                 else pl.lit(None, dtype=pl.String).alias(e.meta.output_name()) for e in exprs)
    return (*steps[:-1], (kind, kept))


def head_only_exact(steps: Plan) -> Plan:
    """``steps`` with ``exact`` = no head: no repair marks, no errno fragment."""
    return tuple((kind, (pl.col("head").is_null().alias("exact"),))
                 if kind == "with" and exprs[0].meta.output_name() == "exact" else (kind, exprs)
                 for kind, exprs in steps)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log", type=Path,
                    help="an error log of the engine's proxy (bench/classify_bench.py generates them)")
    ap.add_argument("--batches", type=int, default=None, help="read only this many batches")
    ap.add_argument("--repeat", type=int, default=2, help="rounds per figure; the least is kept")
    args = ap.parse_args(argv)
    batches = read_batches(args.log, args.batches)
    lines = sum(text.len() for text, _ in batches)
    rows: list[tuple[str, float]] = []

    def add(name: str, run: Callable[[], object]) -> None:
        rows.append((name, least(args.repeat, run)))
        print(f"{name:58s} {rows[-1][1]:7.3f} CPU-s {rows[-1][1] / lines * 1e6:6.2f} us/line", flush=True)

    print(f"{args.log}: {lines:,} lines in {len(batches)} batches of {SUMMARY_BATCH_BYTES >> 20} MiB")
    add("summarize_series", lambda: [eb.summarize_series(t, may_have_cr=False, may_have_escapes=e)
                                     for t, e in batches])
    add("  peel", lambda: [peel(t) for t, _ in batches])
    groups = [eb._engine_groups(t, None, e, upstream_exact=False) for t, e in batches]
    add("  group query (_engine_groups)", lambda: [eb._engine_groups(t, None, e, upstream_exact=False)
                                                   for t, e in batches])
    fast = [g.filter(~pl.col("exact")) for g in groups]
    add("  _times_ok", lambda: [eb._times_ok(g) for g in fast])
    add("  _resolve_groups", lambda: [eb._resolve_groups(g) for g in fast])
    steps = eb._group_plan(None, any(e for _, e in batches), False)
    add("query, as built", lambda: run_plan(batches, steps))
    add("  without group_by", lambda: run_plan(batches, steps, group=False))
    add("  exact = no head (no marks, no fragment)", lambda: run_plan(batches, head_only_exact(steps)))
    for names in (("errno",), ("action",), ("upstream",), ("detail", "also"), ("time", "level")):
        add(f"  without {', '.join(names)}", partial(run_plan, batches, without(steps, names)))
    line = pl.col("line")
    head, key = eb._head_exprs()
    passes: dict[str, tuple[pl.Expr, ...]] = {
        "len (the per-row floor)": (line.str.len_bytes(),),
        "head + key phrase (anchored extract)": (head,),
        "head + key phrase, then the key": (head, key),
        "head (contains, no key)": (line.str.contains(errorlog.ENGINE_HEAD_PREFIX),),
        "repair marks (HEAD_REPAIR_MARKS)": (line.str.contains(HEAD_REPAIR_MARKS),),
        "errno fragment (FRAGMENT_INSIDE)": (line.str.contains(FRAGMENT_INSIDE),),
        "errno": (line.str.extract(eb._ERRNO0, 0),),
        "action": (line.str.extract(eb._ACTION0, 0),),
        "upstream peer": (line.str.extract(eb._PEER0, 0),),
    }
    for name, exprs in passes.items():
        chain = exprs

        def one(chain: tuple[pl.Expr, ...] = chain) -> None:
            for text, _ in batches:
                lf = pl.LazyFrame({"line": text})
                for expr in chain[:-1]:
                    lf = lf.with_columns(expr)
                lf.select(chain[-1]).collect(engine="streaming")

        add(f"alone: {name}", one)
    return 0


if __name__ == "__main__":
    sys.exit(main())
