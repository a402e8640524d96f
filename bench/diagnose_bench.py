"""Benchmark: `why502 diagnose` on a big host (issue 28 item 1: < 1 s on 100 MB of logs, < 5 s on 1 GB).

Generates, in a temp dir, the host of the issue: an nginx config with 20 server blocks (upstream
groups, plain proxy_pass, a PHP-FPM location) and 100 MB of logs (error + access, nginx formats,
one incident inside: an upstream refusing connections for ten minutes, read timeouts on another,
the rest noise), then runs `why502 diagnose` once offline and once live (probes of every target,
/proc socket table) and prints wall time, peak RSS and the top finding.  A grep baseline on the
same error log is printed for scale.

    .venv/bin/python bench/diagnose_bench.py            # 100 MB
    .venv/bin/python bench/diagnose_bench.py --mb 20 --keep
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

LOG_FORMAT = ("'$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent '\n"
              "        '\"$http_referer\" \"$http_user_agent\" upstream_addr=\"$upstream_addr\" '\n"
              "        'upstream_status=\"$upstream_status\" '\n"
              "        'upstream_header_time=\"$upstream_header_time\" '\n"
              "        'upstream_response_time=\"$upstream_response_time\" request_time=$request_time'")
BASE_PORT = 18000  # loopback ports with nothing listening (the live run probes them: refused)


def write_config(root: Path) -> tuple[Path, list[str]]:
    peers = []
    parts = [f"user www-data;\nworker_processes auto;\nerror_log {root}/error.log;\n"
             "events { worker_connections 1024; }\nhttp {\n"
             f"    log_format why502 {LOG_FORMAT};\n    access_log {root}/access.log why502;\n"]
    for i in range(20):
        a, b = f"127.0.0.1:{BASE_PORT + 2 * i}", f"127.0.0.1:{BASE_PORT + 2 * i + 1}"
        peers += [a, b]
        parts.append(f"    upstream app{i} {{\n        server {a};\n        server {b};\n"
                     "        keepalive 16;\n    }\n")
    for i in range(20):
        parts.append(
            f"    server {{\n        listen 80;\n        server_name site{i}.example;\n"
            f"        location / {{\n            proxy_pass http://app{i};\n"
            "            proxy_http_version 1.1;\n            proxy_set_header Connection \"\";\n"
            f"            proxy_read_timeout {30 + i}s;\n        }}\n"
            f"        location /static/ {{ root /srv/site{i}; }}\n"
            + ("        location ~ \\.php$ {\n            fastcgi_pass unix:/run/php/php8.2-fpm.sock;\n"
               "            include fastcgi_params;\n        }\n" if i % 5 == 0 else "")
            + "    }\n")
    parts.append("}\n")
    conf = root / "nginx.conf"
    conf.write_text("".join(parts))
    return conf, peers


def write_logs(root: Path, peers: list[str], total_mb: int, seed: int = 1) -> dict[str, int]:
    rnd = random.Random(seed)
    start = datetime.now().replace(microsecond=0) - timedelta(hours=2)  # logs end about now
    err_target = total_mb * 1024 * 1024 * 3 // 10
    acc_target = total_mb * 1024 * 1024 - err_target
    # both logs span the same two hours; the incident is 10 minutes at 60% of the span
    span_ms = 2 * 3600 * 1000
    acc_step = max(1, span_ms * 300 // max(1, acc_target) * 2 // 2)
    err_step = max(1, span_ms * 300 // max(1, err_target))
    incident = (start + timedelta(milliseconds=span_ms * 0.6),
                start + timedelta(milliseconds=span_ms * 0.6 + 600_000))
    counts = {"access": 0, "error": 0}
    # access log: ~70% of the bytes
    with open(root / "access.log", "w", encoding="utf-8") as fh:
        t = start
        size = 0
        buf = []
        while size < acc_target:
            t += timedelta(milliseconds=rnd.randint(1, 2 * acc_step))
            i = rnd.randrange(20)
            peer = peers[2 * i + rnd.randrange(2)]
            status, uht = 200, f"{rnd.random() * 0.2:.3f}"
            if incident[0] <= t <= incident[1] and i == 3:
                status, uht = 502, "-"
            elif rnd.random() < 0.0005:
                status, uht = 503, f"{rnd.random():.3f}"
            line = (f"203.0.113.{rnd.randrange(1, 255)} - - [{t:%d/%b/%Y:%H:%M:%S} +0000] "
                    f"\"GET /api/v1/items/{rnd.randrange(10**6)} HTTP/1.1\" {status} {rnd.randrange(9999)} "
                    f"\"-\" \"Mozilla/5.0 (X11; Linux x86_64)\" upstream_addr=\"{peer}\" "
                    f"upstream_status=\"{status}\" upstream_header_time=\"{uht}\" "
                    f"upstream_response_time=\"{uht}\" request_time={rnd.random() * 0.3:.3f}\n")
            buf.append(line)
            size += len(line)
            if len(buf) >= 20000:
                fh.writelines(buf)
                counts["access"] += len(buf)
                buf = []
        fh.writelines(buf)
        counts["access"] += len(buf)
    # error log: ~30% of the bytes; the incident plus background noise
    kinds = [
        ("connect() failed (111: Connection refused) while connecting to upstream", "error"),
        ("upstream timed out (110: Connection timed out) while reading response header from upstream",
         "error"),
        ("upstream prematurely closed connection while reading response header from upstream", "error"),
        ("an upstream response is buffered to a temporary file /var/cache/nginx/1/2/3 while reading "
         "upstream", "warn"),
        ("client intended to send too large body: 2000000 bytes", "error"),
    ]
    with open(root / "error.log", "w", encoding="utf-8") as fh:
        t = start
        size = 0
        n = 0
        buf = []
        while size < err_target:
            t += timedelta(milliseconds=rnd.randint(1, 2 * err_step))
            n += 1
            if incident[0] <= t <= incident[1]:
                msg, level, peer = kinds[0][0], "error", peers[6 + rnd.randrange(2)]
            else:
                msg, level = kinds[rnd.choice([1, 2, 3, 3, 3, 4, 4])]
                peer = peers[rnd.randrange(len(peers))]
            line = (f"{t:%Y/%m/%d %H:%M:%S} [{level}] 2107#2107: *{n} {msg}, client: 203.0.113.9, "
                    f"server: site.example, request: \"GET /api/v1/items/{rnd.randrange(10**6)} HTTP/1.1\", "
                    f"upstream: \"http://{peer}/api/v1/items\", host: \"site.example\"\n")
            buf.append(line)
            size += len(line)
            if len(buf) >= 20000:
                fh.writelines(buf)
                counts["error"] += len(buf)
                buf = []
        fh.writelines(buf)
        counts["error"] += len(buf)
    return counts


def run(cmd: list[str]) -> tuple[float, float, int, subprocess.CompletedProcess[str]]:
    """Wall time, CPU time (user + system of the child) and peak RSS (the children's maximum so
    far: a later, smaller run shows the earlier peak) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    res = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, max(after.ru_maxrss, before.ru_maxrss), res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=int, default=100, help="total size of the logs (default 100)")
    ap.add_argument("--keep", action="store_true", help="keep the generated host")
    ap.add_argument("--runs", type=int, default=1,
                    help="runs of each command; the median run is shown (default 1)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="why502-diagnose-bench-"))
    try:
        t0 = time.perf_counter()
        conf, peers = write_config(root)
        counts = write_logs(root, peers, args.mb)
        gen = time.perf_counter() - t0
        sizes = {p.name: p.stat().st_size for p in root.glob("*.log")}
        print(f"host: {root} (generated in {gen:.1f} s)")
        print(f"config: 20 server blocks, {len(peers)} upstream servers; logs: "
              + ", ".join(f"{k} {v / 2**20:.1f} MB ({counts[k.split('.')[0]]} lines)"
                          for k, v in sizes.items()))
        base = [sys.executable, "-m", "why502", "diagnose", "--nginx-conf", str(conf),
                "--format", "json"]
        rows = []
        for label, extra in (("diagnose --offline", ["--offline"]), ("diagnose (live)", [])):
            runs = []
            for _ in range(max(1, args.runs)):
                wall, cpu, rss, res = run(base + extra)
                if res.returncode not in (0, 1):
                    print(f"{label}: failed ({res.returncode}): {res.stderr.strip()}")
                    return 1
                runs.append((wall, cpu, rss, res))
            wall, cpu, rss, res = sorted(runs, key=lambda r: r[0])[len(runs) // 2]
            doc = json.loads(res.stdout)
            top = doc["findings"][0] if doc["findings"] else None
            rows.append((label, wall, cpu, rss, top))
        g_wall, g_cpu, _, _ = run(["grep", "-c", "Connection refused", str(root / "error.log")])
        print()
        print("| run | wall | CPU | peak RSS | top finding |")
        print("|---|---|---|---|---|")
        for label, wall, cpu, rss, top in rows:
            finding = f"{top['cause']} ({top['confidence']:.2f}) {top['target']}" if top else "healthy"
            print(f"| `why502 {label}` | {wall:.2f} s | {cpu:.2f} s | {rss / 1024:.0f} MB | {finding} |")
        print(f"| `grep -c 'Connection refused' error.log` (baseline) | {g_wall:.2f} s | {g_cpu:.2f} s "
              "| - | - |")
        goal = max(1.0, 5.0 * args.mb / 1000)  # the two points: 1 s at 100 MB, 5 s at 1 GB
        ok = all(wall < goal for _, wall, _, _, _ in rows)
        print(f"\ngoal < {goal:g} s: {'met' if ok else 'MISSED'} "
              f"(median of {max(1, args.runs)}; load {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs)")
        return 0 if ok else 1
    finally:
        if args.keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
