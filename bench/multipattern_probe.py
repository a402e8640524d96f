"""Would a native multi-pattern scanner make ``classify``'s summary faster?  Measures it.

``why502 classify`` (the summary) runs one polars query per 4 MiB batch: ~6 regex calls per keyed
line at ~150-270 ns each (BENCHMARKS.md).  This probe measures, in one process, with one polars
thread and CPU time (``time.process_time``; the dev machine is shared, wall time means little),
best of ``--rounds``, alternated:

* ``summarize_series`` on every line of each batch (the engine as it is), against
* the same query on only the lines a **hyperscan** database (the PyPI wheel) says may match:
  every catalog needle, case-insensitive, in one pattern ``(?:needles)[^\\n]*\\n`` so that a line
  is reported once; its line index is found with numpy (``searchsorted`` on the line ends).
  The summaries must be equal (a line with no needle can be recognised by no rule);
* the cost of the scans themselves: the key alternation (``errorlog_batch._key_alternation``)
  and the anchored nginx head + key (``^head key``, multiline) with a callback per match, and the
  same databases with ``\\x01`` appended (they then never match: the scan without callbacks);
* the key alternation's scan through **pyperscan** (the other binding, Rust/pyo3), to see whether
  the cost of a Python call per match is the binding's;
* ``re2.Set`` (google-re2) over each line, one pattern per key (head + key), for comparison.

hyperscan, pyperscan, google-re2 and numpy are not dependencies of why502: install them in the
venv first (``.venv/bin/pip install hyperscan pyperscan google-re2 numpy``); what is missing is
skipped.

    .venv/bin/python bench/multipattern_probe.py --shape outage --lines 300000
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("POLARS_MAX_THREADS", "1")  # CPU per line, not how well threads overlap

import polars as pl

from why502.app.classify import split_lines
from why502.parsers import errorlog
from why502.parsers import errorlog_batch as eb

sys.path.insert(0, str(Path(__file__).resolve().parent))
import classify_bench

BATCH = 4 << 20  # the summary's batch size (app.classify.SUMMARY_BATCH_BYTES)


def optional(name: str) -> Any:
    """The module, or None when it is not installed (the probe then skips its part)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


def batches_of(path: Path) -> list[bytes]:
    """The file in 4 MiB batches of whole lines, as ``iter_byte_batches`` cuts them."""
    out: list[bytes] = []
    rest = b""
    with path.open("rb") as f:
        while chunk := f.read(BATCH):
            chunk = rest + chunk
            cut = chunk.rfind(b"\n") + 1
            out.append(chunk[:cut])
            rest = chunk[cut:]
    if rest:
        out.append(rest + b"\n")
    return out


def hs_escape(text: str) -> str:
    """A literal for a hyperscan (PCRE-syntax) pattern: everything but letters and digits as \\xNN."""
    return "".join(c if c.isascii() and c.isalnum() else f"\\x{ord(c):02x}" for c in text)


def best_cpu(fn: Callable[[bytes], object], batches: list[bytes]) -> float:
    """CPU seconds of ``fn`` over all batches (one round)."""
    start = time.process_time()
    for b in batches:
        fn(b)
    return time.process_time() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--shape", choices=sorted(classify_bench.SHAPES), default="outage")
    ap.add_argument("--lines", type=int, default=300_000)
    ap.add_argument("--rounds", type=int, default=4)
    args = ap.parse_args()
    hs, re2, np = optional("hyperscan"), optional("re2"), optional("numpy")
    pyperscan = optional("pyperscan")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "error.log"
        classify_bench.generate(path, args.lines, shape=args.shape)
        batches = batches_of(path)
    total = sum(split_lines(b)[0].len() for b in batches)
    per_m = 1e6 / total

    def engine(raw: bytes) -> pl.DataFrame:
        lines = split_lines(raw)[0]
        return eb.summarize_series(lines, may_have_cr=b"\r" in raw, may_have_escapes=b'\\"' in raw)

    results: dict[str, list[float]] = {"engine": []}
    print(f"{args.shape}: {total:,} lines in {len(batches)} batches; CPU-s per 1M lines, best of "
          f"{args.rounds}, one polars thread")
    if hs is None or np is None:
        print("hyperscan or numpy not installed: only the engine is measured")
        for _ in range(args.rounds):
            results["engine"].append(best_cpu(engine, batches))
        print(f"engine: {min(results['engine']) * per_m:.3f}")
        return 0

    def database(expr: str, flags: int) -> Any:
        db = hs.Database(mode=hs.HS_MODE_BLOCK)
        db.compile(expressions=[expr.encode()], ids=[0], flags=[flags])
        return db

    def ends(db: Any, raw: bytes) -> list[int]:
        found: list[int] = []
        add = found.append

        def on_match(_id: int, _start: int, end: int, _flags: int, _ctx: object) -> None:
            add(end)

        db.scan(raw, match_event_handler=on_match)
        return found

    needles = "(?:" + "|".join(hs_escape(n) for n in eb.prefilter_needles()) + ")"
    per_line = database(needles + "[^\\n]*\\n", hs.HS_FLAG_CASELESS)

    def prefiltered(raw: bytes) -> pl.DataFrame:
        lines = split_lines(raw)[0]
        hits = ends(per_line, raw)
        stops = np.cumsum(lines.str.len_bytes().cast(pl.Int64).to_numpy() + 1)
        rows = np.searchsorted(stops, np.asarray(hits, dtype=np.int64), side="left")
        return eb.summarize_series(lines.gather(rows), may_have_cr=b"\r" in raw,
                                   may_have_escapes=b'\\"' in raw)

    def merged(frames: list[pl.DataFrame]) -> pl.DataFrame:
        return (pl.concat(frames).group_by("symptom", "status", "source", "upstream")
                .agg(pl.col("n").sum(), pl.col("first").min(), pl.col("last").max()).sort(pl.all()))

    same = merged([engine(b) for b in batches]).equals(merged([prefiltered(b) for b in batches]))
    candidates = sum(len(ends(per_line, b)) for b in batches)
    print(f"summary with the needle prefilter equal to the engine's: {same}; "
          f"lines with a needle: {candidates / total:.1%}")
    results["prefilter + engine on candidates"] = []
    for _ in range(args.rounds):  # alternated, so load changes hit both alike
        results["engine"].append(best_cpu(engine, batches))
        results["prefilter + engine on candidates"].append(best_cpu(prefiltered, batches))
    keys = eb._key_alternation()
    head_key = errorlog.ENGINE_HEAD_PREFIX + keys
    scans = {
        "needle line scan (callback per line)": per_line,
        "key alternation (callback per match)": database(keys, 0),
        "key alternation + \\x01 (no match)": database(keys + "\\x01", 0),
        "^head key, multiline (callback per match)": database(head_key, hs.HS_FLAG_MULTILINE),
        "^head key + \\x01, multiline (no match)": database(head_key + "\\x01", hs.HS_FLAG_MULTILINE),
    }
    matches = {name: sum(len(ends(db, b)) for b in batches) for name, db in scans.items()}
    for name, db in scans.items():
        results[name] = [best_cpu(lambda b, db=db: ends(db, b), batches) for _ in range(args.rounds)]
    if pyperscan is not None:
        for name, expr in (("pyperscan: key alternation (callback per match)", keys),
                           ("pyperscan: key alternation + \\x01 (no match)", keys + "\\x01")):
            found: list[int] = []

            def on_pmatch(ctx: list[int], _tag: object, _start: int, end: int) -> Any:
                ctx.append(end)
                return pyperscan.Scan.Continue

            scanner = pyperscan.BlockDatabase(pyperscan.Pattern(expr.encode())).build(found, on_pmatch)
            results[name] = [best_cpu(scanner.scan, batches) for _ in range(args.rounds)]
            matches[name] = len(found) // args.rounds
    if re2 is not None:
        rules = re2.Set.SearchSet(re2.Options())
        plain, prefixed = errorlog.engine_keys()
        for k in plain:
            rules.Add(errorlog.ENGINE_HEAD_PREFIX + errorlog.rx_escape(k))
        for k in prefixed:
            rules.Add(errorlog.ENGINE_HEAD_PREFIX + "[^ ]+ " + errorlog.rx_escape(k))
        rules.Compile()

        def re2_lines(raw: bytes) -> int:
            return sum(1 for line in raw.split(b"\n") if rules.Match(line))

        results["re2.Set per line, head + key per rule"] = [
            best_cpu(re2_lines, batches) for _ in range(args.rounds)]
    for name, runs in results.items():
        extra = f"  ({matches[name] / total:.2f} matches per line)" if name in matches else ""
        print(f"{name:50s} {min(runs) * per_m:6.3f} CPU-s per 1M lines  "
              f"{total / min(runs) / 1e6:5.2f}M lines/CPU-s{extra}")
    paid = (min(results["key alternation (callback per match)"])
            - min(results["key alternation + \\x01 (no match)"]))
    print(f"hyperscan callback: {paid / max(1, matches['key alternation (callback per match)']) * 1e6:.2f} "
          "us per match (the wheel releases the GIL for the scan and takes it back for every match)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
