"""`why502 watch` throughput, line-to-metric delay and memory, next to mtail on the same file.

Two measurements on a generated access log (combined format + the upstream fields, 5 % 502):

- catch-up: watch's engine with ``--from-start`` reads a file of ``--lines`` lines; lines/s until
  every request is counted.  mtail (Debian package ``mtail``) runs an equivalent program
  (status counts, 5xx by upstream, an upstream-time histogram) on the same file with
  ``--one_shot``, which reads from start to EOF and exits;
- live: an appender writes as fast as it can for ``--seconds`` while the engine follows; the
  sustained lines/s, the delay from a line written to its count in the metrics (p50/p99, from
  samples every 20 ms), CPU time and peak RSS.

    .venv/bin/python bench/watch_bench.py                  # 1M lines, 20 s live
    .venv/bin/python bench/watch_bench.py --lines 200000 --seconds 5 --json
"""

from __future__ import annotations

import argparse
import bisect
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest

from why502.app.watch.engine import Watch, WatchOptions

FORMAT = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
          '"$http_referer" "$http_user_agent" ua="$upstream_addr" urt="$upstream_response_time"')

MTAIL_PROG = r"""
counter requests_total by status
counter upstream_5xx_total by upstream
histogram upstream_response_time_seconds by upstream buckets 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5
/^\S+ - \S+ \[[^\]]+\] "[^"]*" (?P<status>\d{3}) \d+ "[^"]*" "[^"]*" / +
/ua="(?P<ua>[^"]*)" urt="(?P<urt>[^"]*)"$/ {
  requests_total[$status]++
  $status >= 500 {
    upstream_5xx_total[$ua]++
  }
  $urt =~ /^[0-9.]+$/ {
    upstream_response_time_seconds[$ua] = float($urt)
  }
}
"""


def line(rng: random.Random, n: int) -> str:
    status = 502 if rng.random() < 0.05 else 200
    up = f"10.0.0.{n % 4 + 1}:8080"
    urt = "-" if status == 502 else f"{rng.random() / 10:.3f}"
    return (f'10.1.{n % 250}.{n % 200} - - [23/Nov/2026:09:00:00 +0000] "GET /item/{n} HTTP/1.1" '
            f'{status} 512 "-" "bench" ua="{up}" urt="{urt}"\n')


def conf(tmp: Path) -> Path:
    c = tmp / "nginx.conf"
    c.write_text(f"events {{}}\nerror_log {tmp}/error.log;\nhttp {{\n  log_format bench '{FORMAT}';\n"
                 f"  access_log {tmp}/access.log bench;\n}}\n")
    (tmp / "error.log").write_text("")
    return c


def counted(w: Watch) -> int:
    total = 0
    for ln in generate_latest(w.metrics.registry).decode().splitlines():
        if ln.startswith("why502_requests_total{"):
            total += int(float(ln.rsplit(" ", 1)[1]))
    return total


def catch_up(tmp: Path, lines: int) -> dict[str, Any]:
    rng = random.Random(1)
    with (tmp / "access.log").open("w") as fh:
        for i in range(lines):
            fh.write(line(rng, i))
    w = Watch(WatchOptions(nginx_conf=str(conf(tmp)), from_start=True, offline=True, listen=None),
              lambda _e: None, lambda _d: None)
    start = time.perf_counter()
    while counted(w) < lines:
        w.step()
    took = time.perf_counter() - start
    out: dict[str, Any] = {"lines": lines, "why502_s": round(took, 2),
                           "why502_lines_per_s": round(lines / took)}
    mtail = shutil.which("mtail")
    if mtail:
        progs = tmp / "progs"
        progs.mkdir(exist_ok=True)
        (progs / "bench.mtail").write_text(MTAIL_PROG)
        start = time.perf_counter()
        res = subprocess.run([mtail, "--progs", str(progs), "--logs", str(tmp / "access.log"),
                              "--one_shot", "--one_shot_format", "prometheus", "--logtostderr"],
                             capture_output=True, text=True, timeout=600, check=False)
        took = time.perf_counter() - start
        ok = 'requests_total{prog="bench.mtail",status="200"}' in res.stdout
        out.update({"mtail_s": round(took, 2), "mtail_lines_per_s": round(lines / took),
                    "mtail_ok": ok})
    return out


def live(tmp: Path, seconds: float) -> dict[str, Any]:
    path = tmp / "access.log"
    path.write_text("")
    w = Watch(WatchOptions(nginx_conf=str(conf(tmp)), offline=True, listen=None, poll_interval=0.05),
              lambda _e: None, lambda _d: None)
    w.step()
    written: list[tuple[float, int]] = []
    stop = threading.Event()

    def appender() -> None:
        rng = random.Random(2)
        n = 0
        with path.open("a") as fh:
            while not stop.is_set():
                fh.write("".join(line(rng, n + i) for i in range(500)))
                fh.flush()
                n += 500
                written.append((time.perf_counter(), n))

    t = threading.Thread(target=appender, daemon=True)
    samples: list[tuple[float, int]] = []
    cpu0 = time.process_time()
    start = time.perf_counter()
    t.start()
    last = 0.0
    while time.perf_counter() - start < seconds:
        w.step()
        if time.perf_counter() - last >= 0.02:
            samples.append((time.perf_counter(), counted(w)))
            last = time.perf_counter()
    stop.set()
    t.join()
    total_written = written[-1][1] if written else 0
    while counted(w) < total_written:
        w.step()
    took = time.perf_counter() - start
    # delay of a line: when its count was first seen minus when it was written
    times = [x for x, _ in written]
    counts = [c for _, c in written]
    delays = []
    for when, c in samples:
        i = bisect.bisect_left(counts, c)
        if c and i < len(times):
            delays.append(max(0.0, when - times[i]))
    delays.sort()
    pick = (lambda q: round(delays[min(len(delays) - 1, int(q * len(delays)))], 3)) if delays \
        else (lambda q: None)
    return {"seconds": round(took, 1), "lines": total_written,
            "lines_per_s": round(total_written / took), "delay_p50_s": pick(0.5),
            "delay_p99_s": pick(0.99), "cpu_s": round(time.process_time() - cpu0, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="why502-watch-bench-") as d:
        a, b = Path(d) / "a", Path(d) / "b"
        a.mkdir()
        b.mkdir()
        result = {"catch_up": catch_up(a, args.lines), "live": live(b, args.seconds)}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for part, values in result.items():
            print(part + ": " + ", ".join(f"{k}={v}" for k, v in values.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
