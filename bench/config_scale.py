"""How ``why502 diagnose --offline`` and ``why502 lint`` grow with the config: 500, 2000 and 5000
server blocks (each with its own upstream group with ``keepalive`` and two proxied locations,
so every location gets a keep-alive finding with a diff), and one upstream of 100,000 servers.
``--haproxy N...`` adds ``haproxy.cfg`` files of N backends (one checked server each, one
frontend that names every one of them with ``use_backend``) and one backend of ``--upstream``
servers; ``--apache N...`` Apache configs of N ``<VirtualHost>`` blocks with a ``ProxyPass`` each.

Each run is the installed console script on a generated config and a one-line error log; the
figures are the best of ``--repeat`` runs: wall time, CPU seconds (user + system: what the
machine's other load does not inflate) and peak RSS.  Linear growth means the 5000 row costs
~10x the 500 row.  ``--format`` picks diagnose's output (text, as a person runs it, or json).

    .venv/bin/python bench/config_scale.py               # 500 2000 5000 servers, 100k upstream
    .venv/bin/python bench/config_scale.py --servers 500 1000 --upstream 20000 --repeat 1
    .venv/bin/python bench/config_scale.py --servers 5000 --upstream 0 --repeat 1 --format json
    .venv/bin/python bench/config_scale.py --servers --upstream 0 --haproxy 5000 20000 100000 --repeat 1
    .venv/bin/python bench/config_scale.py --servers --upstream 0 --apache 5000 20000 --repeat 1
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
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


def haproxy_conf(n: int) -> str:
    """``n`` backends of one checked server each, all reachable from one frontend (``use_backend``
    by host), as a generated multi-tenant ``haproxy.cfg`` is."""
    out = ["global", "    log /dev/log local0", "defaults", "    mode http", "    timeout connect 5s",
           "    timeout client 30s", "    timeout server 30s", "frontend fe", "    bind 127.0.0.1:8080"]
    out += [f"    use_backend b{i} if {{ hdr(host) -i s{i}.example.com }}" for i in range(n)]
    out.append("    default_backend b0")
    for i in range(n):
        out += [f"backend b{i}", f"    server s{i} 127.0.{i >> 8 & 255}.{i & 255}:{10000 + i % 50000} check"]
    return "\n".join([*out, ""])


def haproxy_upstream_conf(n: int) -> str:
    """One backend of ``n`` servers."""
    out = ["defaults", "    mode http", "    timeout connect 5s", "    timeout client 30s",
           "    timeout server 30s", "frontend fe", "    bind 127.0.0.1:8080", "    default_backend big",
           "backend big"]
    out += [f"    server s{j} 10.{j >> 16 & 255}.{j >> 8 & 255}.{j & 255}:8080 check" for j in range(n)]
    return "\n".join([*out, ""])


def apache_conf(n: int) -> str:
    """``n`` virtual hosts, each proxying to its own backend with a timeout."""
    out = ["ServerRoot /nonexistent", "Listen 80", "Timeout 60"]
    for i in range(n):
        out += ["<VirtualHost *:80>", f"    ServerName s{i}.example.com",
                f"    ProxyPass / http://127.0.{i >> 8 & 255}.{i & 255}:{10000 + i % 50000}/ timeout=5",
                "</VirtualHost>"]
    return "\n".join([*out, ""])


# Runs as an installed why502 runs: with its bytecode cached (pip compiles it at install; an
# environment with PYTHONDONTWRITEBYTECODE=1 would make every run compile ~140 modules again,
# ~0.3 s), after one unmeasured warm-up run of each command.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def run(cmd: list[str], env: dict[str, str] | None = None,
        timeout: float = 600) -> tuple[float, float, float, int, int]:
    """CPU seconds (user + system), wall seconds, user CPU seconds, peak RSS (MB) and exit code
    of one run of ``cmd`` (killed after ``timeout`` seconds: exit -9)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**CHILD_ENV, **(env or {})})
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    wall = time.perf_counter() - t0
    return (usage.ru_utime + usage.ru_stime, wall, usage.ru_utime, usage.ru_maxrss // 1024,
            os.waitstatus_to_exitcode(status))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--servers", type=int, nargs="*", default=[500, 2000, 5000])
    ap.add_argument("--upstream", type=int, default=100_000, help="servers in the one big upstream (0: skip)")
    ap.add_argument("--haproxy", type=int, nargs="*", default=[], help="haproxy.cfg files of N backends")
    ap.add_argument("--apache", type=int, nargs="*", default=[], help="Apache configs of N virtual hosts")
    ap.add_argument("--timeout", type=float, default=600, help="seconds before a run is stopped (exit -9)")
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
        cases = [(f"{n} servers", "nginx", servers_conf(n)) for n in args.servers]
        if args.upstream and args.servers:
            cases.append((f"upstream of {args.upstream} servers", "nginx", upstream_conf(args.upstream)))
        cases += [(f"haproxy {n} backends", "haproxy", haproxy_conf(n)) for n in args.haproxy]
        if args.upstream and args.haproxy:
            cases.append((f"haproxy 1 x {args.upstream} srv", "haproxy",
                          haproxy_upstream_conf(args.upstream)))
        cases += [(f"apache {n} vhosts", "apache", apache_conf(n)) for n in args.apache]
        print(f"{'config':<28} {'command':<9} {'CPU s':>7} {'wall s':>7} {'user s':>7} {'RSS MB':>7} exit")
        for name, proxy, text in cases:
            conf = work / f"{proxy}.conf"
            conf.write_text(text)
            big = ["--config", str(conf), "--proxy", proxy]
            env_bound = {"WHY502_MAX_CONFIG_BYTES": f"{(len(text) >> 20) + 8}M"}  # a big case is not refused
            for label, cmd in (("diagnose", [exe, "diagnose", "--offline", *big,
                                             "--error-log", str(err), "--access-log", str(access),
                                             "--format", args.format]),
                               ("lint", [exe, "lint", *big])):
                run(cmd, env_bound, args.timeout)  # warm-up: bytecode written, files in the page cache
                runs = [run(cmd, env_bound, args.timeout) for _ in range(args.repeat)]
                cpu, wall, user, rss, code = min(runs)
                print(f"{name:<28} {label:<9} {cpu:7.2f} {wall:7.2f} {user:7.2f} {rss:7d} {code}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
