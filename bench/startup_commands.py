"""Start-up by command: CPU (user + sys) and modules imported of a small run of each command.

Issue 28 items 1 and 5: the test suite starts ``why502`` thousands of times and a user once per
question, so what a start imports is paid every time.  For each command below, on the recorded
``backend-down-tcp`` fixture (a real nginx's config and logs), the mean of ``--runs`` runs of
``/usr/bin/time`` (after one warm-up) and the modules left in ``sys.modules`` at exit, counted
per top-level package (``-X importtime`` misses what ``importlib.import_module`` loads: the
commands and the proxies).  With ``--pythonpath DIR`` another copy of ``src`` is measured (a
before/after pair in one run, the same interpreter and native scanner).

    .venv/bin/python bench/startup_commands.py [--runs 5] [--pythonpath OTHER/src]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORDED = ROOT / "tests" / "fixtures" / "recorded" / "backend-down-tcp"

# ``python -m why502 ARGV`` with the names in ``sys.modules`` written to a file at exit
PROBE = (
    "import atexit, json, runpy, sys\n"
    "out, sys.argv = sys.argv[1], ['why502', *sys.argv[2:]]\n"
    "atexit.register(lambda: open(out, 'w').write(json.dumps(sorted(sys.modules))))\n"
    "runpy.run_module('why502', run_name='__main__', alter_sys=True)\n"
)


def commands(tmp: Path) -> list[tuple[str, list[str]]]:
    """The runs measured; the offline diagnose on a copy whose ``/lab`` paths point at it."""
    for f in RECORDED.iterdir():
        (tmp / f.name).write_text(f.read_text().replace("/lab", str(tmp)))
    (tmp / "kern.log").write_text("")
    return [
        ("--version", ["--version"]),
        ("classify error.log", ["classify", str(RECORDED / "error.log")]),
        ("explain 502", ["explain", "502"]),
        ("lint nginx.conf", ["lint", str(RECORDED / "nginx.conf")]),
        ("diagnose --demo", ["diagnose", "--demo"]),
        ("diagnose --offline (recorded)", ["diagnose", "--offline", "--config", str(tmp / "nginx.conf"),
                                           "--kernel-log", str(tmp / "kern.log")]),
        ("stats access.log", ["stats", str(RECORDED / "access.log")]),
    ]


def cpu_seconds(argv: list[str], env: dict[str, str]) -> float:
    """User + system CPU of one run, as ``/usr/bin/time`` reports it."""
    res = subprocess.run(["/usr/bin/time", "-f", "%U %S", sys.executable, "-m", "why502", *argv],
                         capture_output=True, text=True, env=env, check=False)
    user, system = res.stderr.strip().splitlines()[-1].split()
    return float(user) + float(system)


def modules(argv: list[str], env: dict[str, str], out: Path) -> collections.Counter[str]:
    """The modules one run left in ``sys.modules``, counted by top-level package."""
    subprocess.run([sys.executable, "-c", PROBE, str(out), *argv], capture_output=True, env=env, check=False)
    return collections.Counter(m.split(".")[0] for m in json.loads(out.read_text()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--pythonpath", help="measure this copy of src instead of the installed one")
    args = ap.parse_args()
    env = dict(os.environ, NO_COLOR="1")
    if args.pythonpath:
        env["PYTHONPATH"] = args.pythonpath
    tmp = Path(tempfile.mkdtemp(prefix="why502-startup-"))
    try:
        print(f"load {os.getloadavg()[0]:.1f}")
        print("| run | CPU-s mean (min-max) | modules | why502's | polars' |")
        print("|---|---|---|---|---|")
        for label, argv in commands(tmp):
            cpu_seconds(argv, env)  # warm-up: page cache, bytecode, the catalog's marshal files
            cpu = [cpu_seconds(argv, env) for _ in range(args.runs)]
            count = modules(argv, env, tmp / "modules.json")
            print(f"| `why502 {label}` | {statistics.mean(cpu):.3f} ({min(cpu):.2f}-{max(cpu):.2f}) "
                  f"| {sum(count.values())} | {count['why502']} | {count['polars']} |", flush=True)
        print(f"load {os.getloadavg()[0]:.1f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
