"""`why502 fleet` at a thousand hosts: a real Prometheus scraping ≥ 1,000 watch targets.

Three steps (``--help`` of each):

- ``record`` (run once; its output is committed in ``tests/fixtures/fleet/metrics/``): a real
  ``why502 watch`` follows the logs of recorded real nginx failures (``tests/fixtures/recorded/``,
  their lines appended with their times moved to now), opens and diagnoses an incident, and its
  ``/metrics`` is scraped verbatim: one body per cause, plus a healthy host and a host whose
  health check finds a config target down (a live watch, its backend stopped);
- ``serve`` (a child process of ``run``): one asyncio process answers ``GET /metrics`` on N
  loopback ports, each with one recorded body -- its counters growing with time so ``rate()``
  has work, the open incident's upstream and start rewritten per the plan -- or HTTP 503 for an
  agent marked down;
- ``run``: plants incidents of several causes on known hosts (a shared upstream behind
  ``--shared`` hosts, a deploy breaking ``--deploy`` hosts within one minute, scattered incidents
  of every recorded cause, hosts with a target down, agents down), starts a real Prometheus
  (Debian ``prometheus``; temp dir, loopback, ``--interval`` scrape and rule evaluation) with the
  rules of ``why502 watch --write-mixin``, waits until every target is scraped and the recording
  rules hold every host, then times ``why502 fleet --prometheus URL --format json`` ``--runs``
  times: wall and CPU seconds, Prometheus's own query time (its
  ``prometheus_engine_query_duration_seconds`` sums), its RSS, and whether the answer is
  **exact** (every planted incident with its cause and host, every down target and agent, the
  two fleet-level findings; nothing else).  The same answer without the recording rules
  (``--range 4m``: ``rate()`` at query time) is timed next to it.

    .venv/bin/python bench/fleet_scale.py record
    .venv/bin/python bench/fleet_scale.py run --hosts 1000 --runs 5
    .venv/bin/python bench/fleet_scale.py run --hosts 60 --interval 1 --json out.json   # the test
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from why502.app.fleet import QUERIES, is_local

ROOT = Path(__file__).resolve().parent.parent
RECORDED = ROOT / "tests" / "fixtures" / "recorded"
FIXTURES = ROOT / "tests" / "fixtures" / "fleet"
WHY502 = str(Path(sys.executable).with_name("why502"))
# template -> recorded scenario whose logs a real watch reads (the incident's cause is the
# template's name when the diagnosis agrees; `record` checks it)
SCENARIOS = {
    "backend-not-running": "backend-down-tcp",
    "backend-too-slow": "backend-too-slow",
    "backend-crashed": "backend-crashed-reset",
    "dns-unresolvable": "dns-unresolvable",
    "app-fatal-error": "app-fatal-error",
    "healthy": "healthy-control",
}
SHARED_TARGET = "10.20.0.5:5432"  # the shared upstream planted behind --shared hosts
SHARED_NAME = "orders_db"
_ACCESS_TIME = re.compile(r"\[(\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2}) ([+-]\d{4})\]")
_ERROR_TIME = re.compile(r"^(\d{4}/\d{2}/\d{2} \d{2}:\d{2}:\d{2}) ")


# ---------------------------------------------------------------- record

def _get(url: str, timeout: float = 5.0, accept: str = "") -> bytes:
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return bytes(resp.read())


def _wait(check: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = check()
        except OSError:
            got = None
        if got:
            return got
        time.sleep(0.3)
    raise SystemExit(f"timed out after {timeout:g}s waiting for {what}")


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _shift(lines: list[str], when: re.Pattern[str], fmt: str, delta: timedelta) -> list[str]:
    out = []
    for line in lines:
        m = when.search(line)
        if m:
            t = datetime.strptime(m.group(1), fmt) + delta
            line = line[:m.start(1)] + t.strftime(fmt) + line[m.end(1):]
        out.append(line)
    return out


def record_one(template: str, out: Path, work: Path) -> dict[str, Any]:
    """A real watch on one recorded scenario's logs (replayed at now); its /metrics body."""
    live = template == "targets-down"
    scenario = SCENARIOS.get(template, "healthy-control")
    src = RECORDED / scenario
    root = work / template
    (root / "logs").mkdir(parents=True)
    (root / "run").mkdir()
    conf = root / "nginx.conf"
    conf.write_text((src / "nginx.conf").read_text().replace("/lab", str(root)))
    access, error = root / "logs" / "access.log", root / "logs" / "error.log"
    access.write_text("")
    error.write_text("")
    port = _free_port()
    cmd = [WHY502, "watch", "--nginx-conf", str(conf), "--listen", f"127.0.0.1:{port}",
           "--format", "jsonl", "--min-requests", "2", "--window", "30", "--duration", "120"]
    cmd += ["--probe-interval", "1"] if live else ["--offline"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        metrics = f"http://127.0.0.1:{port}/metrics"
        _wait(lambda: b"why502_log_lag_bytes{" in _get(metrics), 60, "watch to listen")
        if not live:
            e_lines = (src / "error.log").read_text().splitlines(keepends=True)
            a_lines = (src / "access.log").read_text().splitlines(keepends=True)
            last = max((datetime.strptime(m.group(1), "%Y/%m/%d %H:%M:%S")
                        for line in e_lines if (m := _ERROR_TIME.match(line))), default=None)
            delta = (datetime.now() - last) if last else timedelta()
            with error.open("a") as e, access.open("a") as a:
                e.writelines(_shift(e_lines, _ERROR_TIME, "%Y/%m/%d %H:%M:%S", delta))
                a.writelines(_shift(a_lines, _ACCESS_TIME, "%d/%b/%Y:%H:%M:%S", delta))
        cause = None
        if template != "healthy":
            assert proc.stdout is not None
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                line = proc.stdout.readline()
                if not line:
                    break
                event = json.loads(line)
                if event.get("event") == "incident-opened":
                    cause = event["incident"]["cause"]
                    break
            if cause is None:
                raise SystemExit(f"{template}: the watch opened no incident")
        else:
            time.sleep(3)
        # the text format 0.0.4 (what the serve step answers with)
        body = _get(metrics, accept="text/plain").decode()
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    (out / f"{template}.prom").write_text(body)
    return {"template": template, "scenario": scenario, "live_health_checks": live,
            "diagnosed_cause": cause}


def record(args: argparse.Namespace) -> None:
    out = Path(args.out)
    (out / "metrics").mkdir(parents=True, exist_ok=True)
    made = []
    with tempfile.TemporaryDirectory(prefix="why502-fleet-record-") as tmp:
        for template in [*SCENARIOS, "targets-down"]:
            made.append(record_one(template, out / "metrics", Path(tmp)))
            print(made[-1], flush=True)
    version = subprocess.run([WHY502, "--version"], capture_output=True, text=True).stdout.strip()
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    (out / "metrics" / "provenance.json").write_text(json.dumps({
        "recorded_by": "bench/fleet_scale.py record",
        "recorded_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "why502": version, "commit": commit,
        "how": "a real `why502 watch --nginx-conf <scenario>/nginx.conf` (--offline, or live "
               "health checks every 1 s for targets-down) followed the scenario's error and "
               "access logs of tests/fixtures/recorded/ appended with their times moved to now; "
               "GET /metrics (Accept: text/plain, the text format 0.0.4) once the incident was "
               "opened and diagnosed; the body is stored verbatim",
        "templates": made}, indent=2) + "\n")


# ---------------------------------------------------------------- plan and serve

_COUNTER = re.compile(r"^(\w+?(?:_total|_count|_sum|_bucket))(\{[^}]*\})? (\S+)$")
_STARTED = re.compile(r'^why502_incident_started_timestamp_seconds\{cause="([^"]*)",'
                      r'target="([^"]*)",upstream="([^"]*)"\} (\S+)$')


def load_templates(directory: Path) -> dict[str, str]:
    return {p.stem: p.read_text() for p in sorted(directory.glob("*.prom"))}


def truth_of(body: str) -> tuple[list[str], list[str]]:
    """A body's open incidents (causes) and down targets: what fleet must say of its host."""
    causes = re.findall(r'^why502_incidents_open\{cause="([^"]*)"\} ([0-9.e+]+)$', body, re.M)
    down = re.findall(r'^why502_target_up\{target="([^"]*)"\} 0\.0$', body, re.M)
    return sorted(c for c, v in causes if float(v) > 0), sorted(down)


def started_line(body: str) -> tuple[str, str, str] | None:
    """(cause, target, upstream) of the body's open incident series."""
    for line in body.splitlines():
        m = _STARTED.match(line)
        if m:
            return m.group(1), m.group(2), m.group(3)
    return None


def plan(hosts: int, templates: dict[str, str], shared: int, deploy: int, scattered: int,
         down: int, agents_down: int, now: float) -> list[dict[str, Any]]:
    """Which host serves what.  Hosts are ``web0001``...; the planted ones spread over the list.

    - ``shared`` hosts: backend-not-running, target rewritten to SHARED_TARGET (upstream
      SHARED_NAME): one fleet-level finding "one upstream";
    - ``deploy`` hosts: every other cause in turn, host-local upstreams (loopback: never
      grouped), started within 40 s of each other 30 min ago: one "started within 1 min";
    - ``scattered`` hosts per cause: their own upstreams, starts 10 min apart from 2 h ago
      back (no group);
    - ``down`` hosts: the targets-down body (a config target down, and the incident the watch
      opened for it), starts 10 min apart too; ``agents_down`` hosts answer 503."""
    names = [f"web{n:04d}" for n in range(1, hosts + 1)]
    causes = [t for t in templates if t not in ("healthy", "targets-down")]
    others = [c for c in causes if c != "backend-not-running"]
    kinds: list[tuple[str, str]] = [("shared", "backend-not-running")] * shared
    kinds += [("deploy", others[i % len(others)]) for i in range(deploy)]
    kinds += [("scattered", c) for c in causes for _ in range(scattered)]
    kinds += [("down", "targets-down")] * down + [("agent-down", "")] * agents_down
    if len(kinds) > hosts:
        raise SystemExit(f"--hosts {hosts}: fewer than the {len(kinds)} planted hosts")
    step = hosts / len(kinds)
    slots = {int(i * step): k for i, k in enumerate(kinds)}
    out = []
    spread = 0
    for n, name in enumerate(names):
        kind, template = slots.get(n, ("healthy", "healthy"))
        item: dict[str, Any] = {"instance": name, "kind": kind, "template": template}
        if kind == "shared":
            item |= {"target": SHARED_TARGET, "upstream": SHARED_NAME,
                     "started": now - 900 + len([o for o in out if o["kind"] == "shared"]) * 2.0}
        elif kind == "deploy":
            k = len([o for o in out if o["kind"] == "deploy"])
            item |= {"target": f"127.0.0.1:{9000 + k}", "upstream": f"127.0.0.1:{9000 + k}",
                     "started": now - 1800 + 40.0 * k / max(1, deploy - 1)}
            identity = started_line(templates[template])
            if identity and identity[1] and not is_local(identity[1]):
                item |= {"target": f"{name}-{identity[1]}", "upstream": f"{name}-{identity[2]}"}
        elif kind in ("scattered", "down"):
            spread += 1
            item |= {"started": now - 7200 - 600.0 * spread}  # before the deploy, 10 min apart
            identity = started_line(templates[template])
            if identity and identity[1] and not is_local(identity[1]):
                # a name every host would share (dns-unresolvable's api.internal.example) is a
                # fleet-level finding of its own: each scattered host gets its own
                item |= {"target": f"{name}-{identity[1]}", "upstream": f"{name}-{identity[2]}"}
        out.append(item)
    return out


def body_of(item: dict[str, Any], templates: dict[str, str]) -> str:
    """The host's body: its template with the open incident's identity rewritten per the plan."""
    body = templates[item["template"]]
    old = started_line(body)
    if old is not None and "started" in item:
        target = old[1]
        if item.get("target"):
            if target:
                body = body.replace(target, item["target"])
            body = re.sub(r'^(why502_incident_started_timestamp_seconds\{[^}]*upstream=")[^"]*',
                          lambda m: m.group(1) + item["upstream"], body, flags=re.M)
            body = re.sub(r'^(why502_incident_started_timestamp_seconds\{[^}]*target=")[^"]*',
                          lambda m: m.group(1) + item["target"], body, flags=re.M)
        body = re.sub(r"^(why502_incident_started_timestamp_seconds\{[^}]*\}) \S+$",
                      lambda m: f"{m.group(1)} {item['started']:.1f}", body, flags=re.M)
    return body


class Body:
    """A body whose counters grow: value = recorded value x (1 + elapsed / 60)."""

    def __init__(self, text: str, t0: float) -> None:
        self.t0 = t0
        self.parts: list[str] = []
        self.values: list[float] = []
        static: list[str] = []
        for line in text.splitlines(keepends=True):
            m = _COUNTER.match(line.rstrip("\n"))
            if m and not line.startswith("#"):
                static.append(line[:m.start(3)])
                self.parts.append("".join(static))
                static = []
                self.values.append(float(m.group(3)))
                static.append("\n")
            else:
                static.append(line)
        self.tail = "".join(static)

    def render(self) -> bytes:
        k = 1.0 + (time.time() - self.t0) / 60.0
        out = [p + repr(v * k) for p, v in zip(self.parts, self.values)]
        return ("".join(out) + self.tail).encode()


async def _serve(plan_file: Path, ports_file: Path) -> None:
    spec = json.loads(plan_file.read_text())
    templates = load_templates(Path(spec["templates"]))
    t0 = time.time()
    hits = [0]

    def handler(body: Body | None) -> Any:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    head = await reader.readuntil(b"\r\n\r\n")
                    if not head:
                        break
                    hits[0] += 1
                    if body is None:
                        payload, status = b"agent down\n", b"503 Service Unavailable"
                        ctype = b"text/plain"
                    else:
                        payload, status = body.render(), b"200 OK"
                        ctype = b"text/plain; version=0.0.4; charset=utf-8"
                    writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Type: " + ctype +
                                 b"\r\nContent-Length: " + str(len(payload)).encode() +
                                 b"\r\n\r\n" + payload)
                    await writer.drain()
            except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
                pass
            finally:
                writer.close()
        return handle

    servers = []
    ports = {}
    for item in spec["plan"]:
        body = None if item["kind"] == "agent-down" else Body(body_of(item, templates), t0)
        server = await asyncio.start_server(handler(body), "127.0.0.1", 0, backlog=64)
        servers.append(server)
        ports[item["instance"]] = server.sockets[0].getsockname()[1]
    tmp = ports_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(ports))
    os.replace(tmp, ports_file)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()


def serve(args: argparse.Namespace) -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    asyncio.run(_serve(Path(args.plan), Path(args.ports)))


# ---------------------------------------------------------------- run

def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _query(prom: str, promql: str) -> list[dict[str, Any]]:
    url = f"{prom}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
    return list(json.loads(_get(url, timeout=30))["data"]["result"])


def _engine_seconds(prom: str) -> float:
    """Prometheus's own time in its query engine so far (every slice's sum)."""
    text = _get(f"{prom}/metrics", timeout=30).decode()
    return sum(float(m.group(1)) for m in re.finditer(
        r'^prometheus_engine_query_duration_seconds_sum\{slice="[^"]*"\} (\S+)$', text, re.M))


def expected(items: list[dict[str, Any]], templates: dict[str, str]) -> dict[str, Any]:
    """The exact answer: every host with something to say, and the two fleet-level findings."""
    hosts: dict[str, Any] = {}
    for item in items:
        if item["kind"] == "agent-down":
            hosts[item["instance"]] = {"open_incidents": [], "targets_down": [], "agent_down": True}
            continue
        causes, down = truth_of(templates[item["template"]])
        if causes or down:
            hosts[item["instance"]] = {"open_incidents": causes, "targets_down": down,
                                       "agent_down": False}
    shared = sorted(i["instance"] for i in items if i["kind"] == "shared")
    deploy = sorted(i["instance"] for i in items if i["kind"] == "deploy")
    findings = []
    if len(shared) >= 3:
        findings.append({"kind": "upstream", "target": SHARED_TARGET, "upstream": SHARED_NAME,
                         "hosts": shared})
    if len(deploy) >= 3:
        findings.append({"kind": "started-together", "target": None, "upstream": None,
                         "hosts": deploy})
    return {"hosts": hosts, "fleet_findings": findings}


def observed(answer: dict[str, Any]) -> dict[str, Any]:
    hosts = {h["instance"]: {"open_incidents": h["open_incidents"], "targets_down": h["targets_down"],
                             "agent_down": h["agent_down"]}
             for h in answer["hosts"] if h["open_incidents"] or h["targets_down"] or h["agent_down"]}
    findings = [{k: f[k] for k in ("kind", "target", "upstream", "hosts")}
                for f in answer["fleet_findings"]]
    return {"hosts": hosts, "fleet_findings": findings}


def run(args: argparse.Namespace) -> dict[str, Any]:
    prometheus = shutil.which("prometheus")
    if prometheus is None:
        raise SystemExit("prometheus is not installed (Debian package: prometheus)")
    templates_dir = Path(args.templates)
    templates = load_templates(templates_dir)
    now = time.time()
    items = plan(args.hosts, templates, args.shared, args.deploy, args.scattered, args.down,
                 args.agents_down, now)
    want = expected(items, templates)
    result: dict[str, Any] = {"hosts": args.hosts, "interval_s": args.interval,
                              "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory(prefix="why502-fleet-scale-") as tmp_name:
        tmp = Path(tmp_name)
        (tmp / "plan.json").write_text(json.dumps({"templates": str(templates_dir), "plan": items}))
        server = subprocess.Popen([sys.executable, __file__, "serve", "--plan", str(tmp / "plan.json"),
                                   "--ports", str(tmp / "ports.json")])
        prom_proc = None
        try:
            ports = _wait(lambda: (tmp / "ports.json").exists()
                          and json.loads((tmp / "ports.json").read_text()), 120, "the targets")
            subprocess.run([WHY502, "watch", "--write-mixin", str(tmp / "mixin")], check=True,
                           stdout=subprocess.DEVNULL)
            groups = "".join(f'      - targets: ["127.0.0.1:{ports[i["instance"]]}"]\n'
                             f'        labels: {{instance: "{i["instance"]}"}}\n' for i in items)
            (tmp / "prometheus.yml").write_text(
                f"global:\n  scrape_interval: {args.interval}s\n  evaluation_interval: {args.interval}s\n"
                f"  scrape_timeout: {max(1, args.interval - 1)}s\n"
                f"rule_files:\n  - {tmp / 'mixin' / 'prometheus_alerts.yaml'}\n"
                + ("" if args.no_recording_rules
                   else f"  - {tmp / 'mixin' / 'prometheus_rules.yaml'}\n") +
                f"scrape_configs:\n  - job_name: why502\n    static_configs:\n{groups}")
            port = _free_port()
            prom = f"http://127.0.0.1:{port}"
            prom_proc = subprocess.Popen(
                [prometheus, f"--config.file={tmp / 'prometheus.yml'}",
                 f"--storage.tsdb.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{port}"],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            _wait(lambda: _get(f"{prom}/-/ready"), 60, "Prometheus ready")
            up_hosts = args.hosts - args.agents_down
            with_incident = sum(1 for h in want["hosts"].values() if h["open_incidents"])
            t_ready = time.monotonic()

            want_counts = {"up == 1": up_hosts, "up == 0": args.agents_down,
                           ("sum by (instance) (rate(why502_requests_total[5m]))"
                            if args.no_recording_rules else "instance:why502_requests:rate5m"): sum(
                               1 for i in items if i["kind"] != "agent-down"
                               and "why502_requests_total{" in templates[i["template"]]),
                           "why502_incident_started_timestamp_seconds": with_incident}
            counts: dict[str, int] = {}

            def ready() -> bool:
                for q in want_counts:
                    r = _query(prom, f"count({q})")
                    counts[q] = int(float(r[0]["value"][1])) if r else 0
                return counts == want_counts

            try:
                _wait(ready, args.ready_timeout, "every target scraped and the recording rules")
            except SystemExit:
                raise SystemExit(f"not ready: {counts} where {want_counts} was expected") from None
            result["ready_after_s"] = round(time.monotonic() - t_ready, 1)
            m = re.search(r"^prometheus_tsdb_head_series (\S+)$",
                          _get(f"{prom}/metrics", timeout=30).decode(), re.M)
            result["head_series"] = int(float(m.group(1))) if m else None
            if args.record_api:
                record_api(prom, Path(args.record_api), items)
            result["load"] = os.getloadavg()
            for label, extra in (("recorded", []), ("no_rules", ["--range", "4m"])):
                walls, cpus, engine, exact = [], [], [], []
                for _ in range(args.runs):
                    e0 = _engine_seconds(prom)
                    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
                    t0 = time.perf_counter()
                    out = subprocess.run([WHY502, "fleet", "--prometheus", prom, "--format", "json",
                                          *extra], capture_output=True, text=True)
                    walls.append(time.perf_counter() - t0)
                    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
                    cpus.append(c1.ru_utime - c0.ru_utime + c1.ru_stime - c0.ru_stime)
                    engine.append(_engine_seconds(prom) - e0)
                    if out.returncode not in (0, 1):
                        raise SystemExit(f"fleet failed: {out.stderr}")
                    answer = json.loads(out.stdout)
                    got = observed(answer)
                    exact.append(got == want)
                    if got != want and not result.get("mismatch"):
                        result["mismatch"] = {"want": want, "got": got}
                    result["answer"] = answer
                    result.setdefault("answers", {})[label] = answer
                result[label] = {"wall_s": [round(w, 3) for w in walls],
                                 "cpu_s": [round(c, 3) for c in cpus],
                                 "prometheus_engine_s": [round(e, 4) for e in engine],
                                 "exact": all(exact)}
            result["prometheus_query_ms"] = query_stats(prom)
            t0 = time.perf_counter()
            subprocess.run([WHY502, "--version"], capture_output=True)
            result["why502_version_wall_s"] = round(time.perf_counter() - t0, 3)
            result["prometheus_rss_mb"] = round(_rss_mb(prom_proc.pid), 1)
            result["prometheus_cpu_s"] = round(_cpu_s(prom_proc.pid), 1)
            result["server_rss_mb"] = round(_rss_mb(server.pid), 1)
            result["server_cpu_s"] = round(_cpu_s(server.pid), 1)
            result["load_after"] = os.getloadavg()
            result["planted"] = want
        finally:
            for proc in (prom_proc, server):
                if proc is not None:
                    proc.terminate()
                    try:
                        proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
    return result


def query_stats(prom: str, repeats: int = 5) -> dict[str, float]:
    """Prometheus's own evaluation time of each of fleet's queries (``stats=all``:
    ``execTotalTime`` = queue + preparation + evaluation + sort), the median of ``repeats``, in
    milliseconds; the answers' sizes in bytes too."""
    out: dict[str, float] = {}
    # the two halves of agents_down, to see which costs
    extra = {"up == 0": "up == 0", "jobs": "group by (job) (why502_log_lag_bytes)"}
    for name, promql in {**QUERIES, **extra}.items():
        promql = promql.replace("{range}", "5m")
        url = f"{prom}/api/v1/query?{urllib.parse.urlencode({'query': promql, 'stats': 'all'})}"
        times = []
        size = 0
        for _ in range(repeats):
            raw = _get(url, timeout=30)
            size = len(raw)
            timings = json.loads(raw)["data"]["stats"]["timings"]
            times.append(float(timings["execTotalTime"]) * 1000)
        out[name] = round(sorted(times)[len(times) // 2], 2)
        out[name + "_bytes"] = size
    return out


def record_api(prom: str, out: Path, items: list[dict[str, Any]]) -> None:
    """Every query fleet asks, answered by this real Prometheus, stored verbatim (unit tests)."""
    out.mkdir(parents=True, exist_ok=True)
    answers = {}
    for name, promql in QUERIES.items():
        promql = promql.replace("{range}", "5m")
        url = f"{prom}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        answers[name] = {"query": promql, "answer": json.loads(_get(url, timeout=30))}
    version = json.loads(_get(f"{prom}/api/v1/status/buildinfo", timeout=30))["data"]["version"]
    (out / "answers.json").write_text(json.dumps({
        "recorded_by": "bench/fleet_scale.py run --record-api",
        "recorded_at": datetime.now().astimezone().isoformat(timespec="seconds"),
        "prometheus": version,
        "how": "a real Prometheus scraping the planted targets (tests/fixtures/fleet/metrics/ "
               "bodies), with the rules of `why502 watch --write-mixin`; GET /api/v1/query of "
               "each of why502.app.fleet.QUERIES, the answer stored verbatim",
        "plan": items, "answers": answers}, indent=1) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="step", required=True)
    r = sub.add_parser("record", help="record watch /metrics bodies (real watch, real logs)")
    r.add_argument("--out", default=str(FIXTURES))
    s = sub.add_parser("serve", help="(internal) serve the planned targets")
    s.add_argument("--plan", required=True)
    s.add_argument("--ports", required=True)
    g = sub.add_parser("run", help="plant, scrape with a real Prometheus, time why502 fleet")
    g.add_argument("--hosts", type=int, default=1000)
    g.add_argument("--shared", type=int, default=37, help="hosts behind the shared upstream")
    g.add_argument("--deploy", type=int, default=12, help="hosts broken by one deploy")
    g.add_argument("--scattered", type=int, default=3, help="hosts per cause, no pattern")
    g.add_argument("--down", type=int, default=5, help="hosts with a config target down")
    g.add_argument("--agents-down", type=int, default=4, help="agents answering 503")
    g.add_argument("--interval", type=int, default=5, help="scrape and rule interval, seconds")
    g.add_argument("--runs", type=int, default=5)
    g.add_argument("--ready-timeout", type=float, default=300)
    g.add_argument("--templates", default=str(FIXTURES / "metrics"))
    g.add_argument("--no-recording-rules", action="store_true",
                   help="load the alerting rules only: fleet falls back to rate() at query time")
    g.add_argument("--record-api", metavar="DIR", help="store Prometheus's answers to fleet's queries")
    g.add_argument("--json", metavar="FILE", help="write the figures (and the answer) as JSON")
    args = p.parse_args()
    if args.step == "record":
        record(args)
    elif args.step == "serve":
        serve(args)
    else:
        result = run(args)
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1) + "\n")
        brief = {k: v for k, v in result.items()
                 if k not in ("answer", "answers", "planted", "mismatch")}
        print(json.dumps(brief, indent=1))
        if not all(result[k]["exact"] for k in ("recorded", "no_rules")):
            print(json.dumps(result.get("mismatch"), indent=1)[:4000], file=sys.stderr)
            raise SystemExit(1)


if __name__ == "__main__":
    main()
