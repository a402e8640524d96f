"""`why502 watch` throughput, line-to-metric delay and memory, next to mtail on the same file.

Two measurements on a generated access log (combined format + the upstream fields, 5 % 502):

- catch-up: watch's engine with ``--from-start`` reads a file of ``--lines`` lines; lines/s until
  every request is counted.  mtail (Debian package ``mtail``) runs an equivalent program
  (status counts, 5xx by upstream, an upstream-time histogram) on the same file with
  ``--one_shot``, which reads from start to EOF and exits;
- live (first, so its peak RSS is its own): an appender process writes as fast as it can (or
  ``--rate`` lines/s) for ``--seconds`` while the engine follows; the sustained lines/s, the
  delay from a block written to its count in the metrics (p50/p99, samples every 20 ms), the
  engine's CPU time and peak RSS.

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


APPENDER = r"""
import sys, time
path, seconds, rate, block = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.stdin.read()
per = block.count("\n")
n, start = 0, time.perf_counter()
with open(path, "a") as fh:
    while time.perf_counter() - start < seconds:
        fh.write(block)
        fh.flush()
        n += per
        print(time.perf_counter(), n, flush=True)
        if rate:
            time.sleep(max(0.0, n / rate - (time.perf_counter() - start)))
"""


def live(tmp: Path, seconds: float, rate: float) -> dict[str, Any]:
    """An appender in its own process (no GIL shared with watch) writes blocks of 1000 lines,
    as fast as it can or at ``rate`` lines/s, and says when each block was written."""
    path = tmp / "access.log"
    path.write_text("")
    w = Watch(WatchOptions(nginx_conf=str(conf(tmp)), offline=True, listen=None, poll_interval=0.05),
              lambda _e: None, lambda _d: None)
    w.step()
    rng = random.Random(2)
    block = "".join(line(rng, i) for i in range(1000))
    proc = subprocess.Popen([sys.executable, "-c", APPENDER, str(path), str(seconds), str(rate)],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.write(block)
    proc.stdin.close()
    written: list[tuple[float, int]] = []
    reader = threading.Thread(target=lambda: written.extend(
        (float(a), int(b)) for a, b in (ln.split() for ln in proc.stdout)), daemon=True)  # type: ignore[union-attr]
    reader.start()
    samples: list[tuple[float, int]] = []
    cpu0 = time.process_time()
    start = time.perf_counter()
    last = 0.0
    rss: list[int] = []
    while proc.poll() is None:
        busy = w.step()  # as Watch.run(): a pause when nothing is left to read
        if not busy:
            time.sleep(w.options.poll_interval)
        if time.perf_counter() - last >= 0.02:
            samples.append((time.perf_counter(), counted(w)))
            last = time.perf_counter()
            rss.append(_rss_kb())
    reader.join(5)
    total_written = written[-1][1] if written else 0
    while counted(w) < total_written:
        w.step()
        samples.append((time.perf_counter(), counted(w)))
    took = time.perf_counter() - start
    # the delay of a block: from when it was written to the first sample that counts it
    stamps = [c for _, c in samples]
    delays = sorted(samples[i][0] - when for when, n in written
                    if (i := bisect.bisect_left(stamps, n)) < len(samples))
    pick = (lambda q: round(delays[min(len(delays) - 1, int(q * len(delays)))], 3)) if delays \
        else (lambda q: None)
    return {"seconds": round(took, 1), "lines": total_written,
            "lines_per_s": round(total_written / took), "delay_p50_s": pick(0.5),
            "delay_p99_s": pick(0.99), "cpu_s": round(time.process_time() - cpu0, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            # flat over time: the RSS after the first tenth of the run and at its end
            "rss_early_mb": round(rss[len(rss) // 10] / 1024) if rss else None,
            "rss_end_mb": round(rss[-1] / 1024) if rss else None}


def _rss_kb() -> int:
    """The current resident set (``/proc/self/statm``, pages), in KiB."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * (resource.getpagesize() // 1024)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--rate", type=float, default=0.0,
                    help="live appender's lines/s (default 0: as fast as it can)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="why502-watch-bench-") as d:
        a, b = Path(d) / "a", Path(d) / "b"
        a.mkdir()
        b.mkdir()
        result = {"live": live(b, args.seconds, args.rate), "catch_up": catch_up(a, args.lines)}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for part, values in result.items():
            print(part + ": " + ", ".join(f"{k}={v}" for k, v in values.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
