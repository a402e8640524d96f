"""`why502 watch` end to end: a real nginx, a real backend that goes away and comes back, a real
Alertmanager, and the real promtool checking the scrape."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import urllib.parse
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import why502
from tests.support.labrun import WatchProcess
from tests.support.monitoring import (
    get_json,
    get_text,
    need,
    start_alertmanager,
    start_prometheus,
    wait_until,
)
from why502.lab.runtime import Stack, free_port
from why502.lab.scenarios.common import server

pytestmark = pytest.mark.real


def stop_backend(stack: Stack, app: Any, watch: WatchProcess) -> dict[str, Any]:
    """The backend goes away, clients get 502s: watch opens an incident whose cause is
    backend-not-running; returns the incident."""
    stack.stop_process(app.process)
    assert {r.status for r in stack.requests("/orders", count=6)} == {502}
    opened = watch.next_event(timeout=30)
    assert opened["event"] == "incident-opened"
    inc: dict[str, Any] = opened["incident"]
    assert inc["cause"] == "backend-not-running"
    return inc


def alerts(am: str) -> list[dict[str, Any]]:
    return [a for a in get_json(f"{am}/api/v2/alerts") if a["labels"].get("alertname") == "Why502Incident"]


def test_watch_catches_a_stopped_backend_and_sees_it_fixed(tmp_path: Path) -> None:
    promtool = need("promtool")
    with Stack() as stack:
        app = stack.add_backend("ok", name="app")
        stack.start_nginx(server(stack, f"""
            location / {{
                proxy_pass http://127.0.0.1:{app.port};
            }}
        """))
        am = start_alertmanager(stack)
        port = free_port()
        metrics = f"http://127.0.0.1:{port}/metrics"
        watch = WatchProcess("--nginx-conf", str(stack.p.nginx_conf), "--format", "jsonl",
                             "--listen", f"127.0.0.1:{port}", "--window", "3", "--min-requests", "3",
                             "--resolve-after", "2", "--alertmanager", am,
                             "--reports", str(tmp_path / "reports"), "--duration", "60")
        try:
            # the followers are open once the loop has run a step (the lag gauge is set)
            wait_until(lambda: "why502_log_lag_bytes{" in get_text(metrics), 15, "watch started")
            prom = start_prometheus(stack, [f"127.0.0.1:{port}"])

            def promql(query: str) -> list[dict[str, Any]]:
                url = f"{prom}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
                return list(get_json(url)["data"]["result"])
            assert {r.status for r in stack.requests("/", count=3)} == {200}

            inc = stop_backend(stack, app, watch)
            assert str(app.port) in (inc["upstream"] or "")
            assert inc["fix"] and inc["diagnosis_seconds"] is not None

            scrape = get_text(metrics)
            assert 'why502_incidents_open{cause="backend-not-running"} 1.0' in scrape
            assert 'why502_requests_total{server="",status="502"} 6.0' in scrape
            assert 'why502_requests_total{server="",status="200"} 3.0' in scrape
            assert 'why502_upstream_failures_total{symptom="connection-refused"' in scrape
            check = subprocess.run([promtool, "check", "metrics"], input=scrape, text=True,
                                   capture_output=True, timeout=30, check=False)
            assert check.returncode == 0, check.stdout + check.stderr

            # Prometheus, asked through its own API, sees the incident and the 5xx rate (the
            # clients keep getting 502s meanwhile: an outage without traffic would resolve)
            def prometheus_sees_it() -> list[dict[str, Any]]:
                stack.requests("/orders", count=2)
                return (promql('why502_incidents_open{cause="backend-not-running"} == 1')
                        and promql('sum(rate(why502_requests_total{status="502"}[1m])) > 0'))

            wait_until(prometheus_sees_it, 20, "Prometheus to see the incident and the 5xx rate")

            firing = wait_until(lambda: alerts(am), 15, "the alert in Alertmanager")
            assert firing[0]["labels"]["cause"] == "backend-not-running"
            assert firing[0]["labels"]["severity"] == "critical"
            assert firing[0]["annotations"]["fix"] == inc["fix"]
            assert firing[0]["annotations"]["runbook_url"].endswith("/backend-not-running.md")

            stack.add_backend("ok", name="app-again", port=app.port)  # fixed
            resolved: dict[str, Any] = {}

            def healthy_traffic() -> bool:
                stack.requests("/", count=2)
                try:
                    resolved.update(json.loads(watch.lines.get(timeout=0.5)))
                except queue.Empty:
                    return False
                return True

            wait_until(healthy_traffic, 30, "incident-resolved")
            assert resolved["event"] == "incident-resolved"
            assert resolved["incident"]["id"] == inc["id"]
            assert 'why502_incidents_open{cause="backend-not-running"} 0.0' in get_text(metrics)
            wait_until(lambda: not alerts(am), 15, "the alert resolved in Alertmanager")
            watch.proc.send_signal(signal.SIGTERM)  # as systemd stops it
            assert watch.proc.wait(timeout=15) == 0

            report = Path(resolved["incident"]["report"])
            saved = json.loads(report.read_text())
            assert saved["findings"][0]["cause"] == "backend-not-running"
            html = tmp_path / "incident.html"
            rendered = why502("render", str(report), "--format", "html", "-o", str(html))
            assert rendered.returncode in (0, 1), rendered.stderr
            assert "backend-not-running" in html.read_text()
        finally:
            watch.stop()


def test_health_check_path_marks_a_5xx_health_endpoint_down() -> None:
    from why502.app.watch.health import HealthChecker
    from why502.app.watch.metrics import Metrics
    from why502.evidence.model import TargetFact

    with Stack() as stack:
        app = stack.add_backend("status503", fail_path="/health")  # "/" answers 200
        target = TargetFact(key=f"127.0.0.1:{app.port}", scheme="http", host="127.0.0.1",
                            port=app.port)
        metrics = Metrics()

        def checker(path: str) -> HealthChecker:
            return HealthChecker(lambda: [target], metrics, lambda _d: None, lambda _n: None,
                                 interval=1, timeout=2, path=path)

        assert checker("/").check_once() == []
        assert checker("/health").check_once() == [target.key]
        assert metrics.registry.get_sample_value("why502_target_up", {"target": target.key}) == 0
