"""``why502 stats`` and ``classify`` on every load-balancer / proxy family, next to ``grep -c`` on
the same file in the same run (issue "every log family at nginx's speed").

Each family's failure-dense log comes from ``bench/gen_lb_logs.py`` (kept in ``--out`` and reused),
is read once into the page cache, then each command runs once: wall seconds, CPU seconds (user +
system of the child) and peak RSS (``stats_bench.run``), lines/s and the ratio to
``LC_ALL=C grep -c ' 50[234] '`` -- the one-liner a user would run instead.  The machine's
``uptime`` load goes with each table.

    python bench/lb_bench.py --lines 1000000                         # every family, 1M lines
    python bench/lb_bench.py --family cloudflare --lines 1000000 5000000 20000000 --only stats

Targets: >= 1M lines/s per family, RSS < 300 MB and flat from 1M to 20M lines.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gen_lb_logs import FAMILIES, apache_conf, write  # noqa: E402
from stats_bench import run, warm  # noqa: E402

# WHY502=/path/to/why502 compares another build (e.g. main's venv) on the same files
WHY502 = os.environ.get("WHY502") or str(Path(sys.executable).with_name("why502"))


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def command(kind: str, family: str, log: Path) -> list[str]:
    extra = ["--proxy", "haproxy"] if family == "haproxy" and kind == "stats" else []
    if family == "apache" and kind == "stats":  # its LogFormat is the config's (gen_lb_logs.apache_conf)
        extra = ["--proxy", "apache", "--config", str(log.with_suffix(".conf"))]
    fmt = ["--format", "json"] if kind == "stats" else ["--format", "jsonl"]
    return [WHY502, kind, *extra, str(log), *fmt, "--no-progress"] if kind == "stats" else \
        [WHY502, kind, str(log), *fmt]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", nargs="*", default=list(FAMILIES), choices=list(FAMILIES))
    ap.add_argument("--lines", type=int, nargs="*", default=[1_000_000])
    ap.add_argument("--only", choices=("stats", "classify"), action="append")
    ap.add_argument("--out", type=Path, default=HERE / "out" / "lb")
    args = ap.parse_args()
    kinds = args.only or ["stats", "classify"]
    print("| family | lines | command | wall s | CPU s | peak RSS MB | lines/s | grep -c s | ratio (wall) "
          "| ratio (CPU) | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for fam in args.family:
        for n in args.lines:
            log = write(fam, n, args.out)
            if fam == "apache":
                apache_conf(args.out.resolve(), log.resolve())
            warm(log)
            gwall, _grss, _rc, _gout, gcpu, _e = run(["grep", "-c", " 50[234] ", str(log)],
                                                    env={**os.environ, "LC_ALL": "C"})
            for kind in kinds:
                wall, rss, rc, _out, cpu, tail = run(command(kind, fam, log))
                note = "" if rc in (0, 1) else f" (exit {rc}: {tail[:80]})"
                print(f"| {fam} | {n:,} | {kind}{note} | {wall:.2f} | {cpu:.2f} | {rss:.0f} | "
                      f"{n / wall / 1e6:.2f}M | {gwall:.2f} | {wall / gwall:.1f}x | "
                      f"{cpu / max(gcpu, 1e-3):.1f}x | "
                      f"{load()} |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
