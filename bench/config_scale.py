"""How ``why502 diagnose --offline`` and ``why502 lint`` grow with the config: 500, 2000 and 5000
server blocks (each with its own upstream group with ``keepalive`` and two proxied locations,
so every location gets a keep-alive finding with a diff), and one upstream of 100,000 servers.

Each run is the installed console script on a generated config and a one-line error log; the
figures are the best of ``--repeat`` runs: wall time, CPU seconds (user + system: what the
machine's other load does not inflate) and peak RSS.  Linear growth means the 5000 row costs
~10x the 500 row.  ``--format`` picks diagnose's output (text, as a person runs it, or json).

    .venv/bin/python bench/config_scale.py               # 500 2000 5000 servers, 100k upstream
    .venv/bin/python bench/config_scale.py --servers 500 1000 --upstream 20000 --repeat 1
    .venv/bin/python bench/config_scale.py --servers 5000 --upstream 0 --repeat 1 --format json
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ERROR_LINE = ('2024/05/01 10:00:00 [error] 31#31: *1 connect() failed (111: Connection refused) while '
              'connecting to upstream, client: 10.0.0.1, server: s0.example.com, request: "GET / '
              'HTTP/1.1", upstream: "http://127.0.0.1:10000/", host: "s0.example.com"\n')


def servers_conf(n: int) -> str:
    """``n`` virtual hosts, each written over several lines as people write them."""
    out = ["events {}", "http {", "    proxy_read_timeout 30s;"]
    for i in range(n):
        out += [f"    upstream u{i} {{", f"        server 127.0.0.{1 + i % 250}:{10000 + i};",
                "        keepalive 8;", "    }",
                "    server {", "        listen 80;", f"        server_name s{i}.example.com;",
                "        location / {", f"            proxy_pass http://u{i};",
                "            proxy_set_header Host $host;", "        }",
                "        location /api/ {", f"            proxy_pass http://u{i};",
                "            proxy_read_timeout 5s;", "        }", "    }"]
    return "\n".join([*out, "}", ""])


def upstream_conf(n: int) -> str:
    """One upstream group of ``n`` servers behind one location."""
    out = ["events {}", "http {", "    upstream big {"]
    out += [f"        server 10.{j >> 16 & 255}.{j >> 8 & 255}.{j & 255}:8080 max_fails=3;" for j in range(n)]
    out += ["    }", "    server {", "        listen 80;", "        location / { proxy_pass http://big; }",
            "    }", "}", ""]
    return "\n".join(out)


# Runs as an installed why502 runs: with its bytecode cached (pip compiles it at install; an
# environment with PYTHONDONTWRITEBYTECODE=1 would make every run compile ~140 modules again,
# ~0.3 s), after one unmeasured warm-up run of each command.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(cmd: list[str]) -> tuple[float, float, float, int, int]:
    """CPU seconds (user + system), wall seconds, user CPU seconds, peak RSS (MB) and exit code
    of one run of ``cmd``."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=CHILD_ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    return (usage.ru_utime + usage.ru_stime, wall, usage.ru_utime, usage.ru_maxrss // 1024,
            os.waitstatus_to_exitcode(status))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", type=int, nargs="*", default=[500, 2000, 5000])
    ap.add_argument("--upstream", type=int, default=100_000, help="servers in the one big upstream (0: skip)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--format", choices=("text", "json"), default="text", help="diagnose's output format")
    args = ap.parse_args()
    exe = shutil.which("why502", path=str(Path(sys.executable).parent)) or "why502"
    work = Path(tempfile.mkdtemp(prefix="why502-config-scale-"))
    try:
        err = work / "error.log"
        err.write_text(ERROR_LINE)
        access = work / "access.log"
        access.write_text("")
        cases = [(f"{n} servers", servers_conf(n)) for n in args.servers]
        if args.upstream:
            cases.append((f"upstream of {args.upstream} servers", upstream_conf(args.upstream)))
        print(f"{'config':<28} {'command':<9} {'CPU s':>7} {'wall s':>7} {'user s':>7} {'RSS MB':>7} exit")
        for name, text in cases:
            conf = work / "nginx.conf"
            conf.write_text(text)
            for label, cmd in (("diagnose", [exe, "diagnose", "--offline", "--nginx-conf", str(conf),
                                             "--error-log", str(err), "--access-log", str(access),
                                             "--format", args.format]),
                               ("lint", [exe, "lint", str(conf)])):
                run(cmd)  # warm-up: bytecode written, files in the page cache
                runs = [run(cmd) for _ in range(args.repeat)]
                cpu, wall, user, rss, code = min(runs)
                print(f"{name:<28} {label:<9} {cpu:7.2f} {wall:7.2f} {user:7.2f} {rss:7d} {code}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
