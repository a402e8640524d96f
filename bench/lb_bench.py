"""``why502 stats`` and ``classify`` on every load-balancer / proxy family, next to ``grep -c`` on
the same file in the same run (issue "every log family at nginx's speed").

Each family's failure-dense log comes from ``bench/gen_lb_logs.py`` (kept in ``--out`` and reused),
is read once into the page cache, then each command runs once: wall seconds, CPU seconds (user +
system of the child) and peak RSS (``stats_bench.run``), lines/s and the ratio to
``LC_ALL=C grep -c ' 50[234] '`` -- the one-liner a user would run instead.  The machine's
``uptime`` load goes with each table.

    python bench/lb_bench.py --lines 1000000                         # every family, 1M lines
    python bench/lb_bench.py --only classify-summary                 # classify's summary (--format json)
    python bench/lb_bench.py --only diagnose                         # diagnose --offline --access-log F
    python bench/lb_bench.py --family cloudflare --lines 1000000 5000000 20000000 --only stats
    python bench/lb_bench.py --gz-folder --lines 1000000 --only stats --only classify  # ALB .gz folder
    python bench/lb_bench.py --lines 200000 --crlf --utf8 --only stats --only classify --only diagnose
    python bench/lb_bench.py --hours 24 --only stats      # a day's lines: each value in many minutes

``--crlf`` also times each command on a copy of the log with CRLF line ends (a log written or
copied on Windows), ``--utf8`` on a copy whose ``/api/v1/users/42`` paths (one line in seven)
are ``/api/v1/usérs/42``, next to the plain log, with whether the outputs are the same once the
file names are: the native passes handed such lines back to the Python or polars readers, 2-13x
slower, until stop 69 (BENCHMARKS.md; the text passes still hand UTF-8 lines back).

``--gz-folder`` writes ``--lines`` ALB lines as AWS does (``gen_lb_logs.alb_folder``: one
``.log.gz`` per node and five minutes, 3-10k lines each, gzip -6) and times, interleaved round
by round, ``stats DIR`` (``--only classify`` / ``--only stats --only classify`` for those) one
file after the other (``WHY502_READ_AHEAD=0``) and with the files inflated ahead on a thread
(``sources.readahead``; the default budget, or each of ``--budgets``), and the peer
``find DIR -name '*.gz' -print0 | xargs -0 zcat | grep -c``; the median of each is printed.

Targets: >= 1M lines/s per family, RSS < 300 MB and flat from 1M to 20M lines.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from gen_lb_logs import FAMILIES, alb_folder, apache_conf, write  # noqa: E402
from stats_bench import run, warm  # noqa: E402

# WHY502=/path/to/why502 compares another build (e.g. main's venv) on the same files
WHY502 = os.environ.get("WHY502") or str(Path(sys.executable).with_name("why502"))


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def command(kind: str, family: str, log: Path) -> list[str]:
    extra = ["--proxy", "haproxy"] if family == "haproxy" and kind == "stats" else []
    if family == "apache" and kind == "stats":  # its LogFormat is the config's (gen_lb_logs.apache_conf)
        extra = ["--proxy", "apache", "--config", str(log.with_suffix(".conf"))]
    if kind == "stats":
        return [WHY502, kind, *extra, str(log), "--format", "json", "--no-progress"]
    if kind == "diagnose":  # the edge's log alone, offline: the report the on-call reads first
        named = ["--proxy", family, "--config", str(log.with_suffix(".conf"))] if family == "apache" else []
        return [WHY502, "diagnose", "--offline", *named, "--access-log", str(log), "--format", "json"]
    # classify: a row per failure (jsonl), or the summary (--format json: what the default
    # text table shows, counted as stats reads the log)
    return [WHY502, "classify", str(log), "--format", "json" if kind == "classify-summary" else "jsonl"]


def gz_folder(lines: int, out: Path, rounds: int, budgets: list[str], kinds: list[str]) -> None:
    """``stats`` (and ``classify``) on an ALB folder of ``.gz`` files: read ahead (each budget) vs
    one file after the other vs ``zcat | grep -c``, interleaved, medians (issue 28 item 2)."""
    import hashlib
    import statistics

    root = alb_folder(lines, out)
    files = sorted(root.rglob("*.gz"))
    for f in files:
        warm(f)
    peer = ["sh", "-c", f"find '{root}' -name '*.gz' -print0 | xargs -0 zcat | LC_ALL=C grep -c ' 50[234] '"]
    variants: list[tuple[str, str, list[str], str | None]] = []  # (name, kind, argv, budget)
    for kind in kinds:
        argv = command(kind, "alb", root)
        variants.append((f"{kind}, one file after the other (WHY502_READ_AHEAD=0)", kind, argv, "0"))
        variants += [(f"{kind}, read ahead (WHY502_READ_AHEAD={b or 'unset: default'})", kind, argv, b)
                     for b in budgets]
    variants.append(("find | xargs zcat | grep -c", "peer", peer, None))
    got: dict[str, list[tuple[float, float, float]]] = {v[0]: [] for v in variants}
    outs: dict[str, set[str]] = {v[0]: set() for v in variants}
    loads = []
    for _ in range(rounds):
        for name, _kind, cmd, budget in variants:
            env = {k: v for k, v in os.environ.items() if k != "WHY502_READ_AHEAD"}
            if budget:
                env["WHY502_READ_AHEAD"] = budget
            loads.append(os.getloadavg()[0])
            wall, rss, rc, text, cpu, tail = run(cmd, env=env)
            if rc not in (0, 1):
                raise SystemExit(f"{name}: exit {rc}: {tail}")
            got[name].append((wall, cpu, rss))
            outs[name].add(hashlib.sha256(text.encode()).hexdigest())
    print(f"{len(files)} files, {lines:,} ALB lines, {sum(f.stat().st_size for f in files) / 1e6:.1f} MB "
          f"gzip'ed; median of {rounds} interleaved rounds; load (1 min) {min(loads):.2f}-{max(loads):.2f}")
    print("| command | wall s | CPU s | peak RSS MB | lines/s | same output as one after the other |")
    print("|---|---|---|---|---|---|")
    for name, kind, _cmd, _b in variants:
        wall, cpu, rss = (statistics.median(x[i] for x in got[name]) for i in range(3))
        base = next(outs[v[0]] for v in variants if v[1] == kind)
        same = "(peer)" if kind == "peer" else "yes" if outs[name] == base and len(base) == 1 else "NO"
        print(f"| {name} | {wall:.2f} | {cpu:.2f} | {rss:.0f} | {lines / wall / 1e6:.2f}M | {same} |",
              flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gz-folder", action="store_true",
                    help="stats on an ALB folder of .gz files (see above)")
    ap.add_argument("--rounds", type=int, default=3, help="--gz-folder: interleaved rounds (medians)")
    ap.add_argument("--budgets", nargs="*", default=[""],
                    help="--gz-folder: WHY502_READ_AHEAD budgets to time ('' = the default)")
    ap.add_argument("--family", nargs="*", default=list(FAMILIES), choices=list(FAMILIES))
    ap.add_argument("--lines", type=int, nargs="*", default=[1_000_000])
    ap.add_argument("--only", choices=("stats", "classify", "classify-summary", "diagnose"), action="append")
    ap.add_argument("--out", type=Path, default=HERE / "out" / "lb")
    ap.add_argument("--crlf", action="store_true", help="also each log with CRLF line ends (see above)")
    ap.add_argument("--utf8", action="store_true", help="also each log with UTF-8 in some paths (see above)")
    ap.add_argument("--hours", type=float, default=0,
                    help="the lines spread over this many hours (default: 2,000 a second, ~8 minutes a 1M)")
    args = ap.parse_args()
    if args.gz_folder:
        for n in args.lines:
            gz_folder(n, args.out, args.rounds, args.budgets, args.only or ["stats"])
        return 0
    kinds = args.only or ["stats", "classify", "classify-summary"]
    print("| family | lines | command | wall s | CPU s | peak RSS MB | lines/s | grep -c s | ratio (wall) "
          "| ratio (CPU) | load |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for fam in args.family:
        for n in args.lines:
            log = write(fam, n, args.out, hours=args.hours)
            if fam == "apache":
                apache_conf(args.out.resolve(), log.resolve())
            warm(log)
            gwall, _grss, _rc, _gout, gcpu, _e = run(["grep", "-c", " 50[234] ", str(log)],
                                                    env={**os.environ, "LC_ALL": "C"})
            forms = [("", log)]
            if args.crlf:
                forms.append((" (CRLF)", _copy(log, "crlf", lambda b: b.replace(b"\n", b"\r\n"))))
            if args.utf8:
                forms.append((" (UTF-8)", _copy(log, "utf8", lambda b: b.replace(
                    b"/api/v1/users/42", "/api/v1/usérs/42".encode()))))
            for kind in kinds:
                outs = []
                for form, path in forms:
                    wall, rss, rc, out, cpu, tail = run(command(kind, fam, path))
                    outs.append(_named_out(out, path))
                    note = "" if rc in (0, 1) else f" (exit {rc}: {tail[:80]})"
                    if form and note == "":  # (the UTF-8 copy's paths differ: its counts only)
                        base, mine = outs[0], outs[-1].replace("usérs", "users")
                        note = ", same output" if base == mine else ", OUTPUT DIFFERS"
                    print(f"| {fam} | {n:,} | {kind}{form}{note} | {wall:.2f} | {cpu:.2f} | {rss:.0f} | "
                          f"{n / wall / 1e6:.2f}M | {gwall:.2f} | {wall / gwall:.1f}x | "
                          f"{cpu / max(gcpu, 1e-3):.1f}x | "
                          f"{load()} |", flush=True)
    return 0


def _copy(log: Path, name: str, change: Callable[[bytes], bytes]) -> Path:
    """``log`` with ``change`` made to each of its blocks (whole lines), next to it as
    ``<stem>.<name>.log`` (made once, then warm in the page cache); Apache's config too."""
    out = log.with_name(log.stem + f".{name}" + log.suffix)
    if not out.exists() or out.stat().st_mtime < log.stat().st_mtime:
        with log.open("rb") as src, out.open("wb") as dst:
            for block in iter(lambda: src.readlines(8 << 20), []):
                dst.write(change(b"".join(block)))
    if log.with_suffix(".conf").exists() and not out.with_suffix(".conf").exists():
        out.with_suffix(".conf").write_text(log.with_suffix(".conf").read_text().replace(str(log), str(out)))
    warm(out)
    return out


def _named_out(out: str, path: Path) -> str:
    """A command's output with its input's name and its own timings taken out (what two runs on
    the same lines in two files share)."""
    import re

    conf = path.with_suffix(".conf")  # (Apache's config, named after its log: gen_lb_logs.apache_conf)
    out = out.replace(str(path), "LOG").replace(path.name, "LOG").replace(conf.name, "CONF")
    return re.sub(r'"(elapsed_ms|generated_at)": [^,\n]*', "", out)


if __name__ == "__main__":
    raise SystemExit(main())
