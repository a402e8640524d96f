"""`why502 watch` throughput, line-to-metric delay and memory, next to mtail on the same file.

Two measurements on a generated access log (combined format + the upstream fields, 5 % 502):

- live (first): an appender process writes ``--rate`` lines/s (default 200k; 0 = as fast as it
  can) for ``--seconds`` (default 300) while ``why502 watch`` and mtail (Debian package
  ``mtail``, running an equivalent program: status counts, 5xx by upstream, an upstream-time
  histogram) follow the same file, each in its own process, scraped over HTTP every 0.1 s:
  sustained lines/s, the delay from a block written to the first scrape that counts it
  (p50/p99, the scrape interval included), CPU (cores, from ``/proc/PID/stat``) and RSS at 1,
  2.5 and 5 minutes (and 10 to 60 on long runs) and its peak (``/proc/PID/status``);
  ``--rotate-mb`` rotates the file as logrotate's ``create`` does, so a 30-minute run at 200k
  lines/s (~68 GB unrotated) fits the disk and the followers cross rotations under load;
  without it a run that would not fit the disk (less 2 GiB) is refused before it starts, and at
  ``--rate 0`` the appender stops there; SIGTERM, like Ctrl-C, removes the run's files;
- catch-up: watch's engine with ``--from-start`` reads a file of ``--lines`` lines (0: skip);
  mtail reads the same file with ``--one_shot``.

    .venv/bin/python bench/watch_bench.py --json                   # 5 min at 200k lines/s
    .venv/bin/python bench/watch_bench.py --seconds 20 --rate 0 --lines 0
    .venv/bin/python bench/watch_bench.py --family haproxy --family caddy --seconds 120

``--family`` (repeatable; default nginx): the log followed -- ``nginx`` (access log, the config's
format), ``nginx-error``, ``haproxy`` (its log, --config haproxy.cfg), ``apache`` (its error
log), ``envoy``, ``caddy``, ``traefik`` (their access logs), ``alb``, ``cloudflare`` and
``envoy-json`` (``bench/gen_lb_logs.py``'s lines); each line shaped on the recorded lines of
tests/fixtures (5 % failures; ``--shape dense``: the edge families' failure-dense mix).  Every
tool is measured on the lines it has read (``why502_log_lines_total``; mtail: a ``lines_total``
counter in the same program), and the agent's imports at the end of the run
(``--debug-modules``: is polars or rich loaded).
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

from prometheus_client import generate_latest

from why502.app.watch.engine import Watch, WatchOptions
from why502.app.watch.incidents import Rules

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gen_lb_logs  # bench/gen_lb_logs.py: the edge families' lines, as recorded

FORMAT = ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
          '"$http_referer" "$http_user_agent" ua="$upstream_addr" urt="$upstream_response_time"')

MTAIL_PROG = r"""
counter lines_total
counter requests_total by status
counter upstream_5xx_total by upstream
histogram upstream_response_time_seconds by upstream buckets 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5
/^/ {
  lines_total++
}
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


def _hap(rng: random.Random, n: int) -> str:
    bad = rng.random() < 0.05
    tail = ("-1/-1/0/-1/0 503 217 - - SC-- 1/1/0/0/1 0/0" if bad
            else f"0/0/0/{n % 40}/{n % 40 + 1} 200 512 - - ---- 1/1/0/0/0 0/0")
    return (f"<134>Nov 23 09:19:43 localhost haproxy[11396]: 10.1.{n % 250}.{n % 200}:{40000 + n % 20000} "
            f'[23/Nov/2026:09:19:43.486] fe app/web{n % 4 + 1} {tail} "GET /item/{n} HTTP/1.1"\n')


def _nginx_error(rng: random.Random, n: int) -> str:
    return (f"2026/11/23 09:00:00 [error] 1234#0: *{n} connect() failed (111: Connection refused) "
            f"while connecting to upstream, client: 10.1.{n % 250}.{n % 200}, server: _, request: "
            f'"GET /item/{n} HTTP/1.1", upstream: "http://10.0.0.{n % 4 + 1}:8080/item/{n}", '
            'host: "shop"\n')


# nginx error-log lines that are no failure (``--shape benign``): a keep-alive connection closed
# (ngx_http_set_keepalive(), src/http/ngx_http_request.c, NGX_LOG_INFO) and a response buffered to
# a temporary file (ngx_event_pipe_write_chain_to_temp_file() callers, src/event/ngx_event_pipe.c,
# NGX_LOG_WARN), which carries key words ("while reading upstream") and so is read, then dropped
def _nginx_benign(rng: random.Random, n: int) -> str:
    r = rng.random()
    if r < 0.05:
        return _nginx_error(rng, n)
    if r < 0.30:
        return (f"2026/11/23 09:00:00 [warn] 1234#0: *{n} an upstream response is buffered to a "
                f"temporary file /var/cache/nginx/proxy_temp/{n % 10}/00/{n:010d} while reading "
                f"upstream, client: 10.1.{n % 250}.{n % 200}, server: _, request: \"GET /item/{n} "
                f'HTTP/1.1", upstream: "http://10.0.0.{n % 4 + 1}:8080/item/{n}", host: "shop"\n')
    return (f"2026/11/23 09:00:00 [info] 1234#0: *{n} client 10.1.{n % 250}.{n % 200} closed "
            "keepalive connection\n")


def _apache(rng: random.Random, n: int, dense: bool = False, threaded: bool = False) -> str:
    # ``threaded``: as the event MPM (Debian's default) writes it, 4 processes of 25 threads, and
    # one line in ~2,000 a request for a path of its own (a message seen once)
    pid = f"{31985 + n % 4}:tid {31992 + n % 25}" if threaded else "31985:tid 31992"
    if dense or rng.random() < 0.05:
        return (f"[Mon Nov 23 09:32:33.986462 2026] [proxy:error] [pid {pid}] (111)Connection "
                f"refused: AH00957: http: attempt to connect to 10.0.0.{n % 4 + 1}:8080 "
                f"(10.0.0.{n % 4 + 1}:8080) failed\n")
    if threaded and rng.random() < 0.0005:
        return (f"[Mon Nov 23 09:32:33.986462 2026] [core:info] [pid {pid}] [client 10.1.{n % 250}.9:"
                f"{40000 + n % 20000}] AH00128: File does not exist: /var/www/html/wp-{n}.php\n")
    return (f"[Mon Nov 23 09:32:33.986462 2026] [ssl:info] [pid {pid}] [client "
            f"10.1.{n % 250}.{n % 200}:{40000 + n % 20000}] AH01964: Connection to child {n % 50} "
            "established (server shop:443)\n")


def _envoy(rng: random.Random, n: int) -> str:
    status, flags = ("503", "UF") if rng.random() < 0.05 else ("200", "-")
    return (f'[2026-11-22T11:07:58.526Z] "GET /item/{n} HTTP/1.1" {status} {flags} 0 98 {n % 40} - "-" '
            f'"bench" "66108e88-43e0-4f56-92f2-{n:012d}" "shop" "10.0.0.{n % 4 + 1}:8080"\n')


def _caddy(rng: random.Random, n: int) -> str:
    status = 502 if rng.random() < 0.05 else 200
    return ('{"level":"info","ts":1795345730.2755685,"logger":"http.log.access.log0","msg":"handled '
            f'request","request":{{"remote_ip":"10.1.{n % 250}.{n % 200}","remote_port":"47046",'
            '"proto":"HTTP/1.1","method":"GET","host":"shop","uri":"/item/' + str(n) + '","headers":'
            '{"User-Agent":["bench"]}},"user_id":"","duration":0.000404659,"size":0,'
            f'"status":{status},"resp_headers":{{"Server":["Caddy"]}}}}\n')


def _traefik(rng: random.Random, n: int) -> str:
    status = 502 if rng.random() < 0.05 else 200
    return ('{"ClientAddr":"10.1.0.1:51222","ClientHost":"10.1.0.1","DownstreamContentSize":11,'
            f'"DownstreamStatus":{status},"Duration":528303,"OriginStatus":{status},'
            f'"RequestHost":"shop","RequestMethod":"GET","RequestPath":"/item/{n}","RequestProtocol":'
            '"HTTP/1.1","RetryAttempts":0,"RouterName":"app@file","ServiceAddr":"10.0.0.1:8080",'
            '"ServiceName":"app@file","ServiceURL":"http://10.0.0.1:8080","level":"info","msg":"",'
            '"time":"2026-11-22T11:08:37Z"}\n')


def _edge(make: Any, dense: bool = False) -> Any:
    """A line of ``bench/gen_lb_logs.py``'s maker ``make`` (ALB, Cloudflare, Envoy's JSON: the
    recorded formats, targets, groups and timings varied): its failure-dense mix (a quarter of
    the requests fail, most of them the edge's own failures) with ``dense``, else 5 % of its
    failures among requests that went well, as the other families here."""
    def one(rng: random.Random, n: int) -> str:
        q = gen_lb_logs.Req(rng, n, 2000.0)
        if not dense and (q.kind == "ok" or rng.random() >= 0.2):  # ~5 % of the lines fail
            q.kind, q.status, q.ms = "ok", 200, float(n % 90)
        return str(make(q)) + "\n"
    return one


# family -> (line maker, mtail's status regex on that line)
FAMILIES = {
    "nginx-error": (_nginx_error, r"\[(?P<status>error)\]"),
    "haproxy": (_hap, r"\] \S+ \S+ \S+ (?P<status>\d{3}) "),
    "apache": (_apache, r"\[(?P<status>proxy):error\]"),
    "envoy": (_envoy, r'" (?P<status>\d{3}) '),
    "caddy": (_caddy, r'"status":(?P<status>\d{3})'),
    "traefik": (_traefik, r'"DownstreamStatus":(?P<status>\d{3})'),
    # the ALB's elb_status_code: the ninth space-separated field (AWS, "Access log entries")
    "alb": (_edge(gen_lb_logs.alb), r"^\S+ \S+ \S+ \S+ \S+ \S+ \S+ \S+ (?P<status>\d{3}) "),
    "cloudflare": (_edge(gen_lb_logs.cloudflare), r'"EdgeResponseStatus":(?P<status>\d{3})'),
    "envoy-json": (_edge(gen_lb_logs.envoy_json), r'"response_code":(?P<status>\d{3})'),
}
MTAIL_GENERIC = """
counter lines_total
counter requests_total by status
/^/ {
  lines_total++
}
/%s/ {
  requests_total[$status]++
}
"""
HAPROXY_CFG = """global
defaults
  mode http
  timeout connect 1s
  timeout client 5s
  timeout server 5s
frontend fe
  bind 127.0.0.1:1
  default_backend app
backend app
  server web1 10.0.0.1:8080
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
        if ln.startswith("why502_log_lines_total{"):
            total += int(float(ln.rsplit(" ", 1)[1]))
    return total


def catch_up(tmp: Path, lines: int, family: str = "nginx", shape: str | None = None) -> dict[str, Any]:
    """watch's engine with --from-start on a file of ``lines`` lines: lines/s of one core
    before it falls behind (the loop and its counting in this one thread)."""
    rng = random.Random(1)
    path, flags, prog = family_inputs(tmp, family)
    maker = make_line(family, shape)
    with path.open("w") as fh:
        for i in range(lines):
            fh.write(maker(rng, i))
    from why502.cli.cmd_watch import add_arguments

    ap = argparse.ArgumentParser()
    add_arguments(ap)
    a = ap.parse_args(flags)
    w = Watch(WatchOptions(default_proxy_config=a.default_proxy_config, config=a.config, proxy=a.proxy,
                           log_type=a.log_type, error_logs=list(a.error_log),
                           access_logs=list(a.access_log), from_start=True, offline=True,
                           listen=None, rules=Rules(min_requests=10**9, min_failures=10**9)),
              lambda _e: None, lambda _d: None)
    start = time.perf_counter()
    cpu = time.process_time()
    # the metrics are rendered (as a scrape does) only when the loop has caught up: rendering
    # them after every block cost more than counting it once the counters were native (the
    # edge families' upstream-by-symptom series: ~200 of them on Cloudflare's lines)
    while w.step() or counted(w) < lines:
        pass
    took = time.perf_counter() - start
    cpu = time.process_time() - cpu
    out: dict[str, Any] = {"family": family, "shape": shape, "lines": lines, "why502_s": round(took, 2),
                           "why502_cpu_s": round(cpu, 2),
                           "why502_lines_per_s": round(lines / took),
                           "why502_lines_per_cpu_s": round(lines / cpu),
                           "load": os.getloadavg()[0]}
    mtail = shutil.which("mtail")
    if mtail:
        progs = tmp / "progs"
        progs.mkdir(exist_ok=True)
        (progs / "bench.mtail").write_text(prog)
        start = time.perf_counter()
        res = subprocess.run([mtail, "--progs", str(progs), "--logs", str(path),
                              "--one_shot", "--one_shot_format", "prometheus", "--logtostderr"],
                             capture_output=True, text=True, timeout=600, check=False)
        took = time.perf_counter() - start
        ok = 'lines_total{prog="bench.mtail"}' in res.stdout
        out.update({"mtail_s": round(took, 2), "mtail_lines_per_s": round(lines / took),
                    "mtail_ok": ok})
    return out


APPENDER = r"""
import sys, time
import os
path, seconds, rate = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
rotate = int(sys.argv[4]) if len(sys.argv) > 4 else 0
most = int(sys.argv[5]) if len(sys.argv) > 5 else 0  # not rotating: stop before this many bytes
block = sys.stdin.read()
per = block.count("\n")
n, start = 0, time.perf_counter()
fh = open(path, "a")
while time.perf_counter() - start < seconds:
    if most and not rotate and fh.tell() + len(block) > most:
        print("disk", flush=True)
        break
    fh.write(block)
    fh.flush()
    n += per
    print(time.perf_counter(), n, flush=True)
    if rotate and fh.tell() >= rotate:
        # logrotate's "create": the full file moves to .1 (the old .1 goes), a new one is made
        fh.close()
        os.replace(path, path + ".1")
        fh = open(path, "a")
    if rate:
        time.sleep(max(0.0, n / rate - (time.perf_counter() - start)))
fh.close()
"""


class Tool:
    """A follower under test, as its own process: ``why502 watch`` or ``mtail``, scraped over
    HTTP like Prometheus would, its CPU and RSS read from ``/proc/PID``."""

    def __init__(self, name: str, argv: list[str], url: str, metric: str,
                 events: Path | None = None) -> None:
        self.name, self.url, self.metric, self.events = name, url, metric, events
        out = events.open("w") if events is not None else subprocess.DEVNULL
        self.proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.DEVNULL,
                                     stdin=subprocess.DEVNULL)
        self.samples: list[tuple[float, int]] = []
        self.rss: list[tuple[float, int]] = []  # (seconds since start, KiB)

    def count(self) -> int | None:
        try:
            with urllib.request.urlopen(self.url, timeout=5) as r:  # loopback
                text = r.read().decode()
        except OSError:
            return None
        return sum(int(float(ln.rsplit(" ", 1)[1])) for ln in text.splitlines()
                   if ln.startswith(self.metric + "{"))

    def cpu_s(self) -> float:
        with open(f"/proc/{self.proc.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def rss_kb(self) -> int:
        with open(f"/proc/{self.proc.pid}/status") as fh:
            for ln in fh:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1])
        return 0

    def stop(self) -> None:
        """Stop it by its PID; on an overloaded machine a process may take long to go, and the
        run's figures must not be lost to that."""
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                print(f"{self.name} (pid {self.proc.pid}) did not exit after SIGKILL",
                      file=sys.stderr)


def family_inputs(tmp: Path, family: str) -> tuple[Path, list[str], str]:
    """The followed file, watch's flags for it and mtail's program, for ``family``."""
    if family == "nginx":
        return tmp / "access.log", ["--nginx-conf", str(conf(tmp))], MTAIL_PROG
    _maker, status = FAMILIES[family]
    prog = MTAIL_GENERIC % status
    if family in ("nginx-error", "apache"):
        path = tmp / "error.log"
        flags = ["--error-log", str(path)] + (["--proxy", "apache"] if family == "apache" else [])
        return path, flags, prog
    if family == "haproxy":
        cfg = tmp / "haproxy.cfg"
        cfg.write_text(HAPROXY_CFG)
        return tmp / "haproxy.log", ["--config", str(cfg), "--error-log", str(tmp / "haproxy.log")], prog
    log_type = "envoy" if family == "envoy-json" else family  # Envoy's one family, text or JSON
    return tmp / "access.log", ["--access-log", str(tmp / "access.log"), "--log-type", log_type], prog


# ``--shape``: the error-log families' lines all failures ("dense") or 5 % failures among lines a
# busy proxy writes anyway ("benign"); unset: each family's shape of stop 41 (nginx's error log
# dense, Apache's benign), so the older commands measure what they measured
SHAPES: dict[tuple[str, str], Any] = {
    ("nginx-error", "dense"): _nginx_error, ("nginx-error", "benign"): _nginx_benign,
    ("apache", "dense"): lambda rng, n: _apache(rng, n, dense=True), ("apache", "benign"): _apache,
    ("apache", "threaded"): lambda rng, n: _apache(rng, n, threaded=True),
    # the edge families: gen_lb_logs' failure-dense mix (bench/lb_bench.py's lines)
    **{(fam, "dense"): _edge(make, dense=True) for fam, make in
       (("alb", gen_lb_logs.alb), ("cloudflare", gen_lb_logs.cloudflare),
        ("envoy-json", gen_lb_logs.envoy_json))},
}


def make_line(family: str, shape: str | None = None) -> Any:
    if shape is not None and (family, shape) in SHAPES:
        return SHAPES[(family, shape)]
    return line if family == "nginx" else FAMILIES[family][0]


def polars_mapped(pid: int) -> bool:
    """Is polars' native library mapped in process ``pid`` (imported, in any thread)?"""
    try:
        with open(f"/proc/{pid}/maps") as fh:
            return "polars" in fh.read()
    except OSError:
        return False


def live(tmp: Path, seconds: float, rate: float, every: float = 0.1,
         incidents: bool = False, family: str = "nginx", rotate_mb: int = 0,
         shape: str | None = None) -> dict[str, Any]:
    """An appender in its own process writes blocks of 1000 lines at ``rate`` lines/s (0: as
    fast as it can) and says when each block was written; ``why502 watch`` and mtail follow the
    same file, each in its own process, and are scraped every ``every`` seconds."""
    path, flags, prog = family_inputs(tmp, family)
    path.write_text("")
    progs = tmp / "progs"
    progs.mkdir(exist_ok=True)
    (progs / "bench.mtail").write_text(prog)
    wport, mport = _free_port(), _free_port()
    why502 = str(Path(sys.executable).with_name("why502"))
    # --incidents: the default rules, so the 5 % of 502 opens an incident under load and its
    # diagnosis (diagnose on the incident's window of the same log) is timed
    rules = [] if incidents else ["--min-requests", "1000000000", "--min-failures", "1000000000"]
    tools = [Tool("why502 watch", [why502, "watch", *flags, "--listen",
                                   f"127.0.0.1:{wport}", "--format", "jsonl", "--offline",
                                   *rules],
                  f"http://127.0.0.1:{wport}/metrics", "why502_log_lines_total",
                  events=tmp / "events.jsonl")]
    mtail = shutil.which("mtail")
    if mtail:
        tools.append(Tool("mtail", [mtail, "--progs", str(progs), "--logs", str(path),
                                    "--address", "127.0.0.1", "--port", str(mport),
                                    "--logtostderr"],
                          f"http://127.0.0.1:{mport}/metrics", "lines_total"))
    proc: subprocess.Popen[str] | None = None
    try:
        deadline = time.monotonic() + 30
        while any(t.count() is None for t in tools) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # both are following the (empty) file
        rng = random.Random(2)
        maker = make_line(family, shape)
        block = "".join(maker(rng, i) for i in range(1000))
        most = room_for(tmp, block, seconds, rate, rotate_mb)
        proc = subprocess.Popen([sys.executable, "-c", APPENDER, str(path), str(seconds),
                                 str(rate), str(rotate_mb << 20), str(most)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                text=True)
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write(block)
        proc.stdin.close()
        written: list[tuple[float, int]] = []
        out = proc.stdout
        full: list[bool] = []  # the appender stopped at ``room_for``'s bound

        def read_appender() -> None:
            for ln in out:
                if ln == "disk\n":
                    full.append(True)
                else:
                    a, b = ln.split()
                    written.append((float(a), int(b)))

        reader = threading.Thread(target=read_appender, daemon=True)
        reader.start()
        start = time.perf_counter()
        cpu0 = {t.name: t.cpu_s() for t in tools}
        while proc.poll() is None:
            _sample(tools, start)
            time.sleep(every)
        reader.join(5)
        appended = time.perf_counter()
        total = written[-1][1] if written else 0
        # the rest: until each has counted every line, has not moved for 10 s, or 60 s passed
        pending = list(tools)
        while pending:
            _sample(pending, start)
            now = time.perf_counter()
            pending = [t for t in pending if t.samples[-1][1] < total
                       and now - _last_change(t) < 10 and now - appended < 60]
            time.sleep(every)
        result: dict[str, Any] = {"family": family, "shape": shape, "seconds": round(appended - start, 1),
                                  "lines": total, "rate_asked": rate or "max",
                                  "load": os.getloadavg()[0]}
        if full:
            result["stopped"] = "the disk's bound (room_for): pass --rotate-mb"
        for t in tools:
            result[t.name] = _summary(t, written, start, appended, total, cpu0[t.name])
        result["why502 watch"]["polars_loaded"] = polars_mapped(tools[0].proc.pid)
        if incidents:
            events = [json.loads(ln) for ln in (tmp / "events.jsonl").read_text().splitlines()
                      if ln.startswith("{")]
            result["diagnosis_seconds"] = [e["incident"].get("diagnosis_seconds")
                                           for e in events]
        return result
    finally:
        if proc is not None and proc.poll() is None:  # (stopped by a signal or an error)
            proc.kill()
            proc.wait()
        for t in tools:
            t.stop()


def _sample(tools: list[Tool], start: float) -> None:
    for t in tools:
        n = t.count()
        now = time.perf_counter()
        if n is not None:
            t.samples.append((now, n))
        t.rss.append((now - start, t.rss_kb()))


def _last_change(t: Tool) -> float:
    last = t.samples[-1][1]
    for when, n in reversed(t.samples):
        if n != last:
            return when
    return t.samples[0][0]


def _summary(t: Tool, written: list[tuple[float, int]], start: float, appended: float,
             total: int, cpu0: float) -> dict[str, Any]:
    """Sustained lines/s (counted while the appender ran), the delay from a block written to the
    first scrape that counts it (p50/p99, the scrape interval included), CPU in cores, RSS
    over time."""
    stamps = [n for _, n in t.samples]
    delays = sorted(t.samples[i][0] - when for when, n in written
                    if (i := bisect.bisect_left(stamps, n)) < len(t.samples))
    during = max((n for when, n in t.samples if when <= appended), default=0)
    end = t.samples[-1][0] if t.samples else appended

    def pick(q: float) -> float | None:
        return round(delays[min(len(delays) - 1, int(q * len(delays)))], 3) if delays else None

    def rss_at(minute: float) -> int | None:
        at = [kb for s, kb in t.rss if s <= minute * 60]
        return round(at[-1] / 1024) if at and t.rss[-1][0] >= minute * 60 else None

    return {"lines_per_s": round(during / (appended - start)),
            "counted": t.samples[-1][1] if t.samples else 0, "of": total,
            "delay_p50_s": pick(0.5), "delay_p99_s": pick(0.99),
            "cpu_cores": round((t.cpu_s() - cpu0) / (end - start), 2),
            "rss_mb_1min": rss_at(1), "rss_mb_2_5min": rss_at(2.5), "rss_mb_5min": rss_at(5),
            "rss_mb_by_minute": {m: mb for m in (10, 15, 20, 25, 30, 45, 60)
                                 if (mb := rss_at(m)) is not None},
            "peak_rss_mb": round(max(kb for _, kb in t.rss) / 1024) if t.rss else None}


#: what the appender leaves free on the temporary directory's disk when the file is not rotated
DISK_SPARE = 2 << 30


def room_for(tmp: Path, block: str, seconds: float, rate: float, rotate_mb: int) -> int:
    """The most bytes the appender may write to an unrotated file (0: no bound, it rotates).  A
    run that would fill the disk is refused before it starts: 300 s at 200k lines/s of
    Cloudflare's ~1.1 KB lines is ~66 GB, and a run that was killed left them in its temporary
    directory (stop 64).  At ``--rate 0`` (as fast as it can) the appender stops at the bound."""
    if rotate_mb:
        return 0
    free = shutil.disk_usage(tmp).free - DISK_SPARE
    need = len(block.encode()) / 1000 * rate * seconds
    if free <= 0 or need > free:
        raise SystemExit(f"watch_bench: {seconds:.0f} s at {rate:,.0f} lines/s of {tmp} would write "
                         f"~{need / 1e9:.1f} GB, more than the {max(free, 0) / 1e9:.1f} GB free (less "
                         f"{DISK_SPARE >> 30} GiB): pass --rotate-mb, a lower --rate or fewer --seconds")
    return free


def _stopped(signum: int, _frame: Any) -> None:
    """SIGTERM ends the run as Ctrl-C does: its temporary directory is removed."""
    raise SystemExit(128 + signum)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000, help="catch-up file (0: skip)")
    ap.add_argument("--seconds", type=float, default=300.0)
    ap.add_argument("--rate", type=float, default=200_000,
                    help="live appender's lines/s (0: as fast as it can; the file grows ~190 "
                         "bytes a line)")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--incidents", action="store_true",
                    help="default incident rules: time the diagnosis of an incident under load")
    ap.add_argument("--family", action="append", choices=["nginx", *FAMILIES],
                    help="the log family followed (repeatable; default nginx)")
    ap.add_argument("--rotate-mb", type=int, default=0,
                    help="rotate the followed file when it passes this size (renamed to .1, a "
                         "new one created, as logrotate's 'create'): long runs on bounded disk, "
                         "and the followers' rotation handling under load (0: never)")
    ap.add_argument("--shape", choices=["dense", "benign", "threaded"],
                    help="nginx-error and apache: every line a failure, or 5 %% failures among "
                         "lines that are none (default: nginx-error dense, apache benign; apache "
                         "threaded: benign under 4 pids x 25 tids, one line in ~2,000 a message "
                         "seen once, as an event MPM's log); alb, "
                         "cloudflare, envoy-json: dense is gen_lb_logs' mix (a quarter fail), "
                         "the default 5 %% failures")
    ap.add_argument("--live", type=int, default=1,
                    help="0: the catch-up alone (one core, in this process), no live run")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, _stopped)
    result: dict[str, Any] = {}
    for family in args.family or ["nginx"]:
        with tempfile.TemporaryDirectory(prefix="why502-watch-bench-") as d:
            a, b = Path(d) / "a", Path(d) / "b"
            a.mkdir()
            b.mkdir()
            if args.live:
                result[f"live {family}"] = live(b, args.seconds, args.rate, incidents=args.incidents,
                                                family=family, rotate_mb=args.rotate_mb,
                                                shape=args.shape)
            shutil.rmtree(b)
            if args.lines:
                result[f"catch_up {family}"] = catch_up(a, args.lines, family, args.shape)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for part, values in result.items():
            print(part + ": " + ", ".join(f"{k}={v}" for k, v in values.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
