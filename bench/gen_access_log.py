"""Write a big access log shaped like production nginx traffic, with its error log and config, for
the benchmarks (``stats_bench.py``, ``location_bench.py``).

Why a generator of its own: the tests have theirs (``tests/support/genlog.py``), which keeps the exact
truth of every field; tests and benchmarks do not import each other.  A benchmark needs volume
and the mix of a real log -- mostly proxied 200s, static files, a PHP-FPM socket, retries and
internal redirects, bursts of 5xx with the error lines nginx writes for them -- and only the
totals it checks (requests, statuses, who made each 5xx).  So each request is one of a few
``KINDS`` drawn by weight, and during each of the ``BURSTS`` one failure kind is drawn far more
often.  Values are written the way nginx writes them (``ngx_http_upstream_next()`` and
``ngx_http_upstream_response_time_variable()``, src/http/ngx_http_upstream.c): one value per
attempt joined by ``", "``, internal redirects by ``" : "``, ``-`` as the header time of an
attempt that failed inside nginx, whose own 502/504 then stands in ``$upstream_status``.

    python bench/gen_access_log.py --lines 1000000 --out bench/out/stats
"""

from __future__ import annotations

import argparse
import json
import random
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, NamedTuple

LOG_FORMAT = (
    '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" '
    '"$http_user_agent" "$host" rt=$request_time ua="$upstream_addr" us="$upstream_status" '
    'uct="$upstream_connect_time" uht="$upstream_header_time" urt="$upstream_response_time"'
)
APP = ("10.0.1.11:8080", "10.0.1.12:8080", "10.0.1.13:8080")
FPM = "unix:/run/php/php8.2-fpm.sock"
AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
    "python-requests/2.31.0",
    "Go-http-client/1.1",
)
CONFIG = """\
events {{ }}
error_log {out}/error.log;
http {{
    log_format bench '{fmt}';
    access_log {out}/access.log bench;
    upstream app {{ server 10.0.1.11:8080; server 10.0.1.12:8080; server 10.0.1.13:8080; }}
    server {{
        listen 80;
        server_name api.example.com;
        location = /health {{ return 200; }}
        location /api/ {{ proxy_pass http://app; proxy_read_timeout 30s; }}
        location /api/v2/ {{ proxy_pass http://app; }}
    }}
    server {{
        listen 80 default_server;
        server_name www.example.com;
        root /srv/www;
        location / {{ try_files $uri /index.php?$args; }}
        location ~* \\.(css|js|png)$ {{ expires 7d; }}
        location ~ \\.php$ {{ fastcgi_pass unix:/run/php/php8.2-fpm.sock; fastcgi_read_timeout 20s; }}
        error_page 404 = /index.php;
    }}
}}
"""

# (address, $upstream_status, connect, header, response time) of one attempt
Attempt = tuple[str, str, str, str, str]


class Request(NamedTuple):
    host: str
    target: str
    status: int
    groups: list[list[Attempt]]  # attempts, per internal redirect
    errors: list[tuple[str, str, str]]  # (level, message, upstream) error lines nginx writes


def _ok(addr: str, t: float, status: str = "200") -> Attempt:
    return (addr, status, "0.001", f"{t:.3f}", f"{t + 0.001:.3f}")


def _api(r: random.Random) -> str:
    return f"/api/v{r.choice('12')}/items/{r.randint(1, 500_000)}?fields=id,name"


def _served(r: random.Random) -> Request:
    return Request("api.example.com", _api(r), 200, [[_ok(r.choice(APP), r.lognormvariate(-3.2, 0.9))]], [])


def _rescued(r: random.Random) -> Request:
    """Refused by one server, answered by the next (``proxy_next_upstream error``)."""
    first, second = r.sample(APP, 2)
    refused = (first, "502", "-", "-", "0.000")
    msg = "connect() failed (111: Connection refused) while connecting to upstream"
    return Request("api.example.com", _api(r), 200, [[refused, _ok(second, 0.040)]], [("error", msg, first)])


def _timed_out(r: random.Random) -> Request:
    addr = r.choice(APP)
    msg = "upstream timed out (110: Connection timed out) while reading response header from upstream"
    return Request(
        "api.example.com", _api(r), 504, [[(addr, "504", "0.001", "-", "30.001")]], [("error", msg, addr)]
    )


def _all_refused(r: random.Random) -> Request:
    groups = [[(addr, "502", "-", "-", "0.000") for addr in APP]]
    msg = "connect() failed (111: Connection refused) while connecting to upstream"
    return Request("api.example.com", _api(r), 502, groups, [("error", msg, addr) for addr in APP])


def _backend_503(r: random.Random) -> Request:
    return Request("api.example.com", _api(r), 503, [[_ok(r.choice(APP), 0.004, "503")]], [])


def _static(r: random.Random) -> Request:
    return Request("www.example.com", f"/assets/site.{r.randint(1, 60)}.css", 200, [], [])


def _php(r: random.Random) -> Request:
    target = f"/index.php?page={r.randint(1, 2000)}"
    return Request("www.example.com", target, 200, [[_ok(FPM, r.lognormvariate(-2.4, 0.7))]], [])


def _php_gone(r: random.Random) -> Request:
    msg = f"connect() to {FPM} failed (2: No such file or directory) while connecting to upstream"
    groups = [[(FPM, "502", "-", "-", "0.000")]]
    return Request(
        "www.example.com", f"/index.php?page={r.randint(1, 2000)}", 502, groups, [("crit", msg, FPM)]
    )


def _redirected(r: random.Random) -> Request:
    """A 404 from PHP sent on to ``/index.php`` by ``error_page 404 =``: two attempt groups."""
    groups = [[_ok(FPM, 0.008, "404")], [_ok(FPM, r.lognormvariate(-2.4, 0.7))]]
    return Request("www.example.com", f"/blog/{r.randint(1, 9000)}/", 200, groups, [])


def _limited(r: random.Random) -> Request:
    msg = 'limiting requests, excess: 20.500 by zone "api"'
    return Request("api.example.com", _api(r), 503, [], [("error", msg, "")])


# kind -> (maker, weight in normal traffic)
KINDS: dict[str, tuple[Callable[[random.Random], Request], float]] = {
    "served": (_served, 0.52),
    "static": (_static, 0.20),
    "php": (_php, 0.25),
    "redirected": (_redirected, 0.02),
    "rescued": (_rescued, 0.006),
    "timed_out": (_timed_out, 0.0005),
    "backend_503": (_backend_503, 0.0005),
    "all_refused": (_all_refused, 0.0001),
    "php_gone": (_php_gone, 0.0001),
    "limited": (_limited, 0.0002),
}
# (start, end) as fractions of the log, the failure kind, its weight during the burst
BURSTS = (
    (0.18, 0.21, "all_refused", 0.12),
    (0.40, 0.43, "timed_out", 0.07),
    (0.58, 0.60, "backend_503", 0.14),
    (0.72, 0.74, "php_gone", 0.20),
    (0.86, 0.87, "limited", 0.10),
)


def _joined(groups: list[list[Attempt]], field: int) -> str:
    return " : ".join(", ".join(a[field] for a in group) for group in groups) if groups else "-"


def generate(
    lines: int, out: Path, seed: int = 1, rate: float = 60.0, garbage_every: int = 50_000
) -> dict[str, Any]:
    """Write ``access.log``, ``error.log``, ``nginx.conf`` and ``truth.json`` into ``out``;
    return the truth (requests, lines, statuses, who made each 5xx)."""
    out.mkdir(parents=True, exist_ok=True)
    r = random.Random(seed)
    names = list(KINDS)
    normal = [KINDS[k][1] for k in names]
    weights = {b[2]: [w if k != b[2] else b[3] for k, w in zip(names, normal)] for b in BURSTS}
    clients = [f"198.51.{i // 200}.{i % 200 + 1}" for i in range(5000)]
    start = datetime(2026, 11, 20, 6, 0, tzinfo=timezone(timedelta(hours=1)))
    by_status: Counter[str] = Counter()
    made_by: Counter[str] = Counter()
    garbage = 0
    stamp_of: dict[int, tuple[str, str]] = {}
    with (
        open(out / "access.log", "w", encoding="utf-8") as log,
        open(out / "error.log", "w", encoding="utf-8") as err,
    ):
        buf: list[str] = []
        ebuf: list[str] = []
        for i in range(lines):
            second = int(i / rate)
            if second not in stamp_of:
                stamp_of.clear()
                t = start + timedelta(seconds=second)
                stamp_of[second] = (t.strftime("%d/%b/%Y:%H:%M:%S %z"), t.strftime("%Y/%m/%d %H:%M:%S"))
            local, err_time = stamp_of[second]
            frac = i / lines
            burst = next((b[2] for b in BURSTS if b[0] <= frac < b[1]), None)
            kind = r.choices(names, weights[burst] if burst else normal)[0]
            req = KINDS[kind][0](r)
            client = r.choice(clients)
            request = f"GET {req.target} HTTP/1.1"
            size = 0 if req.status >= 500 else r.randint(150, 60_000)
            upstream_time = sum(float(a[4]) for group in req.groups for a in group)
            buf.append(
                f'{client} - - [{local}] "{request}" {req.status} {size} "-" "{r.choice(AGENTS)}" '
                f'"{req.host}" rt={upstream_time + 0.001:.3f} ua="{_joined(req.groups, 0)}" '
                f'us="{_joined(req.groups, 1)}" uct="{_joined(req.groups, 2)}" '
                f'uht="{_joined(req.groups, 3)}" urt="{_joined(req.groups, 4)}"\n'
            )
            for level, msg, addr in req.errors:
                peer = f', upstream: "http://{addr}{req.target}"' if addr.startswith("10.") else ""
                peer = f', upstream: "fastcgi://{addr}:"' if addr.startswith("unix:") else peer
                ebuf.append(
                    f"{err_time} [{level}] 3110#3110: *{i + 1} {msg}, client: {client}, "
                    f'server: {req.host}, request: "{request}"{peer}, host: "{req.host}"\n'
                )
            by_status[str(req.status)] += 1
            if req.status >= 500:
                last = req.groups[-1][-1] if req.groups else None
                made_by["nginx" if last is None or last[3] == "-" else "backend"] += 1
            if i % garbage_every == garbage_every - 1:
                buf.append(f"-- not an access-log line ({i}) --\n")
                garbage += 1
            if len(buf) >= 20_000:
                log.write("".join(buf))
                err.write("".join(ebuf))
                buf.clear()
                ebuf.clear()
        log.write("".join(buf))
        err.write("".join(ebuf))
    (out / "nginx.conf").write_text(CONFIG.format(out=out, fmt=LOG_FORMAT), encoding="utf-8")
    truth = {
        "log_format": LOG_FORMAT,
        "requests": lines,
        "lines": lines + garbage,
        "unparsed": garbage,
        "by_status": dict(by_status),
        "made_by": dict(made_by),
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=1, sort_keys=True), encoding="utf-8")
    return truth


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "stats")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--rate", type=float, default=60.0, help="requests per second of log time")
    args = ap.parse_args()
    truth = generate(args.lines, args.out, seed=args.seed, rate=args.rate)
    print(json.dumps({k: truth[k] for k in ("requests", "unparsed", "by_status", "made_by")}))


if __name__ == "__main__":
    main()
