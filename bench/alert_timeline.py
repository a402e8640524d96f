"""The alert timeline of one real 502 incident: from the fault to the page to the all-clear.

Everything is real and on loopback, in a lab ``Stack`` (temp dir, random ports, stopped by PID):
an nginx in front of a backend, ``why502 watch`` following its logs and posting its own alerts
(``--alertmanager``), a Prometheus (Debian ``prometheus``) scraping watch's ``/metrics`` with the
shipped rules (``why502 watch --print-rules``) and sending its alerts to the same Alertmanager
(Debian ``prometheus-alertmanager``), whose webhook receiver is a small HTTP server here that
records every notification with its time.  A client sends ``--rps`` requests per second all along
and counts its own answers; the backend is stopped for ``--fault`` seconds, then started again.

The run ends when watch has closed its incident, Prometheus has no pending or firing why502 alert,
Alertmanager holds no active one, and nothing more arrived for ``--quiet`` seconds (at most
``--max-after`` seconds after the fix).  Printed: the timeline (seconds from the fault) and a
summary: seconds from the fault to the first page, the number of notifications (firing ones =
pages), the seconds from the fix to the resolved notification.

The configuration is the one the docs print (``--profile docs``: docs/guide/watch.md's
prometheus.yml and alertmanager.yml) or the one they printed before issue 31 (``--profile
before``: Prometheus's default 1m rule evaluation, Alertmanager's default 5m group_interval).

    .venv/bin/python bench/alert_timeline.py --profile docs
    .venv/bin/python bench/alert_timeline.py --profile before --why502 '/path/to/python -m why502'
"""

from __future__ import annotations

import argparse
import http.server
import json
import queue
import shlex
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from why502.lab.runtime import Stack, free_port
from why502.lab.scenarios.common import server

# (Prometheus global, Alertmanager route, why502 watch flags): what each profile's docs said
PROFILES: dict[str, dict[str, Any]] = {
    # docs/guide/watch.md before issue 31: scrape_interval 15s and no evaluation_interval (1m
    # by default), group_by [instance, cause], group_wait 10s, no group_interval (5m by default)
    "before": {"global": "scrape_interval: 15s",
               "route": "group_by: [instance, cause]\n      group_wait: 10s\n"
                        "      repeat_interval: 1h",
               "watch": []},
    # docs/guide/watch.md now (keep the two in step)
    "docs": {"global": "scrape_interval: 15s\n  evaluation_interval: 15s",
             "route": "group_by: [instance]\n      group_wait: 10s\n      group_interval: 30s\n"
                      "      repeat_interval: 4h",
             "watch": []},
}


@contextmanager
def webhook() -> Iterator[tuple[str, queue.Queue[tuple[float, dict[str, Any]]]]]:
    """Alertmanager's webhook receiver: each POST body is one notification, kept with its
    arrival time (benchmarks do not import the tests' helpers, tests/support/monitoring.py)."""
    got: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            got.put((time.monotonic(), json.loads(
                self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    hook = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=hook.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{hook.server_port}/why502", got
    finally:
        hook.shutdown()


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def _wait(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (OSError, LookupError, ValueError):
            pass  # not up yet, or no target listed yet
        time.sleep(0.2)
    raise SystemExit(f"alert_timeline: timed out waiting for {what}")


def run(args: argparse.Namespace) -> dict[str, Any]:
    profile = PROFILES[args.profile]
    why502 = shlex.split(args.why502)
    with Stack() as stack, webhook() as (hook, got):
        app = stack.add_backend("ok", name="app")
        stack.start_nginx(server(stack, f"location / {{ proxy_pass http://127.0.0.1:{app.port}; }}"))
        rules = subprocess.run([*why502, "watch", "--print-rules"], capture_output=True, text=True,
                               check=True, timeout=60).stdout
        rules_file = stack.write_file("why502-alerts.yaml", rules)

        am_port, prom_port, watch_port = free_port(), free_port(), free_port()
        am_conf = stack.write_file("alertmanager.yml", f"""route:
  receiver: default
  routes:
    - matchers: ['alertname=~"Why502.*"']
      receiver: oncall
      {profile["route"]}
receivers:
  - name: default
  - name: oncall
    webhook_configs:
      - url: {hook}
""")
        stack.spawn("alertmanager", ["prometheus-alertmanager", f"--config.file={am_conf}",
                                     f"--storage.path={stack.root / 'am-data'}",
                                     f"--web.listen-address=127.0.0.1:{am_port}",
                                     "--cluster.listen-address="])
        am = f"http://127.0.0.1:{am_port}"
        _wait(lambda: urllib.request.urlopen(f"{am}/-/ready", timeout=5), 20, "Alertmanager")

        events: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        watch = subprocess.Popen(
            [*why502, "watch", "--nginx-conf", str(stack.p.nginx_conf), "--format", "jsonl",
             "--reports", str(stack.root / "incidents"), "--alertmanager", am,
             "--listen", f"127.0.0.1:{watch_port}", *profile["watch"]],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, stdin=subprocess.DEVNULL)

        def read_events() -> None:
            assert watch.stdout is not None
            for line in watch.stdout:
                events.put((time.monotonic(), json.loads(line)))

        threading.Thread(target=read_events, daemon=True).start()
        try:
            prom_conf = stack.write_file("prometheus.yml", f"""global:
  {profile["global"]}
rule_files: [{rules_file}]
alerting:
  alertmanagers:
    - static_configs: [{{targets: ["127.0.0.1:{am_port}"]}}]
scrape_configs:
  - job_name: why502
    static_configs: [{{targets: ["127.0.0.1:{watch_port}"]}}]
""")
            stack.spawn("prometheus", ["prometheus", f"--config.file={prom_conf}",
                                       f"--storage.tsdb.path={stack.root / 'prom-data'}",
                                       f"--web.listen-address=127.0.0.1:{prom_port}"])
            prom = f"http://127.0.0.1:{prom_port}"
            _wait(lambda: _get(f"{prom}/api/v1/targets")["data"]["activeTargets"][0]["health"] == "up",
                  60, "Prometheus scraping watch")

            answers: dict[str, dict[int, int]] = {"before": {}, "fault": {}, "after": {}}
            phase = ["before"]
            stop = threading.Event()

            def client() -> None:
                while not stop.is_set():
                    status = stack.request("/orders", timeout=5).status
                    got = answers[phase[0]]
                    got[status] = got.get(status, 0) + 1
                    stop.wait(1 / args.rps)

            threading.Thread(target=client, daemon=True).start()
            time.sleep(args.healthy)
            phase[0] = "fault"
            t0 = time.monotonic()
            stack.stop_process(app.process)
            time.sleep(args.fault)
            stack.add_backend("ok", name="app-again", port=app.port)
            phase[0] = "after"
            t_fix = time.monotonic()

            def settled() -> bool:
                pending = [a for a in _get(f"{prom}/api/v1/alerts")["data"]["alerts"]
                           if a["labels"].get("alertname", "").startswith("Why502")]
                active = [a for a in _get(f"{am}/api/v2/alerts?active=true&silenced=false")
                          if a["labels"].get("alertname", "").startswith("Why502")]
                return not pending and not active and any(
                    e["event"] == "incident-resolved" for _, e in list(events.queue))

            deadline = t_fix + args.max_after
            quiet_since: float | None = None
            while time.monotonic() < deadline:
                if settled() and got.qsize() > 0 and list(got.queue)[-1][1]["status"] == "resolved":
                    quiet_since = quiet_since or time.monotonic()
                    if time.monotonic() - quiet_since >= args.quiet:
                        break
                else:
                    quiet_since = None
                time.sleep(1)
            stop.set()
        finally:
            watch.terminate()
            watch.wait(timeout=15)
        saved = []  # what the saved report of each closed incident says the clients saw
        for _t, e in list(events.queue):
            path = e["incident"].get("report")
            if e["event"] == "incident-resolved" and path:
                report = json.loads(Path(path).read_text(encoding="utf-8"))
                saved.append({"cause": (report["findings"] or [{}])[0].get("cause"),
                              **{k: report["inputs"].get("incident", {}).get(k)
                                 for k in ("clients_saw", "statuses")}})
    out = _summary(t0, t_fix, list(events.queue), list(got.queue), answers, args)
    out["saved_reports"] = saved
    return out


def _summary(t0: float, t_fix: float, events: list[tuple[float, dict[str, Any]]],
             notes: list[tuple[float, dict[str, Any]]], answers: dict[str, dict[int, int]],
             args: argparse.Namespace) -> dict[str, Any]:
    line: list[tuple[float, str]] = [(0.0, "fault: backend stopped"),
                                     (t_fix - t0, "fix: backend started again")]
    for t, e in events:
        inc = e["incident"]
        line.append((t - t0, f"watch {e['event']} {inc['cause']}"))
    for t, n in notes:
        names = ", ".join(f"{a['labels'].get('alertname')}{{instance={a['labels'].get('instance')}}}"
                          f" {a['status']}" for a in n.get("alerts", []))
        line.append((t - t0, f"notification {n.get('status')}: {names}"))
    line.sort()
    firing = [t - t0 for t, n in notes if n.get("status") == "firing"]
    resolved = [t - t0 for t, n in notes if n.get("status") == "resolved"]
    out = {"profile": args.profile, "fault_s": round(t_fix - t0, 1), "rps": args.rps,
           "first_page_s": round(firing[0], 1) if firing else None,
           "notifications": len(notes), "firing_notifications": len(firing),
           "cleared_after_fix_s": round(resolved[-1] - (t_fix - t0), 1) if resolved else None,
           "client": {k: {str(s): n for s, n in v.items()} for k, v in answers.items()},
           "timeline": [f"{t:7.1f}s  {what}" for t, what in line]}
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--profile", choices=sorted(PROFILES), default="docs")
    ap.add_argument("--why502", default=f"{sys.executable} -m why502",
                    help="the why502 command to measure (default: this checkout's)")
    ap.add_argument("--healthy", type=float, default=20.0, help="seconds of traffic before the fault")
    ap.add_argument("--fault", type=float, default=90.0, help="seconds the backend is down")
    ap.add_argument("--rps", type=float, default=2.0, help="client requests per second")
    ap.add_argument("--quiet", type=float, default=60.0,
                    help="seconds with nothing pending before the run ends")
    ap.add_argument("--max-after", type=float, default=720.0, help="at most this long after the fix")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = run(args)
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print("\n".join(out.pop("timeline")))
        print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
