"""The native JSON pass (``parsers/lblogs/_jsonscan.c``) alone, in this process: how fast it reads
a block into columns and how fast ``stats``' fold counts a whole file, without the CLI around it.

Why: a change to the pass (the key compare of stop 60, a table prefetch) moves ``stats`` and
``diagnose`` by a few percent among the start, the reading and the take; measured alone it shows
what the pass itself gained.  ``bench/lb_bench.py`` writes the logs (``--out``).

    python bench/json_pass.py --out /tmp/lb                        # every JSON family, 1M lines
    python bench/json_pass.py --out /tmp/lb --family cloudflare --runs 5

Per family, best of ``--runs``: ``block`` -- the first 64 MB through ``json_columns`` (the
family's block reader: Cloudflare's and Envoy's; one thread, the same block each run), through
the fold and through ``watch``'s counter (``json_counts``, in the 1 MiB reads of its catch-up);
``file`` -- the whole file, read into memory first in 8 MB blocks, through a new fold each run
(its tables grow as on a real read: ~175k groups for Cloudflare's 1M lines).

On a shared machine a timing of one build moves by 10-40 % from run to run, which hides a change
of a few per cent; the instructions the pass executes do not move.  ``--once fold|counts`` runs
that entry once on the first ``--mb`` MB, for callgrind collecting inside the pass only -- compare
the counts of two builds (BENCHMARKS.md stop 63):

    valgrind --tool=callgrind --toggle-collect=json_fold_block \
        python bench/json_pass.py --out /tmp/lb --family cloudflare --once fold --mb 20
    valgrind --tool=callgrind --toggle-collect=json_counts \
        python bench/json_pass.py --out /tmp/lb --family cloudflare --once counts --mb 20
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))

#: the bench's log name -> the family's name
FAMILIES = {"cloudflare": "cloudflare", "envoy-json": "envoy", "caddy": "caddy", "traefik-json": "traefik"}


def blocks_of(path: Path, size: int, limit: int | None = None) -> list[bytes]:
    """``path`` in blocks of about ``size`` bytes cut after a newline (at most ``limit`` bytes)."""
    out: list[bytes] = []
    rest = b""
    done = 0
    with path.open("rb") as fh:
        while limit is None or done < limit:
            chunk = fh.read(size)
            if not chunk:
                break
            data = rest + chunk
            cut = data.rfind(b"\n") + 1
            out.append(data[:cut])
            rest = data[cut:]
            done += cut
    return out


def best(runs: int, work: Callable[[], Any]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def counter(name: str) -> Callable[[list[bytes]], int]:
    """``watch``'s native counter of the family (``parsers.lblogs.counts``) over some blocks: the
    requests it counted."""
    from why502.parsers.lblogs.counts import native_counter
    from why502.proxies.logfamilies import families

    count = native_counter(families().get(FAMILIES[name]))
    assert count is not None, f"{name}: no native counter (not built, or WHY502_NATIVE=0)"
    return lambda blocks: sum(sum(count(b).statuses.values()) for b in blocks)


def once(name: str, path: Path, entry: str, mb: int) -> None:
    """``--once``: the fold on the first ``mb`` MB as one block, or the counter on them in 1 MiB
    reads, a single time (what callgrind counts)."""
    from why502.proxies.logfamilies import families

    if entry == "fold":
        block = blocks_of(path, mb << 20, mb << 20)[0]
        fold = families().fold(FAMILIES[name])
        assert fold is not None
        frame, _back, counted = fold.block(block)
        print(f"{name}: the fold counted {counted + frame.height} lines of {len(block) / 1e6:.1f} MB")
        return
    blocks = blocks_of(path, 1 << 20, mb << 20)
    print(f"{name}: the counter counted {counter(name)(blocks)} requests of "
          f"{sum(map(len, blocks)) / 1e6:.1f} MB")


def columns_reader(name: str) -> Callable[[bytes], Any] | None:
    """The family's native column pass on a block, where it has one of its own."""
    from why502.parsers.lblogs import batch

    if name == "cloudflare":
        return lambda data: batch.json_block(data, batch.CLOUDFLARE_SCHEMA, batch._CF_NATIVE)
    if name == "envoy-json":
        from why502.proxies.envoy import frame

        return lambda data: batch.json_block(data, frame.SCHEMA, frame._NATIVE)
    return None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=HERE / "out" / "lb", help="where lb_bench.py wrote the logs")
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--family", action="append", choices=sorted(FAMILIES))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--once", choices=("fold", "counts"), help="run this entry once (for callgrind)")
    ap.add_argument("--mb", type=int, default=20, help="--once: the first MB of the log")
    a = ap.parse_args()
    from why502.proxies.logfamilies import families

    for name in a.family or sorted(FAMILIES):
        path = a.out / f"{name}-{a.lines}.log"
        if not path.is_file():
            print(f"{name}: no {path} (bench/gen_lb_logs.py --family {name} --lines {a.lines} --out {a.out})")
            continue
        if a.once:
            once(name, path, a.once, a.mb)
            continue
        block = blocks_of(path, 64 << 20, 64 << 20)[0]
        fold = families().fold(FAMILIES[name])
        assert fold is not None
        took = best(a.runs, partial(fold.block, block))
        print(f"{name:13s} block, the fold     {len(block) / took / 1e9:5.2f} GB/s", flush=True)
        reads = blocks_of(path, 1 << 20, 64 << 20)
        took = best(a.runs, partial(counter(name), reads))
        print(f"{name:13s} block, the counter  {sum(map(len, reads)) / took / 1e9:5.2f} GB/s", flush=True)
        reader = columns_reader(name)
        if reader is not None:
            took = best(a.runs, partial(reader, block))
            print(f"{name:13s} block, the columns  {len(block) / took / 1e9:5.2f} GB/s", flush=True)
        whole = blocks_of(path, 8 << 20)
        size = sum(map(len, whole))

        def fold_file(whole: list[bytes] = whole, fam: str = FAMILIES[name]) -> None:
            fold = families().fold(fam)
            assert fold is not None
            for b in whole:
                fold.block(b)

        took = best(a.runs, fold_file)
        print(f"{name:13s} file, the fold      {size / took / 1e9:5.2f} GB/s ({took:.3f} s)", flush=True)


if __name__ == "__main__":
    main()
