"""The native JSON pass (``parsers/lblogs/_jsonscan.c``) on one family's lines, alone: the fold
``stats`` counts with (``json_fold_block``) or the counter ``watch`` counts with
(``json_counts``), on the first MB of a log, in this one thread.

Why: on a shared 2-core VM a timing of the same build moves by 10-40 % from run to run, which
hides a change of a few per cent.  The instructions the pass executes do not move: run this under
callgrind, collecting only inside the pass, and compare the counts of two builds (BENCHMARKS.md
stop 63).  ``--rounds N`` times it instead (the least and the median of N rounds).

    valgrind --tool=callgrind --callgrind-out-file=cg.out --toggle-collect=json_fold_block \\
        .venv/bin/python bench/json_pass_cost.py fold cloudflare LOG --mb 20
    valgrind --tool=callgrind --callgrind-out-file=cg.out --toggle-collect=json_counts \\
        .venv/bin/python bench/json_pass_cost.py counts cloudflare LOG --mb 20
    callgrind_annotate cg.out | head -30          # where, by function
    .venv/bin/python bench/json_pass_cost.py fold cloudflare LOG --mb 100 --rounds 20

``fold`` reads the lines as one block (a single call: what callgrind counts is the pass's);
``counts`` in 1 MiB blocks, as ``watch`` reads a file it catches up on.  The logs:
``bench/gen_lb_logs.py --family cloudflare`` (or traefik-json, envoy-json, caddy).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

COUNT_BLOCK = 1 << 20


def _whole_lines(path: Path, mb: int) -> bytes:
    with open(path, "rb") as fh:
        data = fh.read(mb << 20)
    return data[: data.rfind(b"\n") + 1]


def run_fold(family: str, data: bytes) -> int:
    """The rows one fold counts of ``data`` read as one block."""
    from why502.proxies.logfamilies import families

    fold = families().fold(family)
    if fold is None:
        raise SystemExit(f"{family}: no native fold (not built, WHY502_NATIVE=0, or none for it)")
    frame, _back, counted = fold.block(data)
    return counted + frame.height


def run_counts(family: str, data: bytes) -> int:
    """The requests ``watch``'s native counter counts of ``data`` in 1 MiB blocks."""
    from why502.parsers.lblogs.counts import native_counter
    from why502.proxies.logfamilies import families

    count = native_counter(families().get(family))
    if count is None:
        raise SystemExit(f"{family}: no native counter (not built, or WHY502_NATIVE=0)")
    total, at = 0, 0
    while at < len(data):
        end = data.rfind(b"\n", at, at + COUNT_BLOCK) + 1 if at + COUNT_BLOCK < len(data) else len(data)
        total += sum(count(data[at:end]).statuses.values())
        at = end
    return total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("entry", choices=("fold", "counts"))
    ap.add_argument("family", help="cloudflare, traefik, envoy or caddy")
    ap.add_argument("log", type=Path)
    ap.add_argument("--mb", type=int, default=20, help="the first MB of the log (whole lines)")
    ap.add_argument("--rounds", type=int, default=0, help="time this many rounds instead of one run")
    a = ap.parse_args()
    data = _whole_lines(a.log, a.mb)
    run = run_fold if a.entry == "fold" else run_counts
    if not a.rounds:
        print(f"{a.entry} {a.family}: {run(a.family, data)} lines of {len(data) / 1e6:.1f} MB")
        return
    took = []
    for _ in range(a.rounds):
        start = time.perf_counter()
        run(a.family, data)
        took.append(time.perf_counter() - start)
    print(f"{a.entry} {a.family}: {len(data) / 1e6:.1f} MB, least {min(took):.3f} s "
          f"({len(data) / min(took) / 1e9:.2f} GB/s), median {statistics.median(took):.3f} s")


if __name__ == "__main__":
    main()
