"""Peak RSS of every command on hostile inputs: a log of unique URIs/hosts/clients, a big error
log with an empty access log, one 100 MB line, a config of 5000 server blocks, a huge report.

Why: memory must stay bounded (< 400 MB) whatever the input; the tests check a ceiling on small
inputs (``tests/sources/test_resource_limits.py``), this script measures the real peaks on inputs of
the size that broke earlier versions.  Each run is measured by the kernel (``ru_maxrss`` of the
child, ``resource.getrusage(RUSAGE_CHILDREN)`` after a fresh ``fork``), with a time limit.

    python bench/rss_table.py --size 1000          # MB of each big input (1 GB)
    python bench/rss_table.py --size 100 --keep    # smaller, keep the inputs in bench/out/rss-100
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

LOG_FORMAT = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
    '"$http_user_agent" "$host" rt=$request_time ua="$upstream_addr" us="$upstream_status" '
    'uct="$upstream_connect_time" uht="$upstream_header_time" urt="$upstream_response_time"'
)
WHY502 = str(Path(sys.executable).with_name("why502"))
CEILING_MB = 400


def _write_lines(path: Path, size_mb: int, make: Callable[[int], str]) -> int:
    """Write lines made by ``make(i)`` until ``size_mb`` MB; returns the line count."""
    target = size_mb << 20
    n = done = 0
    with open(path, "w", encoding="utf-8", errors="surrogateescape") as fh:
        while done < target:
            block = "".join(make(n + i) for i in range(20_000))
            fh.write(block)
            done += len(block)
            n += 20_000
    return n


def _access_line(i: int) -> str:
    """A 5xx with a URI, host and client never seen before, plus escapes and C1 controls."""
    sec = i // 1000
    ts = f"21/Nov/2026:{10 + sec // 3600 % 10:02d}:{sec // 60 % 60:02d}:{sec % 60:02d} +0000"
    client = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
    return (
        f'{client} - - [{ts}] "GET /u/{i:x}/p\\x1b[2J{random.getrandbits(40):x}?q={i} HTTP/1.1" 502 157 '
        f'"-" "agent\\xc2\\x9b{i % 977}" "h{i}.example" rt=0.001 ua="10.0.0.{i % 7}:8080" '
        f'us="502" uct="-" uht="-" urt="0.000"\n'
    )


def _error_line(i: int) -> str:
    sec = i // 1000
    ts = f"2026/11/21 {10 + sec // 3600 % 10:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}"
    return (
        f"{ts} [error] 7#7: *{i} connect() failed (111: Connection refused) while connecting to "
        f'upstream, client: 10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}, server: s{i % 50}.example, '
        f'request: "GET /u/{i:x} HTTP/1.1", upstream: "http://10.0.0.{i % 7}:8080/u/{i:x}", '
        f'host: "h{i}.example"\n'
    )


def make_inputs(out: Path, size_mb: int) -> dict[str, Path]:
    random.seed(16)
    files = {
        "access": out / "access-unique.log",
        "error": out / "error-big.log",
        "empty": out / "access-empty.log",
        "line": out / "one-line.log",
        "conf": out / "nginx.conf",
        "servers": out / "servers-5000.conf",
        "dense": out / "locations-at-the-bound.conf",
        "over": out / "locations-over-the-bound.conf",
        "dense_access": out / "locations-access.log",
        "report": out / "report-huge.json",
    }
    if not files["access"].exists():
        _write_lines(files["access"], size_mb, _access_line)
    if not files["error"].exists():
        _write_lines(files["error"], size_mb, _error_line)
    files["empty"].write_text("")
    if not files["line"].exists():
        with open(files["line"], "wb") as fh:  # 100 MB without a newline, a request-ish start
            fh.write(b'10.0.0.1 - - [21/Nov/2026:10:00:00 +0000] "GET /')
            fh.write(b"A" * (100 << 20))
    files["conf"].write_text(
        "events {}\nhttp {\n"
        f"  log_format why502 '{LOG_FORMAT}';\n"
        "  upstream app { server 10.0.0.1:8080; server 10.0.0.2:8080; }\n"
        "  server { listen 80; location / { proxy_pass http://app; } }\n}\n"
    )
    servers = ["events {}\nhttp {\n  upstream app { server 10.0.0.1:8080; }\n"]
    for i in range(5000):
        servers.append(
            f"  server {{ listen 80; server_name s{i}.example; location / {{ proxy_pass http://app; "
            f"proxy_read_timeout {1 + i % 90}s; }} location /api/ {{ proxy_pass http://10.0.{i >> 8 & 255}."
            f"{i & 255}:9000; }} }}\n"
        )
    servers.append("}\n")
    files["servers"].write_text("".join(servers))
    # the densest config shape measured (one empty location a line), at the default config bound
    # (4 MiB) and at twice it (refused with one line, before it is parsed), with an access log
    # whose 3000 requests each go to a location of their own
    files["dense_access"].write_text("".join(
        f'127.0.0.1 - - [21/Nov/2026:10:{i // 60 % 60:02d}:{i % 60:02d} +0000] "GET /{i * 97:x}/p '
        f'HTTP/1.1" {(200, 502, 504)[i % 3]} 12 "-" "curl/8"\n' for i in range(3000)))
    for key, size in (("dense", 4 << 20), ("over", 8 << 20)):
        head = f"events {{}}\nhttp {{\n access_log {files['dense_access']};\n server {{\n  listen 80;\n"
        lines, used, i = [head], len(head), 0
        while used < size - 200:
            lines.append(f"  location /{i:x} {{}}\n")
            used += len(lines[-1])
            i += 1
        lines.append(" }\n}\n")
        files[key].write_text("".join(lines))
    if not files["report"].exists():  # a report JSON of size_mb: one finding with a huge field
        with open(files["report"], "w", encoding="utf-8") as fh:
            fh.write('{"schema_version": 1, "findings": [{"title": "')
            chunk = "x" * (1 << 20)
            for _ in range(size_mb):
                fh.write(chunk)
            fh.write('"}]}')
    return files


def runs(f: dict[str, Path]) -> list[tuple[str, list[str]]]:
    fmt = ["--log-format", "why502", "--nginx-conf", str(f["conf"])]
    return [
        ("classify: error log", ["classify", str(f["error"])]),
        ("classify --format jsonl: error log", ["classify", "--format", "jsonl", str(f["error"])]),
        ("classify: 100 MB line", ["classify", str(f["line"])]),
        ("stats: unique URIs/hosts/clients", ["stats", *fmt, "--no-error-log", str(f["access"])]),
        ("stats --error-log: empty access log",
         ["stats", *fmt, "--error-log", str(f["error"]), str(f["empty"])]),
        ("stats: 100 MB line", ["stats", *fmt, "--no-error-log", str(f["line"])]),
        ("diagnose: error + access log", ["diagnose", "--offline", "--nginx-conf", str(f["conf"]),
                                          "--error-log", str(f["error"]), "--access-log", str(f["access"])]),
        ("diagnose: 100 MB line (both logs)",
         ["diagnose", "--offline", "--nginx-conf", str(f["conf"]), "--error-log", str(f["line"]),
          "--access-log", str(f["line"])]),
        ("diagnose: 5000 servers", ["diagnose", "--offline", "--nginx-conf", str(f["servers"])]),
        ("lint: 5000 servers", ["lint", str(f["servers"])]),
        ("diagnose: densest 4 MiB config + access log",
         ["diagnose", "--offline", "--nginx-conf", str(f["dense"])]),
        ("lint --format sarif: densest 4 MiB config", ["lint", str(f["dense"]), "--format", "sarif"]),
        ("lint: 8 MiB config (over the bound)", ["lint", str(f["over"])]),
        ("render: huge report", ["render", str(f["report"]), "--format", "html"]),
    ]


def measure(argv: list[str], timeout: float) -> tuple[int | None, float, float]:
    """(exit code or None on timeout, peak RSS MB, seconds) of one run, in a fresh child."""
    r, w = os.pipe()
    start = time.monotonic()
    pid = os.fork()
    if pid == 0:  # the child: run the command, report its children's peak
        os.close(r)
        try:
            proc = subprocess.run([WHY502, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                  stdin=subprocess.DEVNULL, timeout=timeout, check=False)
            code: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            code = None
        import resource

        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
        os.write(w, json.dumps([code, peak]).encode())
        os._exit(0)
    os.close(w)
    data = b""
    while chunk := os.read(r, 4096):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    code, peak = json.loads(data)
    return code, peak / 1024, time.monotonic() - start


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1000, help="MB of each big input (default 1000)")
    ap.add_argument("--keep", action="store_true", help="generate into bench/out/rss-SIZE and keep it")
    ap.add_argument("--timeout", type=float, default=600.0)
    ap.add_argument("--only", help="run only the rows whose label contains this")
    args = ap.parse_args()
    if args.keep:
        out = Path(__file__).parent / "out" / f"rss-{args.size}"
        out.mkdir(parents=True, exist_ok=True)
    else:
        out = Path(tempfile.mkdtemp(prefix="why502-rss-"))
    try:
        files = make_inputs(out, args.size)
        print(f"inputs: {args.size} MB access log ({files['access'].stat().st_size >> 20} MB), "
              f"error log {files['error'].stat().st_size >> 20} MB, one line of 100 MB, 5000 servers, "
              f"4 and 8 MiB of empty locations, report {files['report'].stat().st_size >> 20} MB")
        print("| run | exit | peak RSS (MB) | wall (s) |")
        print("|---|---|---|---|")
        worst = 0.0
        for label, argv in runs(files):
            if args.only and args.only not in label:
                continue
            code, mb, secs = measure(argv, args.timeout)
            worst = max(worst, mb)
            print(f"| {label} | {'timeout' if code is None else code} | {mb:.0f} | {secs:.1f} |", flush=True)
        print(f"worst peak: {worst:.0f} MB (ceiling {CEILING_MB} MB)")
        return 0 if worst < CEILING_MB else 1
    finally:
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
