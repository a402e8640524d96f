"""`why502 watch`'s engine on real files: counters, incident rules, rotation, alerts, the CLI."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest

from tests.support.clirun import why502
from tests.support.logwriter import Writer, rotate
from why502.app.watch.alerts import AlertSender, alert_of
from why502.app.watch.engine import Watch, WatchOptions
from why502.app.watch.incidents import Bucket, Incident, Rules, Window, triggers
from why502.app.watch.metrics import MAX_UPSTREAMS, Metrics, upstream_label
from why502.errors import UsageError
from why502.findings.model import Diagnostic
from why502.findings.results import WatchEvent
from why502.lab.runtime import free_port
from why502.reporters.text.watch import one_line as _one_line

# the diagnosis reads the incident's window (--since): the lines carry the time they are written


def one_line(event: dict[str, Any]) -> str:
    """The text reporter's line of one watch event."""
    return _one_line(WatchEvent.from_dict(event))


def access_line(n: int, status: int) -> str:
    return (f'127.0.0.1 - - [{datetime.now().astimezone():%d/%b/%Y:%H:%M:%S %z}] "GET /x?id={n} '
            f'HTTP/1.1" {status} 15 "-" "curl"\n')


def error_line(n: int) -> str:
    return (f"{datetime.now():%Y/%m/%d %H:%M:%S} [error] 7#7: *{n} connect() failed (111: "
            f"Connection refused) while connecting to upstream, client: 10.0.0.{n}, server: lab, "
            f'request: "GET /x?id={n} HTTP/1.1", upstream: "http://127.0.0.1:9/x?id={n}", '
            'host: "lab"\n')


def nginx_conf(tmp: Path) -> Path:
    conf = tmp / "nginx.conf"
    conf.write_text(f"events {{}}\nerror_log {tmp}/error.log;\nhttp {{\n"
                    f"  access_log {tmp}/access.log combined;\n"
                    "  server { listen 127.0.0.1:8080; location / { proxy_pass http://127.0.0.1:9; } }\n}\n")
    return conf


def metric(w: Watch, text: str) -> float:
    for line in generate_latest(w.metrics.registry).decode().splitlines():
        if line.startswith(text + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


@pytest.mark.parametrize("raw,label", [
    ("http://127.0.0.1:9/x?id=1", "http://127.0.0.1:9"),
    ("fastcgi://unix:/run/php/php8.2-fpm.sock:", "fastcgi://unix:/run/php/php8.2-fpm.sock"),
    ("http://[::1]:8080/a/b", "http://[::1]:8080"),
    ("10.0.0.5:80", "10.0.0.5:80"),
    ("unix:/run/app.sock", "unix:/run/app.sock"),
    ("-", ""),
])
def test_upstream_label_is_the_peer_never_the_uri(raw: str, label: str) -> None:
    assert upstream_label(raw) == label


def test_rules_need_a_minimum_of_requests_and_fire_on_no_live_upstreams() -> None:
    rules = Rules(window=60, ratio=0.1, min_requests=10)
    assert triggers(rules, Bucket(0, requests=5, errors=5), True, []) == []
    assert triggers(rules, Bucket(0, requests=100, errors=5), True, []) == []
    assert triggers(rules, Bucket(0, requests=100, errors=10), True, [])
    assert triggers(rules, Bucket(0, failures=5), False, [])
    assert triggers(rules, Bucket(0, failures=5), True, []) == []  # the access log says more
    assert triggers(rules, Bucket(0, no_live=1), True, []) == ["no live upstreams (1x)"]
    assert triggers(rules, Bucket(0), True, ["http://127.0.0.1:9"])
    # nginx relayed a reply with no valid status line as HTTP/0.9: status 009, no 5xx at all
    relayed = Bucket(0, requests=100, statuses=Counter({9: 5, 200: 95}))
    assert triggers(rules, relayed, True, []) == ["5 answers relayed as HTTP/0.9 (status 009: the "
                                                  "backend's reply was not HTTP) in 60s"]
    assert triggers(rules, Bucket(0, requests=100, statuses=Counter({9: 4, 200: 96})), True, []) == []
    w = Window(3)
    w.at(100.0).requests += 4
    w.at(101.5).requests += 1
    assert w.totals(102.0).requests == 5
    assert w.totals(103.2).requests == 1  # the second 100 left the window


def test_watch_opens_diagnoses_and_resolves_an_incident(tmp_path: Path) -> None:
    conf = nginx_conf(tmp_path)
    access, error = tmp_path / "access.log", tmp_path / "error.log"
    access.write_text(access_line(0, 200) * 3)  # before watch: not counted
    error.write_text("")
    events: list[dict[str, object]] = []
    notes: list[Diagnostic] = []
    w = Watch(WatchOptions(default_proxy_config=str(conf), offline=True, reports_dir=str(tmp_path / "r"),
                           rules=Rules(window=5, ratio=0.5, min_requests=4, resolve_after=1)),
              events.append, notes.append)
    assert w.access_paths == [str(access)] and w.error_paths == [str(error)]  # from the config
    w.step()
    with access.open("a") as a, error.open("a") as e:
        for n in range(1, 7):
            a.write(access_line(n, 502))
            e.write(error_line(n))
    w.step()
    assert events == [] and w.pending is not None  # diagnosed in the worker: the tail goes on
    w.wait_diagnosis(60)
    assert [ev["event"] for ev in events] == ["incident-opened"]
    inc = events[0]["incident"]
    assert isinstance(inc, dict) and inc["cause"] == "backend-not-running"
    assert metric(w, 'why502_requests_total{server="",status="502"}') == 6
    assert metric(w, 'why502_requests_total{server="",status="200"}') == 0
    assert metric(w, 'why502_upstream_failures_total{symptom="connection-refused",'
                     'upstream="http://127.0.0.1:9"}') == 6
    assert metric(w, 'why502_incidents_open{cause="backend-not-running"}') == 1
    # the open incident's identity for fleet: its upstream and since when (Unix time)
    started = 'why502_incident_started_timestamp_seconds{cause="backend-not-running",'
    series = [line for line in generate_latest(w.metrics.registry).decode().splitlines()
              if line.startswith(started)]
    assert len(series) == 1 and 'target="127.0.0.1:9"' in series[0], series
    assert abs(float(series[0].rsplit(" ", 1)[1]) - time.time()) < 600
    later = time.monotonic() + 7  # the window has moved past the failures, quiet since
    w.decide(later)
    assert [ev["event"] for ev in events] == ["incident-opened"]  # re-diagnosed first
    w.wait_diagnosis(60)
    assert [ev["event"] for ev in events] == ["incident-opened", "incident-resolved"]
    resolved = events[1]["incident"]
    assert isinstance(resolved, dict) and Path(str(resolved["report"])).is_file()
    assert "incident-resolved" in one_line(events[1]) and "backend-not-running" in one_line(events[1])
    assert metric(w, 'why502_incidents_open{cause="backend-not-running"}') == 0
    # resolved: its series is gone (a watch exports at most one, whatever it saw)
    assert "why502_incident_started_timestamp_seconds{" not in \
        generate_latest(w.metrics.registry).decode()
    assert notes == []


def test_watch_counts_every_line_across_rotations(tmp_path: Path) -> None:
    access = tmp_path / "access.log"
    (tmp_path / "error.log").write_text("")
    writer = Writer(access, line=lambda n: access_line(n, 200 if n % 10 else 502))
    w = Watch(WatchOptions(access_logs=[str(access)], error_logs=[str(tmp_path / "error.log")],
                           from_start=True, offline=True, rules=Rules(ratio=0.5)),
              lambda _e: None, lambda _d: None)
    for f in w.followed:
        f.follower.retire_after = 0.3
    writer.start()
    for n, how in enumerate(["rename-create", "copytruncate", "delete-recreate", "nginx-reopen"] * 2):
        for _ in range(10):
            w.step()
            time.sleep(0.01)
        rotate(how, access, writer, n)
    writer.stop_flag.set()
    writer.join(5)
    end = time.monotonic() + 5
    total = lambda: (metric(w, 'why502_requests_total{server="",status="200"}')  # noqa: E731
                     + metric(w, 'why502_requests_total{server="",status="502"}'))
    while (total() < writer.count or any(f.follower.retired for f in w.followed)) \
            and time.monotonic() < end:
        w.step()
        time.sleep(0.02)
    assert total() == writer.count > 500
    assert metric(w, 'why502_requests_total{server="",status="502"}') == writer.count // 10


def test_alertmanager_down_never_blocks_and_is_retried(tmp_path: Path) -> None:
    notes: list[Diagnostic] = []
    sender = AlertSender(f"http://127.0.0.1:{free_port()}", "web1", notes.append, resend=30)
    sender.start()
    inc = Incident(id="i1", opened="2026-11-23T09:00:00", opened_at=0.0, trigger=["x"],
                   cause="backend-not-running", fix="start it")
    started = time.monotonic()
    sender.update(inc, "incident-opened")
    assert time.monotonic() - started < 1  # handed over, not sent inline
    deadline = time.monotonic() + 10
    while sender.failures < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert sender.failures >= 2  # retried (backoff 1 s, then 2 s)
    assert len(notes) == 1 and "retrying" in notes[0].message  # said once, not per retry
    sender.stop(flush=0.1)
    alert = alert_of(inc, "web1")
    assert alert["labels"] == {"alertname": "Why502Incident", "cause": "backend-not-running",
                               "upstream": "", "severity": "critical", "instance": "web1",
                               "incident": "i1"}
    assert "endsAt" not in alert and alert["annotations"]["fix"] == "start it"


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    bad = why502("watch", "--listen", "nowhere", "--error-log", str(tmp_path / "e.log"))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "--listen" in bad.stderr
    missing = why502("watch", "--error-log", str(tmp_path / "nope.log"), "--access-log",
                     str(tmp_path / "nope2.log"), "--listen", "off", "--duration", "0.5")
    assert missing.returncode == 0, missing.stderr
    assert "nope.log: No such file or directory (still watching for it)" in missing.stderr
    fleet = why502("fleet", "--prometheus", f"http://127.0.0.1:{free_port()}")
    assert fleet.returncode == 3 and fleet.stderr.startswith("why502: Prometheus")
    assert threading.active_count() >= 1


def test_a_target_found_down_opens_an_incident_with_no_traffic(tmp_path: Path) -> None:
    """--probe-interval: the health checker probes the config's target (nothing listens on the
    port), the incident opens without a single request, and the live diagnosis names it."""
    port = free_port()
    conf = nginx_conf(tmp_path)
    conf.write_text(conf.read_text().replace("127.0.0.1:9;", f"127.0.0.1:{port};"))
    (tmp_path / "access.log").write_text("")
    (tmp_path / "error.log").write_text("")
    out = why502("watch", "--nginx-conf", str(conf), "--probe-interval", "0.5", "--format", "jsonl",
                 "--listen", "off", "--max-events", "1", "--duration", "30")
    assert out.returncode == 0, out.stderr
    event = json.loads(out.stdout.splitlines()[0])
    assert event["event"] == "incident-opened"
    assert event["incident"]["trigger"] == [f"target 127.0.0.1:{port} is down (health check)"]
    assert event["incident"]["cause"] == "backend-not-running"
    assert f"health check: 127.0.0.1:{port} is down" in out.stderr


def test_live_view_and_sighup_reload(tmp_path: Path) -> None:
    from io import StringIO

    from rich.console import Console

    from why502.app.watch.view import render

    conf = nginx_conf(tmp_path)
    (tmp_path / "access.log").write_text("")
    (tmp_path / "error.log").write_text("")
    notes: list[Diagnostic] = []
    w = Watch(WatchOptions(default_proxy_config=str(conf), offline=True), lambda _e: None, notes.append)
    w.step()
    with (tmp_path / "error.log").open("a") as e:
        e.write(error_line(1).replace("server: lab", "server: \x1b[31mred"))
    w.step()
    buf = StringIO()
    Console(file=buf, width=120, color_system=None).print(render(w))
    text = buf.getvalue()
    assert "connection-refused" in text and "http://127.0.0.1:9" in text
    assert "no open incident" in text and "\x1b" not in text
    w.request_reload()  # what SIGHUP does
    w.step()
    assert [n.message for n in notes] == ["SIGHUP: nginx config re-read"]
    # a log added to the config and an edited rules file are taken on the next SIGHUP
    conf.write_text(conf.read_text().replace(
        "  server {", f"  server {{ listen 127.0.0.1:8081; access_log {tmp_path}/shop.log combined; }}\n"
        "  server {"))
    w.reload_rules = lambda: Rules(window=5, ratio=0.5, min_requests=2)
    w.request_reload()
    w.step()
    said = [n.message for n in notes]
    assert f"SIGHUP: rules and nginx config (now following {tmp_path}/shop.log) re-read" in said
    assert w.options.rules.ratio == 0.5 and w.window.seconds == 5
    with (tmp_path / "shop.log").open("a") as fh:
        fh.write(access_line(1, 502) + access_line(2, 502))
    w.step()
    assert metric(w, 'why502_requests_total{server="",status="502"}') == 2
    assert w.incident is not None  # the new rules: 2 requests are enough

    def broken() -> Rules:
        raise UsageError("rules.toml: not valid TOML")

    w.reload_rules = broken  # an edit that does not parse: the rules in force stay
    w.request_reload()
    w.step()
    assert "SIGHUP: rules not re-read: rules.toml: not valid TOML" in [n.message for n in notes]
    assert w.options.rules.ratio == 0.5


def test_rules_file_and_flags(tmp_path: Path) -> None:
    from why502.cli.cmd_watch import read_rules

    rules = tmp_path / "rules.toml"
    rules.write_text("[watch]\nwindow = 30\nratio = 0.2\n")
    assert read_rules(str(rules)) == {"window": 30.0, "ratio": 0.2}
    rules.write_text("window = 30\nthreshold = 1\n")
    bad = why502("watch", "--rules", str(rules), "--error-log", str(tmp_path / "e.log"))
    assert bad.returncode == 2 and "unknown rule key(s) threshold" in bad.stderr
    assert bad.stderr.count("\n") == 1


def test_server_label_is_a_config_server_name_or_other() -> None:
    from why502.app.watch.traffic import Traffic, make_parser
    from why502.parsers.log_format import compile_format

    fmt = compile_format('$remote_addr [$time_local] "$request" $status "$host" ua="$upstream_addr" '
                         'urt="$upstream_response_time"')
    t = Traffic()
    t.servers = frozenset({"shop.example"})
    lines = ['1.2.3.4 [23/Nov/2026:09:00:00 +0000] "GET / HTTP/1.1" 502 "Shop.example:443" '
             'ua="10.0.0.1:80, 10.0.0.2:80" urt="0.100, 0.300"',
             '1.2.3.4 [23/Nov/2026:09:00:00 +0000] "GET / HTTP/1.1" 200 "evil-$(random)" '
             'ua="-" urt="-"',
             "garbage"]
    statuses, unparsed = t.add("".join(f"{ln}\n" for ln in lines).encode(), make_parser(fmt),
                               lambda raw: raw)
    assert statuses == {502: 1, 200: 1} and unparsed == 1
    assert t.requests == {("shop.example", "502"): 1, ("other", "200"): 1}
    assert t.responses == {("10.0.0.2:80", "502"): 1}  # the last attempt: what the client got
    assert t.counts == {"10.0.0.2:80": 1} and t.sums == {"10.0.0.2:80": 0.3}


def test_the_open_incident_is_one_series_whatever_its_labels_were() -> None:
    """The cause or upstream of an open incident changes (a new diagnosis), incidents come and
    go: the exported identity is the current one only, and its values stay bounded."""
    m = Metrics()

    def series() -> list[str]:
        return [line for line in generate_latest(m.registry).decode().splitlines()
                if line.startswith("why502_incident_started_timestamp_seconds{")]

    m.open_incident("unknown", None, None, 1000.0)
    m.open_incident("backend-not-running", "api", "http://10.0.0.5:8080/orders?id=1", 1000.0)
    assert series() == ['why502_incident_started_timestamp_seconds{cause="backend-not-running",'
                        'target="http://10.0.0.5:8080",upstream="api"} 1000.0']
    m.close_incident()
    assert series() == []
    for n in range(MAX_UPSTREAMS * 2):  # a hostile config: as many upstreams as it likes
        m.open_incident("backend-not-running", f"up{n}", f"10.0.{n // 256}.{n % 256}:80", 1.0)
    [last] = series()
    assert 'target="other"' in last and 'upstream="other"' in last
