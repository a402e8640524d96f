# ruff: noqa: E501 -- log-line templates read better unwrapped
"""Benchmark ``why502 classify`` against ``grep -c upstream`` on a generated nginx error log.

Generates a realistic, deterministic (seeded) nginx error log -- upstream failures of many kinds
(proxy, fastcgi, uwsgi, grpc; refused, ENOENT, EACCES, EAGAIN, timeouts in every phase, resets,
premature closes, no live upstreams, DNS, TLS, invalid headers, limit_req), client noise (499s,
client TLS handshakes, client-side recv/writev), static-file errors, buffering warnings, PHP
warnings in FastCGI stderr -- in a temp dir, then times in one run, per file size:

* ``why502 classify FILE`` (default summary output), and
* ``LC_ALL=C grep -c upstream FILE`` (the floor: one pass, no understanding),

reporting wall time, lines/s, CPU seconds and peak RSS (``getrusage`` of a wrapper process).
Targets: >= 1M lines/s and RSS < 200 MB whatever the file size (``--scale`` 2 doubles it).

    .venv/bin/python bench/classify_bench.py                 # 2M lines, then 4M lines
    .venv/bin/python bench/classify_bench.py --lines 500000 --sizes 1

Do not loop it: the dev machine is shared.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WHY502 = str(Path(sys.executable).with_name("why502"))

UPSTREAM_FAILURES: list[tuple[int, str]] = [
    # (weight, template) -- {c} client, {u} upstream address, {r} request path, {s} socket
    (14, "[error] {pid}#{pid}: *{n} connect() failed (111: Connection refused) while connecting to upstream, "
         'client: {c}, server: shop.example.com, request: "GET {r} HTTP/1.1", upstream: "http://{u}{r}", '
         'host: "shop.example.com"'),
    (6, "[crit] {pid}#{pid}: *{n} connect() to unix:{s} failed (2: No such file or directory) while connecting "
        'to upstream, client: {c}, server: shop.example.com, request: "GET {r} HTTP/1.1", upstream: '
        '"fastcgi://unix:{s}:", host: "shop.example.com"'),
    (3, "[crit] {pid}#{pid}: *{n} connect() to unix:{s} failed (13: Permission denied) while connecting to "
        'upstream, client: {c}, server: shop.example.com, request: "GET {r} HTTP/1.1", upstream: '
        '"fastcgi://unix:{s}:", host: "shop.example.com"'),
    (4, "[error] {pid}#{pid}: *{n} connect() to unix:{s} failed (11: Resource temporarily unavailable) while "
        'connecting to upstream, client: {c}, server: shop.example.com, request: "GET {r} HTTP/1.1", upstream: '
        '"fastcgi://unix:{s}:", host: "shop.example.com"'),
    (8, "[error] {pid}#{pid}: *{n} upstream timed out (110: Connection timed out) while reading response header "
        'from upstream, client: {c}, server: api.example.com, request: "POST {r} HTTP/1.1", upstream: '
        '"http://{u}{r}", host: "api.example.com", referrer: "https://api.example.com/"'),
    (2, "[error] {pid}#{pid}: *{n} upstream timed out (110: Connection timed out) while connecting to upstream, "
        'client: {c}, server: api.example.com, request: "GET {r} HTTP/1.1", upstream: "http://{u}{r}", '
        'host: "api.example.com"'),
    (1, "[error] {pid}#{pid}: *{n} upstream timed out (110: Operation timed out) while reading upstream, "
        'client: {c}, server: api.example.com, request: "GET {r} HTTP/1.1", upstream: "http://{u}{r}", '
        'host: "api.example.com"'),
    (6, "[error] {pid}#{pid}: *{n} upstream prematurely closed connection while reading response header from "
        'upstream, client: {c}, server: app.example.com, request: "GET {r} HTTP/1.1", upstream: '
        '"uwsgi://unix:/run/uwsgi/app.sock:", host: "app.example.com"'),
    (6, "[error] {pid}#{pid}: *{n} recv() failed (104: Connection reset by peer) while reading response header "
        'from upstream, client: {c}, server: app.example.com, request: "GET {r} HTTP/1.1", upstream: '
        '"http://{u}{r}", host: "app.example.com"'),
    (2, "[error] {pid}#{pid}: *{n} writev() failed (32: Broken pipe) while sending request to upstream, "
        'client: {c}, server: app.example.com, request: "POST {r} HTTP/1.1", upstream: "http://{u}{r}", '
        'host: "app.example.com"'),
    (3, "[error] {pid}#{pid}: *{n} no live upstreams while connecting to upstream, client: {c}, server: "
        'shop.example.com, request: "GET {r} HTTP/1.1", upstream: "http://backend{r}", host: "shop.example.com"'),
    (2, "[warn] {pid}#{pid}: *{n} upstream server temporarily disabled while connecting to upstream, client: {c}, "
        'server: shop.example.com, request: "GET {r} HTTP/1.1", upstream: "http://{u}{r}", host: "shop.example.com"'),
    (1, "[error] {pid}#{pid}: *{n} upstream sent too big header while reading response header from upstream, "
        'client: {c}, server: shop.example.com, request: "GET {r} HTTP/1.1", upstream: "http://{u}{r}", '
        'host: "shop.example.com"'),
    (1, "[error] {pid}#{pid}: *{n} api.internal could not be resolved (3: Host not found), client: {c}, server: "
        'api.example.com, request: "GET {r} HTTP/1.1", host: "api.example.com"'),
    (1, "[error] {pid}#{pid}: *{n} SSL_do_handshake() failed (SSL: error:0A00010B:SSL routines::wrong version "
        "number) while SSL handshaking to upstream, client: {c}, server: api.example.com, request: "
        '"GET {r} HTTP/1.1", upstream: "https://{u}{r}", host: "api.example.com"'),
    (1, '[error] {pid}#{pid}: *{n} upstream sent invalid header: "X-Bad\\x01..." while reading response header '
        'from upstream, client: {c}, server: api.example.com, request: "GET {r} HTTP/1.1", upstream: '
        '"http://{u}{r}", host: "api.example.com"'),
    (1, "[error] {pid}#{pid}: *{n} connect() failed (111: Connection refused) while connecting to upstream, "
        'client: {c}, server: grpc.example.com, request: "POST /pkg.Svc/Call HTTP/2.0", upstream: '
        '"grpc://{u}", host: "grpc.example.com"'),
    (2, '[error] {pid}#{pid}: *{n} FastCGI sent in stderr: "PHP message: PHP Fatal error:  Uncaught Error: Call '
        'to undefined function foo() in /var/www/html/index.php:3" while reading response header from '
        'upstream, client: {c}, server: shop.example.com, request: "GET {r} HTTP/1.1", upstream: '
        '"fastcgi://unix:{s}:", host: "shop.example.com"'),
    (2, '[error] {pid}#{pid}: *{n} limiting requests, excess: 20.340 by zone "api", client: {c}, server: '
        'api.example.com, request: "GET {r} HTTP/1.1", host: "api.example.com"'),
    (1, "[alert] {pid}#{pid}: *{n} socket() failed (24: Too many open files) while connecting to upstream, "
        'client: {c}, server: api.example.com, request: "GET {r} HTTP/1.1", upstream: "http://{u}{r}", '
        'host: "api.example.com"'),
]
OTHER_LINES: list[tuple[int, str]] = [
    (14, '[error] {pid}#{pid}: *{n} open() "/var/www/html{r}" failed (2: No such file or directory), client: {c}, '
         'server: shop.example.com, request: "GET {r} HTTP/1.1", host: "shop.example.com"'),
    (8, "[info] {pid}#{pid}: *{n} client prematurely closed connection while sending to client, client: {c}, "
        'server: shop.example.com, request: "GET {r} HTTP/1.1", upstream: "http://{u}{r}", host: "shop.example.com"'),
    (6, "[info] {pid}#{pid}: *{n} epoll_wait() reported that client prematurely closed connection, so upstream "
        'connection is closed too while reading upstream, client: {c}, server: shop.example.com, request: '
        '"GET {r} HTTP/1.1", upstream: "http://{u}{r}", host: "shop.example.com"'),
    (6, "[crit] {pid}#{pid}: *{n} SSL_do_handshake() failed (SSL: error:0A00006C:SSL routines::bad key share) "
        "while SSL handshaking, client: {c}, server: 0.0.0.0:443"),
    (4, "[info] {pid}#{pid}: *{n} recv() failed (104: Connection reset by peer) while reading client request "
        "headers, client: {c}, server: 0.0.0.0:80"),
    (3, "[warn] {pid}#{pid}: *{n} an upstream response is buffered to a temporary file "
        "/var/cache/nginx/proxy_temp/1/00/0000000001 while reading upstream, client: {c}, server: "
        'shop.example.com, request: "GET {r} HTTP/1.1", upstream: "http://{u}{r}", host: "shop.example.com"'),
    (4, '[error] {pid}#{pid}: *{n} FastCGI sent in stderr: "Primary script unknown" while reading response header '
        'from upstream, client: {c}, server: shop.example.com, request: "GET {r} HTTP/1.1", upstream: '
        '"fastcgi://unix:{s}:", host: "shop.example.com"'),
    (3, '[error] {pid}#{pid}: *{n} FastCGI sent in stderr: "PHP message: PHP Warning:  Undefined variable $x in '
        '/var/www/html/index.php on line 3" while reading response header from upstream, client: {c}, server: '
        'shop.example.com, request: "GET {r} HTTP/1.1", upstream: "fastcgi://unix:{s}:", host: "shop.example.com"'),
    (2, "[info] {pid}#{pid}: *{n} client closed keepalive connection"),
    (2, '[error] {pid}#{pid}: *{n} access forbidden by rule, client: {c}, server: shop.example.com, request: '
        '"GET /.env HTTP/1.1", host: "shop.example.com"'),
]
FAILURE_SHARE = 0.45


def generate(path: Path, lines: int, seed: int = 502) -> None:
    """Write ``lines`` lines, deterministic for a given seed."""
    rng = random.Random(seed)
    fail_w = [w for w, _ in UPSTREAM_FAILURES]
    other_w = [w for w, _ in OTHER_LINES]
    clients = [f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
               for _ in range(5000)]
    upstreams = [f"10.0.{i // 8}.{i % 8 + 10}:{8000 + i % 4}" for i in range(64)]
    paths = [f"/{p}/{rng.randint(1, 99999)}" for p in ("api/v1/orders", "index.php", "static/app.js",
                                                       "img/logo.png", "checkout", "search")
             for _ in range(300)]
    sockets = ["/run/php/php8.2-fpm.sock", "/run/php/www.sock"]
    t0 = 1714564800  # 2024-05-01 12:00:00
    with open(path, "w", encoding="utf-8", buffering=1 << 20) as out:
        chunk: list[str] = []
        for i in range(lines):
            if rng.random() < FAILURE_SHARE:
                tpl = rng.choices(UPSTREAM_FAILURES, fail_w)[0][1]
            else:
                tpl = rng.choices(OTHER_LINES, other_w)[0][1]
            ts = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(t0 + i // 40))
            chunk.append(ts + " " + tpl.format(pid=2100 + i % 4, n=i + 1, c=rng.choice(clients),
                                               u=rng.choice(upstreams), r=rng.choice(paths),
                                               s=rng.choice(sockets)))
            if len(chunk) >= 10000:
                out.write("\n".join(chunk) + "\n")
                chunk.clear()
        if chunk:
            out.write("\n".join(chunk) + "\n")


def measure(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float, int, str]:
    """(wall s, CPU s (user+sys), peak RSS MiB, exit code, stdout) of one run.

    CPU seconds are reported too because the machine may be busy: wall time depends on what
    else runs, CPU time much less."""
    code = ("import json,resource,subprocess,sys,time;t=time.perf_counter();"
            "p=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
            "r=resource.getrusage(resource.RUSAGE_CHILDREN);"
            "print(json.dumps([time.perf_counter()-t,r.ru_utime+r.ru_stime,r.ru_maxrss,p.returncode,p.stdout]))")
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, env=env,
                         check=True)
    wall, cpu, rss_kb, rc, stdout = json.loads(out.stdout)
    return wall, cpu, rss_kb / 1024, rc, stdout


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=2_000_000, help="lines of the base file (default 2M)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 2],
                    help="multiples of --lines to run (default: 1 2, i.e. 2M and 4M lines)")
    ap.add_argument("--keep", metavar="DIR", help="write the generated files here and keep them")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="why502-classify-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for mult in args.sizes:
            n = args.lines * mult
            path = tmp / f"error-{n}.log"
            t = time.perf_counter()
            generate(path, n)
            gen_s = time.perf_counter() - t
            size_mb = path.stat().st_size / 2**20
            env = {**os.environ, "LC_ALL": "C"}
            load = os.getloadavg()[0]
            why_wall, why_cpu, why_rss, why_rc, why_out = measure([WHY502, "classify", str(path)])
            grep_wall, grep_cpu, grep_rss, _, grep_out = measure(["grep", "-c", "upstream", str(path)], env=env)
            m = re.search(r"([\d,]+)\s+recognised,\s+([\d,]+)\s+upstream\s+failures", why_out)
            row = {
                "lines": n, "size_mb": round(size_mb, 1), "generate_s": round(gen_s, 1),
                "load_before": round(load, 2),
                "why502_s": round(why_wall, 2), "why502_lines_per_s": round(n / why_wall),
                "why502_cpu_s": round(why_cpu, 2), "why502_lines_per_cpu_s": round(n / why_cpu),
                "why502_rss_mb": round(why_rss, 1), "why502_exit": why_rc,
                "why502_recognised": int(m.group(1).replace(",", "")) if m else None,
                "why502_failures": int(m.group(2).replace(",", "")) if m else None,
                "grep_s": round(grep_wall, 2), "grep_lines_per_s": round(n / grep_wall),
                "grep_cpu_s": round(grep_cpu, 2),
                "grep_rss_mb": round(grep_rss, 1), "grep_count": int(grep_out.strip() or 0),
            }
            results.append(row)
            if not args.keep:
                path.unlink()
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        print("| lines | file | tool | wall | lines/s (wall) | CPU | lines/CPU-s | peak RSS | result |")
        print("|---|---|---|---|---|---|---|---|---|")
        for r in results:
            print(f"| {r['lines']:,} | {r['size_mb']} MiB | `why502 classify` (summary) | {r['why502_s']} s | "
                  f"{r['why502_lines_per_s']:,} | {r['why502_cpu_s']} s | {r['why502_lines_per_cpu_s']:,} | "
                  f"{r['why502_rss_mb']} MiB | {r['why502_recognised']:,} recognised, "
                  f"{r['why502_failures']:,} upstream failures, exit {r['why502_exit']} |")
            print(f"| {r['lines']:,} | {r['size_mb']} MiB | `LC_ALL=C grep -c upstream` | {r['grep_s']} s | "
                  f"{r['grep_lines_per_s']:,} | {r['grep_cpu_s']} s | - | {r['grep_rss_mb']} MiB | "
                  f"{r['grep_count']:,} lines match |")
        print(f"load average before each run: {', '.join(str(r['load_before']) for r in results)} "
              f"(2 cores)")
    ok = all(r["why502_lines_per_s"] >= 1_000_000 and r["why502_rss_mb"] < 200 for r in results)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
