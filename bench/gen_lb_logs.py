"""Write big failure-dense logs of every load-balancer / proxy family ``stats`` reads besides
nginx, for ``bench/lb_bench.py``.

Why: the issue "every log family at nginx's speed" measures each family's reader at 1M, 5M and
20M lines, and no generator wrote them.  Each family's line is built from its real format as the
parsers' docstrings cite it and the fixtures hold it (``tests/fixtures/cloud/*.jsonl``, the
recordings under ``tests/fixtures/cloud/recorded/`` and ``tests/fixtures/recorded-proxies/haproxy``):
the same fields in the same order, with times, targets, paths and timings varied.  *Failure
dense*: about one request in four fails, split between the proxy's own failures (refused,
timeout, no target, its 52x) and the backend's 5xx, so every column the readers compute is busy.

    python bench/gen_lb_logs.py --family cloudflare --lines 1000000 --out bench/out/lb
    python bench/gen_lb_logs.py --family all --lines 1000000

Families: alb, cloudflare, envoy (default text), istio (Istio's text), envoy-json, caddy,
traefik-json, traefik-clf, haproxy, apache.  The file is ``<out>/<family>-<lines>.log`` (with
``--hours H``, the lines spread over H hours: ``<out>/<family>-<lines>-<H>h.log``); haproxy
and apache also get the config that ``diagnose``/``stats`` read them with (``<out>/haproxy.cfg``:
backends web/api/static of the servers web1-4 the lines name; ``<out>/apache-<lines>.conf``: the
``timed`` LogFormat of the lab's recordings, its ``CustomLog`` naming the file).
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

START = datetime(2026, 11, 21, 10, 0, 0, tzinfo=timezone.utc)
TARGETS = tuple(f"10.0.{i // 8}.{10 + i % 8}" for i in range(24))
PATHS = ("/", "/api/v1/orders", "/api/v1/users/42", "/static/app.js", "/login", "/health", "/search?q=x")
AGENTS = ("curl/7.46.0", "Mozilla/5.0 (X11; Linux x86_64; rv:95.0) Gecko/20100101 Firefox/95.0",
          "python-requests/2.31.0", "Go-http-client/1.1")
GROUPS = ("web", "api", "static")


class Req:
    """One request's drawn facts: time, target, path, who failed it and how."""

    def __init__(self, r: random.Random, i: int, rate: float) -> None:
        self.when = START + timedelta(seconds=i / rate)
        self.target = TARGETS[r.randrange(len(TARGETS))]
        self.port = 8080
        self.group = GROUPS[r.randrange(len(GROUPS))]
        self.path = PATHS[r.randrange(len(PATHS))]
        self.method = "POST" if r.random() < 0.2 else "GET"
        self.agent = AGENTS[r.randrange(len(AGENTS))]
        self.client = f"192.168.{r.randrange(256)}.{r.randrange(256)}"
        self.cport = r.randrange(1024, 65535)
        x = r.random()
        # kind: ok | backend (the backend's own 5xx) | refused | timeout | notarget | reset
        self.kind = ("ok" if x < 0.75 else "backend" if x < 0.83 else "refused" if x < 0.89
                     else "timeout" if x < 0.94 else "notarget" if x < 0.97 else "reset")
        self.ms = round(r.expovariate(1 / 40.0), 3) if self.kind in ("ok", "backend") else 0.0
        if self.kind == "timeout":
            self.ms = 60000.0
        self.status = {"ok": 200, "backend": r.choice((500, 502, 503)), "refused": 502, "timeout": 504,
                       "notarget": 503, "reset": 502}[self.kind]
        self.rid = f"{r.getrandbits(64):016x}"

    def iso(self, digits: int = 6) -> str:
        return self.when.strftime("%Y-%m-%dT%H:%M:%S.%f")[: 20 + digits] + "Z"


def alb(q: Req) -> str:
    """An ALB entry (docs.aws.amazon.com/elasticloadbalancing/latest/application/
    load-balancer-access-logs.html)."""
    t = q.iso()
    target = "-" if q.kind == "notarget" else f"{q.target}:{q.port}"
    tp = {"ok": f"{q.ms / 1000:.3f}", "backend": f"{q.ms / 1000:.3f}", "refused": "-1",
          "timeout": "-1", "notarget": "-1", "reset": "-1"}[q.kind]
    rq = "0.000" if q.kind in ("ok", "backend") else "-1"
    rs = "0.000" if q.kind in ("ok", "backend") else "-1"
    tstatus = str(q.status) if q.kind in ("ok", "backend") else "-"
    reason = {"refused": "TargetConnectionErrorCodeRefused", "reset": "TargetResponseError",
              "timeout": "TargetTimeout"}.get(q.kind, "-")
    tg = f"arn:aws:elasticloadbalancing:us-east-2:123456789012:targetgroup/{q.group}/73e2d6bc24d8a067"
    return (
        f"https {t} app/my-loadbalancer/50dc6c495c0c9188 {q.client}:{q.cport} {target} {rq} {tp} {rs} "
        f'{q.status} {tstatus} 34 366 "{q.method} https://www.example.com:443{q.path} HTTP/1.1" '
        f'"{q.agent}" ECDHE-RSA-AES128-GCM-SHA256 TLSv1.2 {tg} "Root=1-58337262-{q.rid}" '
        f'"www.example.com" "arn:aws:acm:us-east-2:123456789012:certificate/1234" 0 {t} "forward" "-" '
        f'"{reason}" "{target}" "{tstatus}" "-" "-"'
    )


def cloudflare(q: Req) -> str:
    """A Logpush http_requests record
    (developers.cloudflare.com/logs/reference/log-fields/zone/http_requests/)."""
    edge = {"refused": 521, "timeout": 524, "notarget": 523, "reset": 520}.get(q.kind, q.status)
    origin = q.status if q.kind in ("ok", "backend") else 0
    rec = {
        "CacheCacheStatus": "miss", "CacheResponseBytes": 177, "CacheResponseStatus": edge,
        "ClientASN": 56046, "ClientCountry": "de", "ClientDeviceType": "desktop", "ClientIP": q.client,
        "ClientRequestBytes": 1082, "ClientRequestHost": f"{q.group}.example.com",
        "ClientRequestMethod": q.method, "ClientRequestPath": q.path.split("?")[0],
        "ClientRequestProtocol": "HTTP/2", "ClientRequestReferer": "", "ClientRequestURI": q.path,
        "ClientRequestUserAgent": q.agent, "ClientSSLCipher": "AEAD-AES128-GCM-SHA256",
        "ClientSSLProtocol": "TLSv1.3", "ClientSrcPort": q.cport, "EdgeColoID": 134,
        "EdgeEndTimestamp": q.iso(0).replace(".Z", "Z").replace("..", "."), "EdgePathingOp": "wl",
        "EdgePathingSrc": "macro", "EdgePathingStatus": "nr", "EdgeRequestHost": f"{q.group}.example.com",
        "EdgeResponseBytes": 5177, "EdgeResponseContentType": "text/html", "EdgeResponseStatus": edge,
        "EdgeServerIP": "172.69.98.148", "EdgeStartTimestamp": q.iso(0).replace(".Z", "Z"),
        "OriginIP": q.target, "OriginResponseBytes": 0, "OriginResponseStatus": origin,
        "OriginResponseTime": int(q.ms * 1e6), "OriginSSLProtocol": "TLSv1.3", "RayID": q.rid,
        "SecurityLevel": "med", "WAFAction": "unknown", "WorkerStatus": "unknown", "ZoneID": 9527,
    }
    return json.dumps(rec, separators=(",", ":"))


_ENVOY_FLAGS = {"ok": "-", "backend": "-", "refused": "UF,URX", "timeout": "UT", "notarget": "UH",
                "reset": "UC"}
_ENVOY_DETAILS = {"ok": "via_upstream", "backend": "via_upstream",
                  "refused": "upstream_reset_before_response_started{remote_connection_failure}",
                  "timeout": "upstream_response_timeout", "notarget": "no_healthy_upstream",
                  "reset": "upstream_reset_before_response_started{connection_termination}"}


def envoy(q: Req, istio: bool = False) -> str:
    """Envoy's default text format (envoyproxy.io docs, configuration/observability/access_log/usage);
    ``istio``: Istio's, with response and termination details after the flags, then the cluster
    and the addresses."""
    ust = f"{int(q.ms)}" if q.kind in ("ok", "backend") else "-"
    host = "-" if q.kind == "notarget" else f"{q.target}:{q.port}"
    details = f'{_ENVOY_DETAILS[q.kind]} - "-" ' if istio else ""
    tail = (f" outbound|80||{q.group}.default.svc.cluster.local 10.1.0.8:48500 10.1.0.8:8080 "
            f"{q.client}:{q.cport} - default") if istio else ""
    return (
        f'[{q.iso(3)}] "{q.method} {q.path} HTTP/1.1" {q.status} {_ENVOY_FLAGS[q.kind]} {details}0 98 '
        f'{int(q.ms) + 1} {ust} "{q.client}" "{q.agent}" "{q.rid}" "{q.group}.example.com" "{host}"{tail}'
    )


def istio(q: Req) -> str:
    return envoy(q, istio=True)


def envoy_json(q: Req) -> str:
    """Envoy's JSON access log with the default format's fields (as recorded from a real Envoy)."""
    return json.dumps({
        "authority": f"{q.group}.example.com", "bytes_received": 0, "bytes_sent": 98,
        "downstream_remote_address": f"{q.client}:{q.cport}", "duration": int(q.ms) + 1,
        "method": q.method, "path": q.path, "protocol": "HTTP/1.1", "request_id": q.rid,
        "response_code": q.status, "response_code_details": _ENVOY_DETAILS[q.kind],
        "response_flags": _ENVOY_FLAGS[q.kind], "start_time": q.iso(3), "upstream_cluster": q.group,
        "upstream_host": None if q.kind == "notarget" else f"{q.target}:{q.port}",
        "upstream_service_time": str(int(q.ms)) if q.kind in ("ok", "backend") else None,
        "upstream_transport_failure_reason": "delayed_connect_error:_Connection_refused"
        if q.kind == "refused" else None, "user_agent": q.agent,
    }, separators=(",", ":"))


def caddy(q: Req) -> str:
    """Caddy 2's JSON access log (``http.log.access``), as recorded from a real Caddy 2.11."""
    return json.dumps({
        "level": "error" if q.status >= 500 else "info", "ts": q.when.timestamp(),
        "logger": "http.log.access.log0", "msg": "handled request",
        "request": {"remote_ip": q.client, "remote_port": str(q.cport), "client_ip": q.client,
                    "proto": "HTTP/1.1", "method": q.method, "host": f"{q.group}.example.com",
                    "uri": q.path, "headers": {"User-Agent": [q.agent], "Accept-Encoding": ["gzip"]}},
        "bytes_read": 0, "user_id": "", "duration": q.ms / 1000 if q.ms else 0.000255549,
        "size": 11 if q.status < 500 else 0, "status": q.status,
        "resp_headers": {"Server": ["Caddy"]} if q.status >= 500 and q.kind != "backend"
        else {"Via": ["1.1 Caddy"], "Content-Type": ["text/plain"]},
    }, separators=(",", ":"))


def traefik_json(q: Req) -> str:
    """Traefik's JSON access log, as recorded from a real Traefik."""
    ns = int(q.ms * 1e6)
    return json.dumps({
        "ClientAddr": f"{q.client}:{q.cport}", "ClientHost": q.client, "ClientPort": str(q.cport),
        "ClientUsername": "-", "DownstreamContentSize": 11, "DownstreamStatus": q.status,
        "Duration": ns + 230131, "OriginContentSize": 11, "OriginDuration": ns,
        "OriginStatus": q.status if q.kind in ("ok", "backend") else 0, "Overhead": 230131,
        "RequestAddr": f"{q.group}.example.com", "RequestContentSize": 0, "RequestCount": 1,
        "RequestHost": f"{q.group}.example.com", "RequestMethod": q.method, "RequestPath": q.path,
        "RequestPort": "-", "RequestProtocol": "HTTP/1.1", "RequestScheme": "http",
        "RetryAttempts": 1 if q.kind == "refused" else 0, "RouterName": f"{q.group}@file",
        "ServiceAddr": f"{q.target}:{q.port}", "ServiceName": f"{q.group}@file",
        "ServiceURL": f"http://{q.target}:{q.port}", "StartLocal": q.iso(6), "StartUTC": q.iso(6),
        "entryPointName": "web", "level": "info", "msg": "", "time": q.iso(0).replace(".Z", "Z"),
    }, separators=(",", ":"))


def traefik_clf(q: Req) -> str:
    """Traefik's common log format: CLF plus request count, router, service URL and duration."""
    t = q.when.strftime("%d/%b/%Y:%H:%M:%S +0000")
    return (f'{q.client} - - [{t}] "{q.method} {q.path} HTTP/1.1" {q.status} 11 "-" "{q.agent}" 1 '
            f'"{q.group}@file" "http://{q.target}:{q.port}" {int(q.ms)}ms')


_HAP_FLAGS = {"ok": "----", "backend": "----", "refused": "SC--", "timeout": "sH--", "notarget": "SC--",
              "reset": "SH--"}


def haproxy(q: Req) -> str:
    """HAProxy's httplog (configuration.txt 8.2.3) behind syslog's prefix, as recorded."""
    stamp = q.when.strftime("%b %d %H:%M:%S")
    accept = q.when.strftime("%d/%b/%Y:%H:%M:%S.") + f"{q.when.microsecond // 1000:03d}"
    server = "<NOSRV>" if q.kind == "notarget" else f"web{TARGETS.index(q.target) % 4 + 1}"
    tr = int(q.ms) if q.kind in ("ok", "backend") else -1
    tc = -1 if q.kind == "refused" else 0
    return (f"<134>{stamp} haproxy[29614]: {q.client}:{q.cport} [{accept}] fe {q.group}/{server} "
            f'0/0/{tc}/{tr}/{max(tr, 0) + 1} {q.status} 217 - - {_HAP_FLAGS[q.kind]} 1/1/0/0/0 0/0 '
            f'"{q.method} {q.path} HTTP/1.1"')


def apache(q: Req) -> str:
    """Apache's access log in the lab's ``timed`` LogFormat (``%h %l %u %t "%r" %>s %b %D``:
    tests/fixtures/recorded/apache-too-slow/apache2.conf), ``%D`` in microseconds."""
    t = q.when.strftime("%d/%b/%Y:%H:%M:%S +0000")
    return f'{q.client} - - [{t}] "{q.method} {q.path} HTTP/1.1" {q.status} 217 {int(q.ms * 1000)}'


FAMILIES: dict[str, Callable[[Req], str]] = {
    "alb": alb, "cloudflare": cloudflare, "envoy": envoy, "istio": istio, "envoy-json": envoy_json,
    "caddy": caddy, "traefik-json": traefik_json, "traefik-clf": traefik_clf, "haproxy": haproxy,
    "apache": apache,
}


def haproxy_cfg(out: Path) -> Path:
    """The ``haproxy.cfg`` the haproxy lines name: backends web/api/static, servers web1-4 (each
    line's server is ``web{index of its target % 4 + 1}``; the first four targets)."""
    servers = "".join(f"    server web{i + 1} {TARGETS[i]}:8080\n" for i in range(4))
    text = ("global\n    log stdout format rfc3164 local0\n\ndefaults\n    mode http\n    log global\n"
            "    option httplog\n    timeout connect 1s\n    timeout client 5s\n    timeout server 30s\n\n"
            "frontend fe\n    bind 127.0.0.1:8080\n    default_backend web\n"
            + "".join(f"\nbackend {g}\n{servers}" for g in GROUPS))
    path = out / "haproxy.cfg"
    path.write_text(text, encoding="utf-8")
    return path


def apache_conf(out: Path, log: Path) -> Path:
    """An Apache config whose ``CustomLog`` writes ``log`` in the ``timed`` format, in front of
    one backend (``ProxyPass``)."""
    path = log.with_suffix(".conf")
    path.write_text(f'ServerName localhost\nListen 127.0.0.1:8080\nErrorLog {out}/apache-error.log\n'
                    f'LogFormat "%h %l %u %t \\"%r\\" %>s %b %D" timed\nCustomLog {log} timed\n'
                    f"ProxyTimeout 30\nProxyPass / http://{TARGETS[0]}:8080/\n", encoding="utf-8")
    return path


def write(family: str, lines: int, out: Path, seed: int = 1, rate: float = 2000.0, hours: float = 0) -> Path:
    """``lines`` lines of ``family`` into ``out/<family>-<lines>.log`` (kept when already there);
    ``hours``: spread over that many hours instead of ``rate`` lines a second, into
    ``out/<family>-<lines>-<hours>h.log`` -- a day of an edge's log holds each combination of
    values in many minutes, which the default's ~8 minutes do not (BENCHMARKS.md stop 72)."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / (f"{family}-{lines}-{hours:g}h.log" if hours else f"{family}-{lines}.log")
    if hours:
        rate = lines / (hours * 3600)
    if path.exists() and path.stat().st_size:
        return path
    make = FAMILIES[family]
    r = random.Random(seed)
    tmp = path.with_suffix(".part")
    with open(tmp, "w", encoding="utf-8") as fh:
        for start in range(0, lines, 10_000):
            fh.write("".join(make(Req(r, i, rate)) + "\n" for i in range(start, min(lines, start + 10_000))))
    tmp.rename(path)
    return path


ALB_NODES = ("10.0.1.17", "10.0.2.45", "10.0.3.201")


def alb_folder(lines: int, out: Path, seed: int = 1, rate: float = 2000.0, lo: int = 3000,
               hi: int = 10000, level: int = 6) -> Path:
    """``lines`` ALB lines as AWS writes them: ``out/alb-gz-<lines>/AWSLogs/<account>/
    elasticloadbalancing/<region>/<yyyy>/<mm>/<dd>/``, one ``.log.gz`` (gzip ``level``) per node
    (``ALB_NODES``, in turn) and five minutes, each of ``lo``..``hi`` lines (drawn: the files
    differ in size); the names' end time sorts them in time order, as AWS's do.  Kept when
    already there."""
    import gzip

    root = out / f"alb-gz-{lines}"
    if (root / ".done").exists():
        return root
    r, sizes = random.Random(seed), random.Random(seed + 1)
    lb = "app.my-loadbalancer.50dc6c495c0c9188"
    i = k = 0
    while i < lines:
        n = min(lines - i, sizes.randint(lo, hi))
        end = START + timedelta(minutes=5 * (k // len(ALB_NODES) + 1))
        node = ALB_NODES[k % len(ALB_NODES)]
        day = root / "AWSLogs" / "123456789012" / "elasticloadbalancing" / "us-east-2" / f"{end:%Y/%m/%d}"
        day.mkdir(parents=True, exist_ok=True)
        name = (f"123456789012_elasticloadbalancing_us-east-2_{lb}_{end:%Y%m%dT%H%MZ}_{node}_"
                f"{sizes.getrandbits(32):08x}.log.gz")
        body = "".join(alb(Req(r, j, rate)) + "\n" for j in range(i, i + n))
        (day / name).write_bytes(gzip.compress(body.encode("utf-8"), compresslevel=level, mtime=0))
        i, k = i + n, k + 1
    (root / ".done").write_text(f"{k} files\n")
    return root


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", default="all", choices=("all", *FAMILIES))
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "out" / "lb")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--hours", type=float, default=0,
                    help="spread the lines over this many hours (default: 2,000 lines a second)")
    args = ap.parse_args()
    for fam in FAMILIES if args.family == "all" else (args.family,):
        log = write(fam, args.lines, args.out, args.seed, hours=args.hours)
        print(log)
        if fam == "haproxy":
            print(haproxy_cfg(args.out))
        elif fam == "apache":
            print(apache_conf(args.out, log))


if __name__ == "__main__":
    main()
