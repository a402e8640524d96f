"""Benchmark `why502 stats` against GoAccess, the seeds' awk one-liner and `grep -c`, in one go.

All tools read the same generated log (bench/gen_access_log.py: upstream fields, incident
bursts, retries, internal redirects), from the page cache (the file is read once first).  Each
tool runs once; wall time and peak RSS (``os.wait4`` rusage of that child) are printed with the
ratios.  why502 also runs on 1/5 and 1/2 of the log and on the log written twice over (2x),
which shows whether RSS is flat in file size.

    python bench/stats_bench.py                    # 5,000,000 lines (about 1.3 GB), ~3 minutes
    python bench/stats_bench.py --lines 500000     # quicker look

Targets (issue "Access-log analytics"): the full analysis faster than GoAccess on its narrower
question; within 3x of `LC_ALL=C grep -c ' 502 '`; peak RSS < 400 MB and flat in file size.
GoAccess missing: its rows say "skipped: goaccess not installed".  GoAccess < 1.8 has no
``-j``: that row says so.  ``--goaccess PATH`` picks the binary (default: ``goaccess`` from
PATH); give it twice to compare two builds (e.g. Debian's 1.7 and a local 1.8+ build with
``-j``) on the same log in the same run.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

GOACCESS_FORMAT = '%h %^[%d:%t %^] "%r" %s %b "%R" "%u" "%v" %^'
AWK_ONE_LINER = "{if($9==502) c++} END {print c+0}"


TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None


def run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float, int, str, float, str]:
    """Run ``cmd``; return (wall seconds, peak RSS MB, exit status, stdout, CPU seconds, stderr tail).

    The last stderr line goes into a failed row's note (a tool that dies at start-up would
    otherwise show only "exit 1" and an implausible 0.04 s).

    CPU seconds (user + system of the child and its children) are printed too: on a shared
    machine wall time depends on everyone else's load, CPU time much less.

    Peak RSS comes from GNU ``/usr/bin/time -f %M`` (the child's ``ru_maxrss``; time is a small
    C program, so its own pre-exec memory does not inflate the figure).  Without it, ``wait4``'s
    ``ru_maxrss`` is used: an upper bound, since Linux keeps the forked parent's high-water mark
    (this benchmark's Python, ~15-45 MB) across exec.
    """
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r") as rss,
    ):
        argv = [TIME, "-o", rss.name, "-f", "%M", *cmd] if TIME else cmd
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        peak_kb = usage.ru_maxrss
        if TIME:
            with contextlib.suppress(ValueError, IndexError):
                peak_kb = int(rss.read().split()[-1])
        out.seek(0)
        text = out.read().decode("utf-8", "replace")
        err.seek(max(0, err.seek(0, os.SEEK_END) - 4096))
        tail = (err.read().decode("utf-8", "replace").strip().splitlines() or [""])[-1]
    return wall, peak_kb / 1024.0, proc.returncode, text, usage.ru_utime + usage.ru_stime, tail


def warm(path: Path) -> None:
    with open(path, "rb") as fh:
        while fh.read(16 << 20):
            pass


def prefix(src: Path, dst: Path, lines: int) -> None:
    with open(src, "rb") as fi, open(dst, "wb") as fo:
        for i, line in enumerate(fi):
            if i >= lines:
                break
            fo.write(line)


def goaccess_info(path: str) -> tuple[str, bool]:
    """Return (version, has ``-j``) of the GoAccess binary at ``path``.

    ``-j/--jobs`` (multi-threaded parsing) arrived in GoAccess 1.8; it is detected from the
    ``--help`` text (which goes to stdout and exits 1 in 1.7-1.11), with the version from
    ``--version`` ("GoAccess - 1.11.") only as a label.
    """
    ver = subprocess.run([path, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"GoAccess - (\d+(?:\.\d+)+)", ver)
    help_proc = subprocess.run([path, "--help"], capture_output=True, text=True)
    return (m.group(1) if m else "?"), "--jobs" in help_proc.stdout + help_proc.stderr


def goaccess_totals(report: Path) -> str:
    """``total_requests`` / ``failed_requests`` from a GoAccess JSON report (a parse check)."""
    try:
        general = json.loads(report.read_text())["general"]
        return f"{general['total_requests']:,} requests, {general['failed_requests']:,} failed"
    except (OSError, ValueError, KeyError, TypeError) as e:
        return f"no report ({type(e).__name__})"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=5_000_000)
    ap.add_argument("--out", type=Path, default=HERE / "out" / "stats")
    ap.add_argument("--reuse", action="store_true", help="reuse a log already generated in --out")
    ap.add_argument(
        "--goaccess",
        action="append",
        metavar="PATH",
        help="GoAccess binary (default: goaccess from PATH); repeat to run several builds",
    )
    args = ap.parse_args()
    out: Path = args.out
    log = out / "access.log"
    truth_file = out / "truth.json"
    truth = json.loads(truth_file.read_text()) if truth_file.exists() else None
    if not (args.reuse and truth and truth["requests"] == args.lines and log.exists()):
        from gen_access_log import generate

        t0 = time.perf_counter()
        truth = generate(args.lines, out, seed=1, rate=60.0)
        print(f"generated {args.lines:,} lines in {time.perf_counter() - t0:.0f}s -> {log}")
    assert truth is not None
    size = log.stat().st_size
    # RSS flatness: the same log cut to 1/5 and 1/2, and written twice over (2x)
    sizes = {"1/5": args.lines // 5, "1/2": args.lines // 2}
    flat_logs = {k: out / f"access.{k.replace('/', 'of')}.log" for k in sizes}
    for k, n in sizes.items():
        prefix(log, flat_logs[k], n)
    double = out / "access.2x.log"
    if not (args.reuse and double.exists() and double.stat().st_size == 2 * size):
        with open(double, "wb") as fo:
            for _ in range(2):
                with open(log, "rb") as fi:
                    shutil.copyfileobj(fi, fo, 16 << 20)
    warm(log)
    print(f"log: {log} ({size / 1e6:.0f} MB, {args.lines:,} lines); machine: {os.cpu_count()} cores")

    py = sys.executable
    why = [py, "-m", "why502", "stats", "--log-format", "why502", "--format", "json", "--no-progress"]
    rows: list[tuple[str, float | None, float | None, str]] = []
    cpu: dict[str, float] = {}
    print(f"load average before: {os.getloadavg()[0]:.2f}")
    print(f"{'tool':58s} {'wall':>9s} {'peak RSS':>11s} {'CPU':>8s} {'load':>6s}")

    def add(
        name: str,
        cmd: list[str] | None,
        skip: str | None = None,
        env: dict[str, str] | None = None,
    ) -> tuple[float, float, int, str, float, str] | None:
        if cmd is None:
            rows.append((name, None, None, skip or "skipped"))
            print(f"{name:58s} {skip}")
            return None
        load = os.getloadavg()[0]  # the 1-minute load just before: the machine is shared
        res = run(cmd, env=env)
        wall, rss, code, _, cpu_s, tail = res
        cpu[name] = cpu_s
        note = "" if code == 0 else f"exit {code}" + (f": {tail[:200]}" if tail else "")
        rows.append((name, wall, rss, note))
        print(f"{name:58s} {wall:8.2f}s {rss:8.0f} MB {cpu_s:7.2f}s {load:6.2f} {note}")
        return res

    full = add(
        "why502 stats (timeline+upstreams+percentiles+error-log join)",
        [*why, "--error-log", str(out / "error.log"), str(log)],
    )
    add("why502 stats (same, no error log)", [*why, "--no-error-log", str(log)])
    flat: dict[str, tuple[int, str]] = {}
    for k, n in [*sizes.items(), ("2x", 2 * args.lines)]:
        name = f"why502 stats on {n:,} lines ({k} of the log, RSS flatness)"
        flat[k] = (n, name)
        add(name, [*why, "--no-error-log", str(flat_logs.get(k, double))])
    ga_checks: list[str] = []
    for wanted in args.goaccess or ["goaccess"]:
        goaccess = shutil.which(wanted)
        missing = (
            "skipped: goaccess not installed" if wanted == "goaccess" else f"skipped: {wanted} not found"
        )
        version, has_jobs = goaccess_info(goaccess) if goaccess else ("", False)
        label = f"goaccess {version}" if goaccess else ("goaccess" if wanted == "goaccess" else wanted)
        if any(name.startswith(f"{label} ") for name, *_ in rows):  # two builds of one version
            label = f"{label} {wanted}"
        with tempfile.TemporaryDirectory() as tmp:
            ga = None
            if goaccess:
                ga = [
                    goaccess,
                    str(log),
                    f"--log-format={GOACCESS_FORMAT}",
                    "--date-format=%d/%b/%Y",
                    "--time-format=%T",
                    "--no-global-config",
                    "--no-progress",
                ]
            report = Path(tmp) / "report.json"
            res = add(
                f"{label} (single thread)",
                [*ga, "-o", str(report)] if ga else None,
                missing,
            )
            if res:
                ga_checks.append(f"{label} (single thread): {goaccess_totals(report)}")
                report.unlink(missing_ok=True)
            if ga and has_jobs:
                if add(f"{label} -j 2", [*ga, "-j", "2", "-o", str(report)]):
                    ga_checks.append(f"{label} -j 2: {goaccess_totals(report)}")
            else:
                add(
                    f"{label} -j 2",
                    None,
                    missing
                    if not goaccess
                    else f"skipped: goaccess {version} has no -j/--jobs (added in GoAccess 1.8)",
                )
    awk = shutil.which("mawk") and shutil.which("awk")
    add(
        "awk '{if($9==502) c++} END {print c}'",
        ["awk", AWK_ONE_LINER, str(log)] if awk else None,
        "skipped: awk not installed",
    )
    env = dict(os.environ, LC_ALL="C")
    add("LC_ALL=C grep -c ' 502 '", ["grep", "-c", " 502 ", str(log)], env=env)

    # sanity: why502's counts are the truth
    if full and full[2] == 0:
        got = json.loads(full[3])
        ok = got["by_status"] == truth["by_status"] and got["made_by"] == truth["made_by"]
        print(f"why502 counts equal the generator's truth: {ok}")
    for check in ga_checks:
        print(f"{check} (truth: {truth['requests']:,} requests in {truth.get('lines', 0):,} lines)")
    t = {name: wall for name, wall, _, _ in rows if wall is not None}
    r = {name: rss for name, _, rss, _ in rows if rss is not None}
    w = t.get("why502 stats (timeline+upstreams+percentiles+error-log join)")
    w2 = t.get("why502 stats (same, no error log)")
    print()
    if w and w2:
        for name, wall in t.items():
            if not name.startswith("why502"):
                print(
                    f"  {name:40s} / why502 full: {wall / w:6.2f}x   / why502 no-error-log: {wall / w2:6.2f}x"
                )
        g = t.get("LC_ALL=C grep -c ' 502 '")
        if g:
            print(f"  why502 full / grep -c: {w / g:.2f}x;  why502 no-error-log / grep -c: {w2 / g:.2f}x")
        by_lines = sorted(
            [(n, r.get(name)) for n, name in flat.values()]
            + [(args.lines, r.get("why502 stats (same, no error log)"))]
        )
        print(
            "  why502 peak RSS by log size (no error log): "
            + ", ".join(f"{n:,} lines {v:.0f} MB" for n, v in by_lines if v is not None)
        )
    c, g2 = cpu.get("why502 stats (same, no error log)"), cpu.get("LC_ALL=C grep -c ' 502 '")
    if c and g2:
        print(f"  CPU seconds: why502 no-error-log / grep -c: {c / g2:.2f}x")
    for name, ga_cpu in cpu.items():
        if c and name.startswith("goaccess"):
            print(f"  CPU seconds: {name} / why502 no-error-log: {ga_cpu / c:.2f}x")
    print(f"  lines/s why502 full: {args.lines / w:,.0f}" if w else "")
    print(f"load average after: {os.getloadavg()[0]:.2f} (other work on this machine slows every row)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
