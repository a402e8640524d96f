# ruff: noqa: E501 -- log-line templates read better unwrapped
"""Benchmark ``why502 classify`` against ``grep -c upstream`` on a generated nginx error log.

Generates a realistic, deterministic (seeded) nginx error log -- upstream failures of many kinds
(proxy, fastcgi, uwsgi, grpc; refused, ENOENT, EACCES, EAGAIN, timeouts in every phase, resets,
premature closes, no live upstreams, DNS, TLS, invalid headers, limit_req), client noise (499s,
client TLS handshakes, client-side recv/writev), static-file errors, buffering warnings, PHP
warnings in FastCGI stderr -- in a temp dir, then times in one run, per file size:

* ``why502 classify FILE`` (default summary output) and ``--format jsonl``, each with the
  native scanner and with the polars engine alone (``WHY502_NATIVE=0``), and
* ``LC_ALL=C grep -c upstream FILE`` (the floor: one pass, no understanding),

reporting wall time, lines/s, CPU seconds and peak RSS (``getrusage`` of a wrapper process),
for two shapes side by side: ``mixed`` (45 % failures of 20 kinds against 64 peers) and
``outage`` (a third of the lines upstream failures of 32 kinds against 600 peers, plus
ModSecurity, keepalive resets, lines without a connection number); and the outage log's first
300k lines as CRI, ``--timestamps`` and docker json-file lines (``--framings``).
Targets (the first engine named, native by default): >= 1M lines/s summary, >= 0.5M lines/s
jsonl, RSS < 200 MB whatever the file size; the exit code says whether they were met.
``--shapes apache apache-outage``: Apache httpd's error log instead (mod_proxy's failures among
mod_ssl's and the MPM's lines), against ``grep -c proxy:error``.

    .venv/bin/python bench/classify_bench.py                 # 2M lines, then 4M lines, both shapes
    .venv/bin/python bench/classify_bench.py --lines 500000 --sizes 1 --shapes outage
    .venv/bin/python bench/classify_bench.py --sizes 1 --keep bench/out   # keep (and reuse) the logs
    .venv/bin/python bench/classify_bench.py --lines 1000000 --sizes 1 --shapes apache apache-outage --framings

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
from collections.abc import Callable
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

# The "outage" shape: a third of the lines are upstream failures of many kinds against hundreds of
# Kubernetes pods (each its own peer), the rest what an outage also brings -- client aborts,
# client TLS noise, ModSecurity and static-file errors -- and lines without a connection number.
OUTAGE_FAILURES: list[tuple[int, str]] = [
    *UPSTREAM_FAILURES,
    (4, "[error] {pid}#{pid}: *{n} recv() failed (104: Connection reset by peer) while reading upstream, client: {c}, "
        'server: api.example.com, request: "GET {r}?page=2&sort=desc HTTP/1.1", upstream: "http://{u}{r}?page=2&sort=desc", '
        'host: "api.example.com"'),
    (3, "[error] {pid}#{pid}: *{n} upstream prematurely closed connection while reading upstream, client: {c}, "
        'server: api.example.com, request: "GET {r} HTTP/1.1", upstream: "http://{u}{r}", host: "api.example.com"'),
    (3, "[error] {pid}#{pid}: *{n} connect() failed (113: No route to host) while connecting to upstream, client: {c}, "
        'server: api.example.com, request: "GET {r} HTTP/1.1", upstream: "http://{u}{r}", host: "api.example.com"'),
    (2, "[error] {pid}#{pid}: *{n} connect() failed (110: Connection timed out) while connecting to upstream, client: {c}, "
        'server: api.example.com, request: "GET {r} HTTP/1.1", upstream: "http://{u}{r}", host: "api.example.com"'),
    (2, "[alert] {pid}#{pid}: *{n} 1024 worker_connections are not enough while connecting to upstream, client: {c}, "
        'server: api.example.com, request: "GET {r} HTTP/1.1", upstream: "http://{u}{r}", host: "api.example.com"'),
    (1, "[crit] {pid}#{pid}: accept4() failed (24: Too many open files)"),
    (2, "[error] {pid}#{pid}: *{n} backend.svc.cluster.local could not be resolved (110: Operation timed out), client: {c}, "
        'server: api.example.com, request: "GET {r} HTTP/1.1", host: "api.example.com"'),
    (2, "[error] {pid}#{pid}: *{n} upstream timed out (110: Connection timed out) while sending request to upstream, "
        'client: {c}, server: api.example.com, request: "POST {r} HTTP/1.1", upstream: "http://{u}{r}", '
        'host: "api.example.com"'),
    (2, "[error] {pid}#{pid}: *{n} readv() failed (104: Connection reset by peer) while reading upstream, client: {c}, "
        'server: app.example.com, request: "GET {r} HTTP/1.1", upstream: "fastcgi://unix:{s}:", host: "app.example.com"'),
    (1, "[error] {pid}#{pid}: *{n} upstream sent invalid chunked response while reading upstream, client: {c}, server: "
        'api.example.com, request: "GET {r} HTTP/1.1", upstream: "http://{u}{r}", host: "api.example.com"'),
    (1, "[error] {pid}#{pid}: *{n} upstream SSL certificate verify error: (10:certificate has expired) while SSL "
        'handshaking to upstream, client: {c}, server: api.example.com, request: "GET {r} HTTP/1.1", upstream: '
        '"https://{u}{r}", host: "api.example.com"'),
    (1, '[error] {pid}#{pid}: *{n} FastCGI sent in stderr: "PHP message: PHP Fatal error:  Allowed memory size of '
        "134217728 bytes exhausted (tried to allocate 20480 bytes) in /var/www/html/vendor/lib.php on line 88\" while "
        'reading response header from upstream, client: {c}, server: shop.example.com, request: "GET {r} HTTP/1.1", '
        'upstream: "fastcgi://unix:{s}:", host: "shop.example.com"'),
]
OUTAGE_OTHER: list[tuple[int, str]] = [
    *OTHER_LINES,
    (6, "[info] {pid}#{pid}: *{n} client {c} closed keepalive connection (104: Connection reset by peer)"),
    (4, '[error] {pid}#{pid}: *{n} [client {c}] ModSecurity: Access denied with code 403 (phase 2). Matched "Operator '
        "`Ge' with parameter `5' against variable `TX:ANOMALY_SCORE' (Value: `5' ) [file "
        '"/etc/nginx/modsec/coreruleset/rules/REQUEST-949-BLOCKING-EVALUATION.conf"] [line "80"] [id "949110"] '
        '[rev ""] [msg "Inbound Anomaly Score Exceeded (Total Score: 5)"] [data ""] [severity "2"] [ver '
        '"OWASP_CRS/3.3.2"] [maturity "0"] [accuracy "0"] [tag "application-multi"] [hostname "10.0.0.1"] '
        '[uri "{r}"] [unique_id "16843{n}"] [ref ""], client: {c}, server: shop.example.com, request: '
        '"GET {r} HTTP/1.1", host: "shop.example.com"'),
    (3, "[warn] {pid}#{pid}: *{n} upstream server temporarily disabled while reading response header from upstream, "
        'client: {c}, server: shop.example.com, request: "GET {r} HTTP/1.1", upstream: "http://{u}{r}", '
        'host: "shop.example.com"'),
]
OUTAGE_SHARE = 0.36  # ~1/3 upstream failures (the temporarily-disabled warnings are events, counted apart)
SHAPES = {
    "mixed": (UPSTREAM_FAILURES, OTHER_LINES, FAILURE_SHARE, 64),
    "outage": (OUTAGE_FAILURES, OUTAGE_OTHER, OUTAGE_SHARE, 600),
}



# Apache httpd's error log (its default ErrorLogFormat, server/log.c: "[%t] [%m:%l] [pid %P:tid
# %T] [client %a] message"): mod_proxy's failures (proxy_util.c AH00957, AH00959;
# mod_proxy_http.c AH01102; mod_proxy_fcgi.c AH01079) against a few backends among mod_ssl's and
# the MPM's routine lines; the share of failures per shape.  grep's needle: "proxy:error".
APACHE_FAILURES = [
    "[proxy:error] [pid {pid}:tid {tid}] (111)Connection refused: AH00957: http: attempt to connect to {u} ({u}) failed",
    "[proxy_http:error] [pid {pid}:tid {tid}] [client {c}:{port}] (70007)The timeout specified has expired: AH01102: error reading status line from remote server {u}",
    "[proxy:error] [pid {pid}:tid {tid}] AH00959: ap_proxy_connect_backend disabling worker for ({u}) for 60s",
    "[proxy_fcgi:error] [pid {pid}:tid {tid}] [client {c}:{port}] AH01079: failed to make connection to backend: {u}",
]
APACHE_OTHERS = [
    "[ssl:info] [pid {pid}:tid {tid}] [client {c}:{port}] AH01964: Connection to child {child} established (server shop:443)",
    "[mpm_event:notice] [pid {pid}:tid {tid}] AH00489: Apache/2.4.62 (Debian) configured -- resuming normal operations",
    "[core:info] [pid {pid}:tid {tid}] [client {c}:{port}] AH00128: File does not exist: /var/www/html/favicon.ico",
]
APACHE_SHAPES = {"apache": 0.05, "apache-outage": 0.5}
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def generate_apache(path: Path, lines: int, seed: int = 502, shape: str = "apache") -> None:
    """Write ``lines`` lines of httpd's error log, ``APACHE_SHAPES[shape]`` of them failures."""
    share = APACHE_SHAPES[shape]
    rng = random.Random(seed)
    upstreams = [f"10.0.{i // 4}.{i % 4 + 10}:{8080 + i % 2}" for i in range(8)]
    clients = [f"10.1.{rng.randint(0, 250)}.{rng.randint(1, 254)}" for _ in range(500)]
    t0 = 1714564800  # 2024-05-01 12:00:00
    with open(path, "w", encoding="utf-8", buffering=1 << 20) as out:
        chunk: list[str] = []
        for i in range(lines):
            tpl = rng.choice(APACHE_FAILURES) if rng.random() < share else rng.choice(APACHE_OTHERS)
            t = time.gmtime(t0 + i // 40)
            stamp = (f"[{DAYS[t.tm_wday]} {MONTHS[t.tm_mon - 1]} {t.tm_mday:02d} "
                     f"{time.strftime('%H:%M:%S', t)}.{i % 1000000:06d} {t.tm_year}] ")
            chunk.append(stamp + tpl.format(pid=31985 + i % 4, tid=31992 + i % 25, c=rng.choice(clients),
                                            port=40000 + i % 20000, u=rng.choice(upstreams), child=i % 50))
            if len(chunk) >= 10000:
                out.write("\n".join(chunk) + "\n")
                chunk.clear()
        if chunk:
            out.write("\n".join(chunk) + "\n")


def _needle(shape: str) -> str:
    """What ``grep -c`` counts in a log of ``shape``: Apache's proxy errors, nginx's upstream lines."""
    return "proxy:error" if shape in APACHE_SHAPES else "upstream"


def generate(path: Path, lines: int, seed: int = 502, shape: str = "mixed") -> None:
    """Write ``lines`` lines of ``shape`` (SHAPES or APACHE_SHAPES), deterministic for a given seed."""
    if shape in APACHE_SHAPES:
        generate_apache(path, lines, seed, shape)
        return
    failures, others, share, peers = SHAPES[shape]
    rng = random.Random(seed)
    fail_w = [w for w, _ in failures]
    other_w = [w for w, _ in others]
    clients = [f"{rng.randint(1, 223)}.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
               for _ in range(5000)]
    upstreams = [f"10.{i // 250}.{i // 8 % 250}.{i % 8 + 10}:{8000 + i % 4}" for i in range(peers)]
    paths = [f"/{p}/{rng.randint(1, 99999)}" for p in ("api/v1/orders", "index.php", "static/app.js",
                                                       "img/logo.png", "checkout", "search")
             for _ in range(300)]
    sockets = ["/run/php/php8.2-fpm.sock", "/run/php/www.sock"]
    t0 = 1714564800  # 2024-05-01 12:00:00
    with open(path, "w", encoding="utf-8", buffering=1 << 20) as out:
        chunk: list[str] = []
        for i in range(lines):
            if rng.random() < share:
                tpl = rng.choices(failures, fail_w)[0][1]
            else:
                tpl = rng.choices(others, other_w)[0][1]
            ts = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime(t0 + i // 40))
            chunk.append(ts + " " + tpl.format(pid=2100 + i % 4, n=i + 1, c=rng.choice(clients),
                                               u=rng.choice(upstreams), r=rng.choice(paths),
                                               s=rng.choice(sockets)))
            if len(chunk) >= 10000:
                out.write("\n".join(chunk) + "\n")
                chunk.clear()
        if chunk:
            out.write("\n".join(chunk) + "\n")


# How the same nginx lines arrive when they are not read from nginx's own file (the native
# scanner and the polars engine, parsers.errorlog_peel, peel these three; others go through the
# per-line engine).
FRAMINGS: dict[str, Callable[[str], str]] = {
    # CRI (containerd, CRI-O): /var/log/containers/*.log
    "cri": lambda s: f"2024-05-01T12:00:01.123456789Z stderr F {s}",
    # kubectl logs --timestamps, docker logs --timestamps
    "timestamps": lambda s: f"2024-05-01T12:00:01.123456789Z {s}",
    # docker's json-file driver: moby jsonlog (no spaces; <, > and & escaped as \u00XX)
    "docker-json": lambda s: ('{"log":' + json.dumps(s + "\n").replace("&", "\\u0026").replace("<", "\\u003c")
                              .replace(">", "\\u003e") + ',"stream":"stderr","time":"2024-05-01T12:00:01.123456789Z"}'),
}


def frame(src: Path, dst: Path, framing: str, lines: int) -> None:
    """The first ``lines`` lines of ``src`` in ``framing``."""
    wrap = FRAMINGS[framing]
    with open(src, encoding="utf-8") as inp, open(dst, "w", encoding="utf-8", buffering=1 << 20) as out:
        for _, line in zip(range(lines), inp):
            out.write(wrap(line.rstrip("\n")) + "\n")


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


def _run_shape(path: Path, n: int, shape: str, jsonl: bool, engine: str, grep: bool = True) -> dict[str, object]:
    """Time summary, optionally jsonl, and grep on one generated file with one classify engine
    (``native``: the C scanner; ``polars``: ``WHY502_NATIVE=0``)."""
    env = {**os.environ, "LC_ALL": "C"}
    why_env = {**os.environ, "WHY502_NATIVE": "1" if engine == "native" else "0"}
    load = os.getloadavg()[0]
    why_wall, why_cpu, why_rss, why_rc, why_out = measure([WHY502, "classify", str(path)], env=why_env)
    m = re.search(r"([\d,]+)\s+recognised,\s+([\d,]+)\s+upstream\s+failures", why_out)
    row: dict[str, object] = {
        "shape": shape, "engine": engine, "lines": n, "size_mb": round(path.stat().st_size / 2**20, 1),
        "load_before": round(load, 2),
        "why502_s": round(why_wall, 2), "why502_lines_per_s": round(n / why_wall),
        "why502_cpu_s": round(why_cpu, 2), "why502_lines_per_cpu_s": round(n / why_cpu),
        "why502_rss_mb": round(why_rss, 1), "why502_exit": why_rc,
        "why502_recognised": int(m.group(1).replace(",", "")) if m else None,
        "why502_failures": int(m.group(2).replace(",", "")) if m else None,
    }
    if jsonl:
        code = ("import resource,subprocess,sys,time,json;t=time.perf_counter();"
                "p=subprocess.run(sys.argv[1:],stdout=subprocess.DEVNULL);"
                "r=resource.getrusage(resource.RUSAGE_CHILDREN);"
                "print(json.dumps([time.perf_counter()-t,r.ru_utime+r.ru_stime,r.ru_maxrss,p.returncode,'']))")
        out = subprocess.run([sys.executable, "-c", code, WHY502, "classify", "--format", "jsonl", str(path)],
                             capture_output=True, text=True, check=True, env=why_env)
        j_wall, j_cpu, j_rss, _, _ = json.loads(out.stdout)
        row.update({"jsonl_s": round(j_wall, 2), "jsonl_lines_per_s": round(n / j_wall),
                    "jsonl_cpu_s": round(j_cpu, 2), "jsonl_rss_mb": round(j_rss / 1024, 1)})
    if not grep:
        return row
    grep_wall, grep_cpu, grep_rss, _, grep_out = measure(["grep", "-c", _needle(shape), str(path)], env=env)
    row.update({"grep_s": round(grep_wall, 2), "grep_lines_per_s": round(n / grep_wall),
                "grep_cpu_s": round(grep_cpu, 2), "grep_rss_mb": round(grep_rss, 1),
                "grep_count": int(grep_out.strip() or 0)})
    return row


def _print_table(results: list[dict[str, object]]) -> None:
    print("| shape | lines | file | tool | wall | lines/s (wall) | CPU | lines/CPU-s | peak RSS | result |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        head = f"| {r['shape']} | {r['lines']:,} | {r['size_mb']} MiB |"
        engine = f"{r['engine']}: "
        print(f"{head} {engine}`why502 classify` (summary) | {r['why502_s']} s | {r['why502_lines_per_s']:,} | "
              f"{r['why502_cpu_s']} s | {r['why502_lines_per_cpu_s']:,} | {r['why502_rss_mb']} MiB | "
              f"{r['why502_recognised']:,} recognised, {r['why502_failures']:,} upstream failures, "
              f"exit {r['why502_exit']} |")
        if "jsonl_s" in r:
            print(f"{head} {engine}`why502 classify --format jsonl` | {r['jsonl_s']} s | "
                  f"{r['jsonl_lines_per_s']:,} | "
                  f"{r['jsonl_cpu_s']} s | - | {r['jsonl_rss_mb']} MiB | one object per recognised line |")
        if r.get("grep_s") is not None:
            print(f"{head} `LC_ALL=C grep -c {_needle(str(r['shape']))}` | {r['grep_s']} s | {r['grep_lines_per_s']:,} | "
                  f"{r['grep_cpu_s']} s | - | {r['grep_rss_mb']} MiB | {r['grep_count']:,} lines match |")
    print(f"load average before each run: {', '.join(str(r['load_before']) for r in results)} (2 cores)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=2_000_000, help="lines of the base file (default 2M)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[1, 2],
                    help="multiples of --lines to run (default: 1 2, i.e. 2M and 4M lines)")
    ap.add_argument("--shapes", nargs="+", choices=sorted([*SHAPES, *APACHE_SHAPES]), default=["mixed", "outage"],
                    help="log shapes, reported side by side (default: mixed outage; apache, apache-outage: "
                    "httpd's error log, 5 %% or 50 %% of it mod_proxy's failures)")
    ap.add_argument("--no-jsonl", action="store_true", help="skip the --format jsonl runs")
    ap.add_argument("--engines", nargs="+", choices=["native", "polars"], default=["native", "polars"],
                    help="classify engines, side by side (default: both; polars = WHY502_NATIVE=0)")
    ap.add_argument("--framings", nargs="*", choices=sorted(FRAMINGS), default=sorted(FRAMINGS),
                    help="also time the outage log's first --framing-lines lines in these framings "
                    "(default: all; none: --framings)")
    ap.add_argument("--framing-lines", type=int, default=300_000,
                    help="lines per framed log (default 300k)")
    ap.add_argument("--keep", metavar="DIR",
                    help="write the generated files here and keep them (a file already there is reused)")
    ap.add_argument("--json", action="store_true", help="print the results as JSON")
    args = ap.parse_args()
    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="why502-classify-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    results = []
    try:
        for mult in args.sizes:
            n = args.lines * mult
            for shape in args.shapes:
                path = tmp / f"error-{shape}-{n}.log"
                if not (args.keep and path.exists()):
                    generate(path, n, shape=shape)
                for i, engine in enumerate(args.engines):
                    results.append(_run_shape(path, n, shape, jsonl=not args.no_jsonl, engine=engine,
                                              grep=i == len(args.engines) - 1))
                if shape == "outage":
                    for framing in args.framings:
                        framed = tmp / f"error-outage-{framing}-{args.framing_lines}.log"
                        if not (args.keep and framed.exists()):
                            frame(path, framed, framing, args.framing_lines)
                        for i, engine in enumerate(args.engines):
                            results.append(_run_shape(framed, args.framing_lines, f"outage, {framing}",
                                                      jsonl=not args.no_jsonl, engine=engine,
                                                      grep=i == len(args.engines) - 1))
                        if not args.keep:
                            framed.unlink()
                if not args.keep:
                    path.unlink()
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        _print_table(results)
    judged = [r for r in results if r["engine"] == args.engines[0] and "," not in str(r["shape"])]
    ok = all(int(str(r["why502_lines_per_s"])) >= 1_000_000 and float(str(r["why502_rss_mb"])) < 200
             and int(str(r.get("jsonl_lines_per_s", 500_000))) >= 500_000 for r in judged)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
