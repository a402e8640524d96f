"""One page per incident and the report saved at its close (issue 31): the incident's traffic
over its whole span, the alert that fired resolved even when the close re-diagnoses another
cause, ``why502_alertmanager_up``, and, end to end, a real nginx, Prometheus with the shipped
rules, Alertmanager with a webhook, and a client that counts its own answers."""

from __future__ import annotations

import json
import queue
import time
from collections import Counter
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from prometheus_client import generate_latest

from tests.support.clirun import why502
from tests.support.labrun import WatchProcess
from tests.support.monitoring import (
    Notification,
    get_text,
    start_alertmanager,
    start_prometheus,
    wait_until,
    webhook,
)
from tests.watch.test_watch_engine import access_line, error_line, nginx_conf
from why502.app.watch.alerts import AlertSender
from why502.app.watch.closing import closing_report
from why502.app.watch.engine import Watch, WatchOptions
from why502.app.watch.incidents import Bucket, Incident, IncidentTraffic, Rules
from why502.app.watch.metrics import Metrics
from why502.findings.model import Finding, Report
from why502.lab.runtime import Stack, free_port
from why502.lab.scenarios.common import server


def test_incident_traffic_counts_each_second_once_and_the_current_one_at_the_close() -> None:
    t = IncidentTraffic()
    buckets = [Bucket(100, requests=2, statuses=Counter({200: 2})),
               Bucket(101, requests=3, errors=3, statuses=Counter({502: 3})),
               Bucket(161, requests=1, errors=1, statuses=Counter({502: 1}))]
    t.track(buckets, upto=161, wall=0.0)  # 161 is the current second: it may still grow
    assert (t.requests, t.errors) == (5, 3)
    buckets[2].requests, buckets[2].errors = 4, 4
    buckets[2].statuses[502] = 4
    t.track(buckets, upto=161, wall=0.0)  # nothing new before 161: nothing counted twice
    assert (t.requests, t.errors) == (5, 3)
    t.track(buckets, upto=float("inf"), wall=0.0)  # the close: the last second too
    assert (t.requests, t.errors, t.statuses) == (9, 7, Counter({200: 2, 502: 7}))
    d = t.to_dict()
    assert d["first_5xx"] and d["last_5xx"] and d["first_5xx"] < d["last_5xx"]
    assert d["peak_5xx"] == 4 and len(d["per_minute"]) == 2  # second 161 is another minute


def test_saved_report_covers_the_whole_incident_not_its_opening(tmp_path: Path) -> None:
    """6 502s open the incident; 8 more come while it is open: the report saved at the close
    counts 14 (the opening's diagnosis saw 6), re-diagnosed over the whole span -- from the
    logs only, while the opening's was live (its probes reach 127.0.0.1:9, refused)."""
    conf = nginx_conf(tmp_path)
    access, error = tmp_path / "access.log", tmp_path / "error.log"
    access.write_text("")
    error.write_text("")
    events: list[dict[str, Any]] = []
    w = Watch(WatchOptions(default_proxy_config=str(conf), offline=False, reports_dir=str(tmp_path / "r"),
                           probe_timeout=1.0,
                           rules=Rules(window=30, ratio=0.5, min_requests=4, resolve_after=1)),
              events.append, lambda _d: None)
    w.step()

    def fail(first: int, count: int) -> None:
        with access.open("a") as a, error.open("a") as e:
            for n in range(first, first + count):
                a.write(access_line(n, 502))
                e.write(error_line(n))

    fail(1, 6)
    w.step()
    # the loop goes on stepping while the diagnosis runs in its thread (``Watch.run``): each
    # step folds the window's seconds into the incident before they leave it.  Waiting without
    # stepping (wait_diagnosis) lost the opening's 6 when the live diagnosis took longer than the
    # window on a loaded machine (8 counted, not 14); the window is 30 s so that a slow live
    # diagnosis does not also see the opening's failures leave it and close the incident
    deadline = time.monotonic() + 60
    while w.pending is not None and time.monotonic() < deadline:
        time.sleep(0.05)
        w.step()
    assert [ev["event"] for ev in events] == ["incident-opened"]
    assert w.report is not None and w.report.inputs["offline"] is False  # the opening: live
    time.sleep(1.2)
    fail(7, 8)
    w.step()
    assert w.incident is not None and w.incident.errors == 14  # the totals so far
    w.decide(time.monotonic() + 40)  # quiet since (the window empty): closing, diagnosed once more first
    w.wait_diagnosis(60)
    assert [ev["event"] for ev in events] == ["incident-opened", "incident-resolved"]
    closed = events[1]["incident"]
    assert closed["errors_5xx"] == 14 and closed["requests"] == 14
    saved = json.loads(Path(closed["report"]).read_text())
    assert saved["inputs"]["offline"] is True  # the close: what is live then is the fixed state
    facts = saved["inputs"]["incident"]
    assert (facts["requests"], facts["errors_5xx"], facts["statuses"]) == (14, 14, {"502": 14})
    assert facts["id"] == closed["id"] and facts["resolved"] == closed["resolved"]
    assert "14 answered 5xx (502 x 14)" in facts["clients_saw"]
    # the closing diagnosis read the whole span: its own timeline counts all 14
    assert sum(p["counts"].get("502", 0) for p in saved["timeline"]) == 14
    assert {"incident-opened", "incident-resolved", "first-5xx", "last-5xx"} <= {
        e["kind"] for e in saved["events"]}
    schema = resources.files("why502").joinpath("schemas", "report.schema.json")
    jsonschema.validate(saved, json.loads(schema.read_text(encoding="utf-8")))


def _finding(cause: str, count: int) -> Finding:
    return Finding(cause=cause, title=cause, confidence=0.9, status_codes=[502], symptoms=[],
                   explanation=cause, count=count)


def test_the_close_keeps_the_live_cause_first_with_the_whole_span_evidence() -> None:
    """The closing diagnosis reads the logs only (the live state then is the fixed one): its
    finding of the incident's live cause leads even when it ranks another first; a cause only
    the live diagnosis saw leads as the live report had it."""
    closing = Report(findings=[_finding("backend-oom-killed", 3), _finding("backend-not-running", 38)])
    live = Report(findings=[_finding("backend-not-running", 6), _finding("kernel-only", 1)])
    kept = closing_report(closing, live, "backend-not-running")
    assert [(f.cause, f.count) for f in kept.findings] == [("backend-not-running", 38),
                                                           ("backend-oom-killed", 3)]
    only_live = closing_report(closing, live, "kernel-only")
    assert [f.cause for f in only_live.findings] == ["kernel-only", "backend-oom-killed",
                                                     "backend-not-running"]


def test_a_cause_changed_since_the_last_post_resolves_the_alert_that_fired() -> None:
    """The alert that fired carries the cause label of its time; the incident closes under
    another (re-diagnosed within the resend interval): both label sets are sent resolved, so
    none is left to time out in Alertmanager."""
    sender = AlertSender("http://127.0.0.1:9", "web1", lambda _d: None)  # never started
    inc = Incident(id="i1", opened="2026-11-23T09:00:00", opened_at=0.0, trigger=["x"],
                   cause="unknown")
    sender.update(inc, "incident-opened")
    inc.cause, inc.resolved = "backend-not-running", "2026-11-23T09:03:00"
    sender.update(inc, "incident-resolved")
    assert sender.firing == {}
    ended = {a["labels"]["cause"]: a["endsAt"] for a in sender.resolved.values()}
    assert set(ended) == {"unknown", "backend-not-running"}
    assert ended["unknown"] == ended["backend-not-running"]  # the moment the incident closed


def test_alertmanager_up_is_absent_without_alertmanager_and_0_after_a_failed_post() -> None:
    m = Metrics()
    assert b"why502_alertmanager_up" not in generate_latest(m.registry)
    m.alertmanager_up(True)
    assert m.registry.get_sample_value("why502_alertmanager_up") == 1
    sender = AlertSender(f"http://127.0.0.1:{free_port()}", "web1", lambda _d: None,
                         posted=m.alertmanager_up)
    sender.start()
    sender.update(Incident(id="i1", opened="2026-11-23T09:00:00", opened_at=0.0, trigger=["x"]),
                  "incident-opened")
    wait_until(lambda: sender.failures, 10, "a failed post")
    sender.stop(flush=0.1)
    assert m.registry.get_sample_value("why502_alertmanager_up") == 0  # the rules page instead


@pytest.mark.real
def test_one_page_per_incident_a_resolved_one_and_the_clients_totals_in_the_report(
        tmp_path: Path) -> None:
    """Prometheus evaluates the shipped rules and sends to the Alertmanager watch also sends to
    (as the README sets it up): the incident pages once, and its resolved notification follows
    the close.  The report saved at the close counts what the client counted (<= 100 requests)."""
    rules = tmp_path / "why502-alerts.yaml"
    rules.write_text(_print_rules())  # as the README says: why502 watch --print-rules
    with Stack() as stack, webhook() as (hook, notes):
        app = stack.add_backend("ok", name="app")
        stack.start_nginx(server(stack, f"location / {{ proxy_pass http://127.0.0.1:{app.port}; }}"))
        am = start_alertmanager(stack, hook, "group_by: [instance]\ngroup_wait: 1s\n"
                                             "group_interval: 2s\nrepeat_interval: 4h")
        port = free_port()
        watch = WatchProcess("--nginx-conf", str(stack.p.nginx_conf), "--format", "jsonl",
                             "--listen", f"127.0.0.1:{port}", "--window", "3", "--min-requests",
                             "3", "--resolve-after", "2", "--alertmanager", am, "--offline",
                             "--reports", str(tmp_path / "reports"), "--duration", "170")
        try:
            metrics = f"http://127.0.0.1:{port}/metrics"
            wait_until(lambda: "why502_alertmanager_up 1.0" in get_text(metrics), 20,
                       "watch started, sending its own alerts")
            prom = start_prometheus(stack, [f"127.0.0.1:{port}"], rules=rules, alertmanager=am)
            wait_until(lambda: "why502_alertmanager_up" in get_text(
                f"{prom}/api/v1/query?query=why502_alertmanager_up"), 30,
                "Prometheus to have scraped watch")

            counted: Counter[int] = Counter()

            def send(n: int) -> None:
                counted.update(r.status for r in stack.requests("/orders", count=n))

            stack.stop_process(app.process)  # the fault
            send(6)
            opened = watch.next_event(timeout=60)
            assert opened["event"] == "incident-opened"
            for _ in range(8):  # 502s while the incident is open: 6 + 8 x 4 = 38
                send(4)
                time.sleep(0.3)
            stack.add_backend("ok", name="app-again", port=app.port)  # the fix
            send(6)
            assert counted == {502: 38, 200: 6}, counted
            resolved = watch.next_event(timeout=90)  # no traffic: closes on its own
            assert resolved["event"] == "incident-resolved"
            # the live page's link to the saved report: the whole incident, as the client saw it
            page = wait_until(lambda: get_text(
                f"http://127.0.0.1:{port}/reports/{resolved['incident']['id']}.html"), 15,
                "the report on the live page")
            assert "44 requests, 38 answered 5xx (502 x 38)" in page
            until_clear = [n for _, n in _wait_for(notes, "resolved", 120)]
            time.sleep(8)  # 4 group_interval, 8 rule evaluations: nothing more comes
            after = _drain(notes)
        finally:
            watch.stop()

    pages = [n for n in until_clear + after if n["status"] == "firing"]
    assert len(pages) == 1, pages  # one page: watch's own, the rules stood down
    assert [a["labels"]["alertname"] for a in pages[0]["alerts"]] == ["Why502Incident"]
    assert not [n for n in after if n["status"] == "firing"]

    saved = json.loads(Path(resolved["incident"]["report"]).read_text())
    facts = saved["inputs"]["incident"]
    assert facts["statuses"] == {"200": 6, "502": 38}, facts  # the client's own counts
    assert (facts["requests"], facts["errors_5xx"]) == (44, 38)
    assert saved["findings"][0]["cause"] == "backend-not-running"
    assert sum(p["counts"].get("502", 0) for p in saved["timeline"]) == 38  # re-diagnosed


def _print_rules() -> str:
    out = why502("watch", "--print-rules")
    assert out.returncode == 0, out.stderr
    return out.stdout


def _wait_for(notes: queue.Queue[Notification], status: str, timeout: float) -> list[Notification]:
    """Every notification up to and including the first with ``status`` (bounded)."""
    got: list[Notification] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got.append(notes.get(timeout=1))
        except queue.Empty:
            continue
        if got[-1][1].get("status") == status:
            return got
    raise AssertionError(f"no {status} notification within {timeout}s; got {got}")


def _drain(notes: queue.Queue[Notification]) -> list[dict[str, Any]]:
    out = []
    while not notes.empty():
        out.append(notes.get()[1])
    return out
