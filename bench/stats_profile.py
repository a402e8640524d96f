"""Where the CPU of `why502 stats`'s access-log pass goes, stage by stage, in this process.

polars 2 has no ``LazyFrame.profile()`` any more (removed: its per-node timings were the
in-memory engine's), so each stage is run on its own and timed with ``time.process_time``
(the whole process's clock: polars' threads count).  Stages, on the first ``--lines`` lines:

- the reader's split at the quotes alone (one column, then the columns the format needs);
- the parse plan (``LineParser.fields_plan``), then the typed rows (``RowPlan.typed``) as the
  streaming scan runs them, with the row index ``app.stats.read._scan_into`` adds;
- with the C scanner built (``LineParser.runs_native``), the native reader's split and parse of
  the same lines in its byte chunks, then with the typed rows and the aggregation of each chunk
  (``Reducer.partial``, what its worker threads run);
- the aggregation (``Reducer.partial_batch``) of ``GROUP_ROWS``-row groups of those rows, and
  each of its lazy queries collected on its own (their sum is more than the whole, which runs
  them side by side);
- the whole ``run_stats`` (no error log; natively when built, then with ``WHY502_NATIVE=0``),
  and its top functions under cProfile (main thread: a polars call's time is the wall time the
  main thread waited for it).

    python bench/stats_profile.py ACCESS_LOG                 # the stats views (why502 stats)
    python bench/stats_profile.py ACCESS_LOG --diagnose --config nginx.conf   # diagnose's views

Run it with the command's allocator setting (``cli.main.ALLOCATOR["stats"]`` in
``_RJEM_MALLOC_CONF``) for figures comparable to the CLI's.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from collections.abc import Callable
from typing import Any

import polars as pl

from why502 import proxies
from why502.app.stats.formats import choose_format
from why502.app.stats.read import NATIVE_CHUNKS
from why502.app.stats.run import StatsOptions, run_stats
from why502.evidence.stats import StatsAccumulator
from why502.evidence.stats.reduce import Partial
from why502.parsers.log_format import ByteChunk
from why502.sources.byte_chunks import CHUNK_BYTES, iter_byte_chunks
from why502.sources.scan import BATCH_ROWS, GROUP_ROWS, scan_split


def clock(label: str, fn: Callable[[], Any]) -> Any:
    c, w = time.process_time(), time.perf_counter()
    out = fn()
    print(f"{time.process_time() - c:8.3f} CPU-s {time.perf_counter() - w:8.3f} s wall  {label}")
    return out


def drain(lf: pl.LazyFrame) -> int:
    return sum(b.height for b in lf.collect_batches(chunk_size=BATCH_ROWS))


def _first_chunks(path: str, lines: int) -> list[ByteChunk]:
    """The native reader's byte chunks (``app.stats.read``) that hold the first ``lines`` lines."""
    out: list[ByteChunk] = []
    seen = 0
    for chunk in iter_byte_chunks([path], int(CHUNK_BYTES * NATIVE_CHUNKS), None, count_lines=False):
        out.append(chunk)
        seen += chunk.data.count(b"\n")
        if seen >= lines:
            break
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("log")
    ap.add_argument("--lines", type=int, default=1_000_000, help="lines of the log staged (default 1M)")
    ap.add_argument("--diagnose", action="store_true", help="diagnose's views (RowPlan.stats_views off)")
    ap.add_argument("--config", help="the nginx config whose log_format the log is in (default: guessed)")
    args = ap.parse_args()
    cfg = proxies.source_of().load_config(args.config) if args.config else None
    fmt, source = choose_format(None, cfg, [args.log], keep=True)
    print(f"log format: {source}")
    acc = StatsAccumulator(fmt, tz="UTC", stats_views=not args.diagnose)
    reducer = acc.reducer
    split = scan_split(args.log, reducer.parser.split_columns).head(args.lines)
    read_cols = [f"column_{i + 1}" for i in reducer.parser.columns]
    clock("split at the quotes, one column", lambda: drain(split.select(read_cols[0])))
    clock(f"split at the quotes, the {len(read_cols)} columns read", lambda: drain(split.select(read_cols)))
    clock("parse plan (fields_plan)", lambda: drain(reducer.parser.fields_plan(split)))
    clock("typed rows (scan_plan)", lambda: drain(reducer.scan_plan(split)))
    numbered = reducer.scan_plan(split).with_row_index("_row")
    clock("typed rows + row index (as _scan_into)", lambda: drain(numbered))
    if reducer.parser.runs_native:
        # the native reader's stages (``app.stats.read._native_into``) on the same lines
        chunks = _first_chunks(args.log, args.lines)
        clock(f"C split and parse of {len(chunks)} chunks (LineParser.parse: access_columns, Arrow import)",
              lambda: [reducer.parser.parse(c.data) for c in chunks])
        clock("C split and parse + typed rows + aggregation (Reducer.partial, the reader's workers)",
              lambda: [reducer.partial(c) for c in chunks])
    rows = numbered.collect()
    groups = [rows.slice(i, GROUP_ROWS) for i in range(0, rows.height, GROUP_ROWS)]
    clock(f"aggregation of {len(groups)} groups (partial_batch)",
          lambda: [reducer.partial_batch(g, args.log) for g in groups])
    # each query of the aggregation alone: the calls to collect_all are caught and re-run
    caught: list[list[pl.LazyFrame]] = []
    real = pl.collect_all

    def catch(queries: Any, *a: Any, **k: Any) -> Any:
        caught.append(list(queries))
        return real(queries, *a, **k)

    totals: dict[tuple[int, int], float] = {}
    plans: dict[tuple[int, int], str] = {}
    for g in groups:
        caught.clear()
        pl.collect_all = catch  # type: ignore[assignment]
        try:
            reducer._aggregate(g, Partial(path=args.log))
        finally:
            pl.collect_all = real  # type: ignore[assignment]
        for step, queries in enumerate(caught):
            for k, q in enumerate(queries):
                c = time.process_time()
                q.collect()
                totals[(step, k)] = totals.get((step, k), 0.0) + time.process_time() - c
                plans[(step, k)] = q.explain().splitlines()[0].strip()[:90]
    for key, secs in totals.items():
        print(f"{secs:8.3f} CPU-s   collect_all #{key[0] + 1} query {key[1]:2d}: {plans[key]}")
    opts = StatsOptions(paths=[args.log], config=cfg, no_error_log=True, stdin_default=False,
                        stats_views=not args.diagnose)
    print("(the whole run below reads the whole file)")
    clock("whole run_stats", lambda: run_stats(opts))
    if reducer.parser.runs_native:
        os.environ["WHY502_NATIVE"] = "0"
        clock("whole run_stats, polars alone (WHY502_NATIVE=0)", lambda: run_stats(opts))
        del os.environ["WHY502_NATIVE"]
    prof = cProfile.Profile()
    prof.enable()
    run_stats(opts)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(8)
    print("\n".join(out.getvalue().splitlines()[4:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
