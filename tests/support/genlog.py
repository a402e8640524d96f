"""Access logs whose exact truth is known, for the tests: a realistic nginx access log (with
``$upstream_*`` fields), its error log, the config that would write them, and the counts.

Why: ``why502 stats`` must give exact counts, so the tests compare its answers with the truth
kept while the lines were written.  Every line is built the way nginx writes it
(``ngx_http_upstream_next()`` and ``ngx_http_upstream_response_time_variable()`` in
src/http/ngx_http_upstream.c):

- one value per upstream attempt joined by ``", "``, internal redirects joined by ``" : "``;
- a failed attempt (refused, timed out, premature close) has ``$upstream_header_time`` = ``-``
  and nginx writes its *own* 502/504 into ``$upstream_status``, plus an error-log line;
- a backend's own 503 has a numeric header time and no error-log line;
- ``proxy_next_upstream`` (default ``error timeout``) retries a refused attempt on the next
  server, so some requests end 200 after a failed attempt ("rescued");
- nginx's own 503 (``limit_req``) has no upstream at all (``$upstream_addr`` = ``-``).

``generate(lines, out, ...)`` writes into ``out``: ``access.log`` (or a rotated set with
``rotate``), ``error.log``, ``nginx.conf`` and ``truth.json`` (the exact counts), and returns the
truth.  Seeded: the same arguments give the same files.  (The benchmarks have their own
generator for volume, bench/gen_access_log.py; tests and benchmarks do not import each other.)
"""

from __future__ import annotations

import gzip
import json
import random
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

LOG_FORMAT = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
    '"$http_referer" "$http_user_agent" "$host" rt=$request_time ua="$upstream_addr" '
    'us="$upstream_status" uct="$upstream_connect_time" uht="$upstream_header_time" '
    'urt="$upstream_response_time"'
)

APP = ["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"]
PHP = "unix:/run/php/php8.2-fpm.sock"
READ_TIMEOUT = {"/api/": 60.0, "php": 30.0}
REFUSE_P = {APP[0]: 0.3, APP[1]: 1.0, APP[2]: 0.5}

UAS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1",
    "curl/8.5.0",
    "okhttp/4.12.0",
]

NGINX_CONF = """\
user www-data;
worker_processes auto;
error_log {out}/error.log;
events {{ worker_connections 1024; }}
http {{
    log_format why502 '{fmt}';
    access_log {out}/access.log why502;
    limit_req_zone $binary_remote_addr zone=perip:10m rate=50r/s;
    upstream app {{
        server 10.0.0.1:8080;
        server 10.0.0.2:8080;
        server 10.0.0.3:8080;
    }}
    server {{
        listen 80;
        server_name api.example.com;
        location /api/ {{
            limit_req zone=perip burst=100;
            proxy_pass http://app;
            proxy_read_timeout 60s;
        }}
    }}
    server {{
        listen 80;
        server_name www.example.com;
        root /var/www/html;
        location /static/ {{ expires 1d; }}
        location ~ \\.php$ {{
            include fastcgi_params;
            fastcgi_pass unix:/run/php/php8.2-fpm.sock;
            fastcgi_read_timeout 30s;
        }}
        error_page 404 = /index.php;
    }}
}}
"""


class Gen:
    """Builds lines and keeps the ground truth while doing it."""

    def __init__(self, seed: int) -> None:
        self.rnd = random.Random(seed)
        self.truth: dict[str, Any] = {
            "requests": 0,
            "unparsed": 0,
            "by_status": Counter(),
            "timeline_5xx": defaultdict(Counter),
            "upstream_attempts": Counter(),
            "upstream_failed_attempts": Counter(),
            "made_by": Counter(),
            "rescued": 0,
            "retried": 0,
            "redirected": 0,
            "error_lines": 0,
            "error_lines_for_5xx": 0,
            "nginx_5xx_without_error_line": 0,
            "near_timeout": Counter(),
            "by_host_5xx": Counter(),
            "by_symptom": Counter(),
            "by_symptom_requests": Counter(),
        }
        self.clients = [f"203.0.{i // 250}.{i % 250 + 1}" for i in range(3000)]

    # one attempt: (addr, status, connect, header, response, error-symptom or None)
    def ok(self, addr: str, t: float, status: int = 200) -> tuple[str, str, str, str, str, str | None]:
        c = self.rnd.random() * 0.002
        return (addr, str(status), f"{c:.3f}", f"{t:.3f}", f"{t + 0.001:.3f}", None)

    def request(
        self, phase: str
    ) -> tuple[str, str, list[list[tuple[str, str, str, str, str, str | None]]], int]:
        """Return (host, request line, attempt groups, final status)."""
        r = self.rnd.random()
        rnd = self.rnd
        if r < 0.55:
            host = "api.example.com"
            kind = rnd.random()
            if kind < 0.5:
                path = f"/api/v1/users/{rnd.randint(1, 999999)}"
            elif kind < 0.8:
                path = f"/api/v1/orders/{rnd.getrandbits(64):016x}/items"
            else:
                path = f"/api/v1/search?q=item{rnd.randint(1, 99)}"
            method = "POST" if rnd.random() < 0.1 else "GET"
            req = f"{method} {path} HTTP/1.1"
            if phase == "limit" and rnd.random() < 0.3:
                return host, req, [], 503
            start = rnd.randrange(3)
            addrs = [APP[(start + i) % 3] for i in range(3)]
            groups: list[tuple[str, str, str, str, str, str | None]] = []
            for addr in addrs:
                if phase == "refused" and rnd.random() < REFUSE_P[addr]:
                    # Refused: the request was never sent, so proxy_next_upstream (default
                    # "error timeout") tries the next server even for POST.
                    groups.append((addr, "502", "-", "-", "0.000", "connection-refused"))
                    continue
                if phase == "slow" and addr == APP[2] and rnd.random() < 0.6:
                    if rnd.random() < 0.5:
                        groups.append((addr, "504", "0.001", "-", "60.001", "read-timeout"))
                        break  # timeout: no retry here (proxy_next_upstream off for timeouts)
                    t = 50 + rnd.random() * 9.5
                    groups.append(self.ok(addr, t))
                    break
                if phase == "backend503" and addr == APP[0] and rnd.random() < 0.5:
                    c = rnd.random() * 0.002
                    groups.append((addr, "503", f"{c:.3f}", "0.004", "0.004", None))
                    break
                if phase == "normal" and rnd.random() < 0.0004:
                    groups.append((addr, "502", "0.001", "-", "0.150", "premature-close"))
                    break
                groups.append(self.ok(addr, rnd.lognormvariate(-3.0, 0.8)))
                break
            final = int(groups[-1][1])
            return host, req, [groups], final
        host = "www.example.com"
        kind = rnd.random()
        if kind < 0.4:
            return host, f"GET /static/app.{rnd.randint(1, 40)}.css HTTP/1.1", [], 200
        if kind < 0.45:
            # try_files miss -> 404 from PHP, error_page 404 = /index.php: an internal redirect.
            g1 = [self.ok(PHP, 0.010, 404)]
            g2 = [self.ok(PHP, rnd.lognormvariate(-2.5, 0.6))]
            return host, f"GET /old/page-{rnd.randint(1, 500)} HTTP/1.1", [g1, g2], 200
        req = f"GET /index.php?page={rnd.randint(1, 300)} HTTP/1.1"
        if phase == "php-down" and rnd.random() < 0.8:
            return host, req, [[(PHP, "502", "-", "-", "0.000", "socket-not-found")]], 502
        return host, req, [[self.ok(PHP, rnd.lognormvariate(-2.5, 0.6))]], 200


def phase_at(frac: float) -> str:
    for lo, hi, name in INCIDENTS:
        if lo <= frac < hi:
            return name
    return "normal"


# (start fraction, end fraction, phase) of the generated time span.
INCIDENTS = [
    (0.20, 0.23, "refused"),
    (0.45, 0.48, "slow"),
    (0.62, 0.64, "backend503"),
    (0.75, 0.77, "php-down"),
    (0.88, 0.89, "limit"),
]

ERR = {
    "connection-refused": (
        "error",
        "connect() failed (111: Connection refused) while connecting to upstream",
    ),
    "socket-not-found": (
        "crit",
        "connect() to unix:/run/php/php8.2-fpm.sock failed "
        "(2: No such file or directory) while connecting to upstream",
    ),
    "read-timeout": (
        "error",
        "upstream timed out (110: Connection timed out) while reading response header from upstream",
    ),
    "premature-close": (
        "error",
        "upstream prematurely closed connection while reading response header from upstream",
    ),
}


def generate(
    lines: int,
    out: Path,
    seed: int = 1,
    rate: float = 60.0,
    rotate: int = 1,
    start: str = "2026-11-20T00:00:00",
    garbage_every: int = 50_000,
) -> dict[str, Any]:
    """Write the logs and the truth into ``out``; return the truth."""
    out.mkdir(parents=True, exist_ok=True)
    g = Gen(seed)
    truth = g.truth
    rnd = g.rnd
    tz = timezone(timedelta(hours=1))
    t0 = datetime.fromisoformat(start).replace(tzinfo=tz)
    span = lines / rate
    names = ["access.log"] + [f"access.log.{i}" for i in range(1, rotate)]
    per_file = -(-lines // rotate)
    files = list(reversed(names))  # oldest first
    err = open(out / "error.log", "w", encoding="utf-8")  # noqa: SIM115
    conn = 1000
    written = 0
    fh = None
    buf: list[str] = []
    ebuf: list[str] = []
    tl_cache: dict[int, tuple[str, str, str]] = {}
    for i in range(lines):
        if i % per_file == 0:
            if fh is not None:
                fh.write("".join(buf))
                buf.clear()
                fh.close()
            name = files[i // per_file]
            idx = name.rsplit(".", 1)[-1]
            if idx.isdigit() and int(idx) >= 2:
                fh = gzip.open(out / (name + ".gz"), "wt", encoding="utf-8")  # noqa: SIM115
            else:
                fh = open(out / name, "w", encoding="utf-8")  # noqa: SIM115
        sec = int(i / rate)
        if sec not in tl_cache:
            tl_cache.clear()
            dt = t0 + timedelta(seconds=sec)
            tl_cache[sec] = (
                dt.strftime("%d/%b/%Y:%H:%M:%S %z"),
                dt.strftime("%Y/%m/%d %H:%M:%S"),
                dt.strftime("%Y-%m-%dT%H:%M"),
            )
        tlocal, _etime, minute = tl_cache[sec]
        if i % garbage_every == garbage_every - 1:
            buf.append(f"garbage line that is not an access log entry {i}\n")
            truth["unparsed"] += 1
        phase = phase_at(i / lines)
        host, req, groups, status = g.request(phase)
        client = rnd.choice(g.clients)
        ua_s = rnd.choice(UAS)
        conn += 1
        truth["requests"] += 1
        truth["by_status"][str(status)] += 1
        if groups:
            ua = " : ".join(", ".join(a[0] for a in grp) for grp in groups)
            us = " : ".join(", ".join(a[1] for a in grp) for grp in groups)
            uct = " : ".join(", ".join(a[2] for a in grp) for grp in groups)
            uht = " : ".join(", ".join(a[3] for a in grp) for grp in groups)
            urt = " : ".join(", ".join(a[4] for a in grp) for grp in groups)
            total = sum(float(a[4]) for grp in groups for a in grp)
        else:
            ua = us = uct = uht = urt = "-"
            total = 0.0
        rt = total + 0.001
        size = 0 if status >= 500 else rnd.randint(200, 40000)
        buf.append(
            f'{client} - - [{tlocal}] "{req}" {status} {size} "-" "{ua_s}" "{host}" rt={rt:.3f} '
            f'ua="{ua}" us="{us}" uct="{uct}" uht="{uht}" urt="{urt}"\n'
        )
        # Truth about attempts, who made the status, rescues.
        attempts = [a for grp in groups for a in grp]
        for a in attempts:
            truth["upstream_attempts"][a[0]] += 1
            if a[5] is not None:
                truth["upstream_failed_attempts"][a[0]] += 1
        if len(groups) > 1:
            truth["redirected"] += 1
        if any(len(grp) > 1 for grp in groups):
            truth["retried"] += 1
        if status < 500 and any(a[1].startswith("5") for a in attempts):
            truth["rescued"] += 1
        for grp in groups:
            for a in grp:
                if a[3] != "-" and float(a[3]) >= 0.8 * 60.0 and a[0] in APP:
                    truth["near_timeout"][a[0]] += 1
        # Error-log lines: one per failed attempt (ngx_http_upstream_next logs each).
        elapsed_after = 0.0
        path = req.split(" ")[1]
        err_lines: list[str] = []
        for a in reversed(attempts):
            if a[5] is not None:
                et = t0 + timedelta(seconds=sec) - timedelta(seconds=int(elapsed_after))
                level, msg = ERR[a[5]]
                scheme = "fastcgi" if a[0].startswith("unix:") else "http"
                upstream = f"{scheme}://{a[0]}:" if a[0].startswith("unix:") else f"{scheme}://{a[0]}{path}"
                err_lines.append(
                    f"{et.strftime('%Y/%m/%d %H:%M:%S')} [{level}] 2107#2107: *{conn} {msg}, "
                    f"client: {client}, "
                    f'server: {host}, request: "{req}", upstream: "{upstream}", host: "{host}"\n'
                )
                truth["error_lines"] += 1
                if status >= 500:
                    truth["error_lines_for_5xx"] += 1
                    truth["by_symptom"][a[5]] += 1
            elapsed_after += float(a[4])
        if not groups and status == 503:
            err_lines.append(
                f"{(t0 + timedelta(seconds=sec)).strftime('%Y/%m/%d %H:%M:%S')} [error] 2107#2107: *{conn} "
                f'limiting requests, excess: 100.500 by zone "perip", client: {client}, server: {host}, '
                f'request: "{req}", host: "{host}"\n'
            )
            truth["error_lines"] += 1
            truth["error_lines_for_5xx"] += 1
            truth["by_symptom"]["rate-limited"] += 1
        ebuf.extend(reversed(err_lines))
        if status >= 500:
            truth["timeline_5xx"][minute][str(status)] += 1
            truth["by_host_5xx"][host] += 1
            if not groups:
                truth["by_symptom_requests"]["rate-limited"] += 1
            elif attempts[-1][5] is not None:
                truth["by_symptom_requests"][attempts[-1][5]] += 1
            if not groups or attempts[-1][3] == "-":
                truth["made_by"]["nginx"] += 1
            else:
                truth["made_by"]["backend"] += 1
        written += 1
        if len(buf) >= 20000:
            assert fh is not None
            fh.write("".join(buf))
            buf.clear()
            err.write("".join(ebuf))
            ebuf.clear()
    assert fh is not None
    fh.write("".join(buf))
    fh.close()
    err.write("".join(ebuf))
    err.close()
    (out / "nginx.conf").write_text(NGINX_CONF.format(out=out, fmt=LOG_FORMAT), encoding="utf-8")
    incidents = []
    for lo, hi, name in INCIDENTS:
        ta = t0 + timedelta(seconds=int(lo * span))
        tb = t0 + timedelta(seconds=int(hi * span))
        incidents.append(
            {"phase": name, "start": ta.strftime("%Y-%m-%dT%H:%M"), "end": tb.strftime("%Y-%m-%dT%H:%M")}
        )
    result = {
        "log_format": LOG_FORMAT,
        "lines": written + truth["unparsed"],
        "requests": truth["requests"],
        "unparsed": truth["unparsed"],
        "by_status": dict(truth["by_status"]),
        "timeline_5xx": {k: dict(v) for k, v in sorted(truth["timeline_5xx"].items())},
        "upstream_attempts": dict(truth["upstream_attempts"]),
        "upstream_failed_attempts": dict(truth["upstream_failed_attempts"]),
        "made_by": dict(truth["made_by"]),
        "rescued": truth["rescued"],
        "retried": truth["retried"],
        "redirected": truth["redirected"],
        "error_lines": truth["error_lines"],
        "error_lines_for_5xx": truth["error_lines_for_5xx"],
        "near_timeout": dict(truth["near_timeout"]),
        "by_host_5xx": dict(truth["by_host_5xx"]),
        "by_symptom": dict(truth["by_symptom"]),
        "by_symptom_requests": dict(truth["by_symptom_requests"]),
        "incidents": incidents,
        "files": [n for n in files],
    }
    (out / "truth.json").write_text(json.dumps(result, indent=1, sort_keys=True), encoding="utf-8")
    return result
