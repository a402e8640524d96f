"""Issue 31 on the analyzers' side, on built evidence (pure): a backend that moved one port up is
said from the socket table, current findings rank above recovered ones, and the printed commands
name the running master's own config, prefix and unit."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from tests.diagnose.test_diagnose_analyzers import T0, ev, group, refused_probe, target
from why502.analyzers.base import reload_commands
from why502.analyzers.rank import order, run_all
from why502.app.classify import classify_files
from why502.evidence.aggregate import LogAggregator
from why502.facts.net import Listener
from why502.findings.model import Finding, Report


def _moved(started_after_first_failure: float) -> list[Finding]:
    started = (T0 + timedelta(seconds=started_after_first_failure)).isoformat(timespec="seconds")
    e = ev(symptoms=(group("connection-refused"),),
           listeners=(Listener("tcp", "127.0.0.1", 8081, pid=77, process="python3", started=started),),
           probes={"127.0.0.1:8080": refused_probe("127.0.0.1", 8080, error="connection refused")})
    return run_all(e)[0]


def test_a_listener_that_appeared_one_port_up_is_the_backend_that_moved() -> None:
    top = _moved(-1)[0]  # started a second before the first 502 (the host)
    assert top.cause == "wrong-target"
    assert "python3 pid 77 listens near the old port, on 127.0.0.1:8081" in top.explanation
    assert "1 s before the first failure" in top.explanation
    assert "nothing similar listens elsewhere" not in top.explanation
    assert any("near the old port" in e.summary for e in top.evidence[:3])  # on the first screen
    assert top.fix is not None and "127.0.0.1:8081" in top.fix.summary


def test_a_listener_that_was_there_long_before_is_another_service() -> None:
    top = _moved(-3600)[0]
    assert top.cause == "backend-not-running"
    assert "near the old port" not in top.explanation


def test_a_listener_far_from_the_port_or_without_a_start_time_is_not_claimed() -> None:
    far = ev(symptoms=(group("connection-refused"),),
             listeners=(Listener("tcp", "127.0.0.1", 8083, pid=77, process="python3",
                                 started=T0.isoformat()),
                        Listener("tcp", "127.0.0.1", 8081, pid=78, process="python3")))
    assert run_all(far)[0][0].cause == "backend-not-running"


def test_near_an_ephemeral_port_nearness_proves_nothing() -> None:
    """A port in net.ipv4.ip_local_port_range is the kernel's pick: the listener one up is another
    program's random port (a suite run named another test's backend as the one that moved)."""
    started = T0.isoformat(timespec="seconds")
    for sysctls, port in (({}, 40000), ({"net.ipv4.ip_local_port_range": "20000\t30000"}, 25000)):
        peer = f"127.0.0.1:{port}"
        e = ev(targets=(target(peer),), symptoms=(group("connection-refused", peer=peer),),
               listeners=(Listener("tcp", "127.0.0.1", port + 1, pid=77, process="python3",
                                   started=started),),
               sysctls=sysctls)
        top = run_all(e)[0][0]
        assert top.cause == "backend-not-running" and "near the old port" not in top.explanation, sysctls
    # outside the range (the default's 8080, or a range that leaves 40000 out) it is said
    peer = "127.0.0.1:40000"
    e = ev(targets=(target(peer),), symptoms=(group("connection-refused", peer=peer),),
           listeners=(Listener("tcp", "127.0.0.1", 40001, pid=77, process="python3", started=started),),
           sysctls={"net.ipv4.ip_local_port_range": "50000 60999"})
    assert "near the old port" in run_all(e)[0][0].explanation


def test_current_findings_rank_above_recovered_ones_whatever_their_counts() -> None:
    past = Finding(cause="backend-not-running", title="past", confidence=0.97, status_codes=[502],
                   symptoms=[], explanation="", count=500, recovered=True)
    live = replace(past, title="live", confidence=0.6, count=5, recovered=False)
    ranked = sorted([past, live], key=lambda f: order(f, 500))
    assert [f.title for f in ranked] == ["live", "past"]
    assert Report(findings=[past]).failing_now is False
    assert Report(findings=[past, live]).failing_now is True


def test_a_recovered_backend_gets_no_start_command() -> None:
    e = ev(symptoms=(group("connection-refused"),),
           listeners=(Listener("tcp", "127.0.0.1", 8080, pid=9, process="python3"),))
    findings = run_all(e)[0]
    top = findings[0]
    assert top.recovered and top.title.startswith("Past incident, recovered")
    assert top.fix is not None and not any("start" in c for c in top.fix.commands)
    assert "start the backend" not in top.fix.summary


def test_commands_name_the_running_masters_config_prefix_and_unit() -> None:
    conf = "/srv/app/conf/nginx.conf"
    assert reload_commands(ev(main_file=conf)) == [f"nginx -t -c {conf}", f"nginx -s reload -c {conf}"]
    assert reload_commands(ev(main_file=conf, prefix="/srv/app")) == [
        f"nginx -t -p /srv/app -c {conf}", f"nginx -s reload -p /srv/app -c {conf}"]
    assert reload_commands(ev(main_file=conf, prefix="/srv/app", unit="nginx-app.service")) == [
        f"nginx -t -p /srv/app -c {conf}", "systemctl reload nginx-app.service"]
    hap = ev(proxy="haproxy", main_file="/etc/haproxy/haproxy.cfg", unit="lb.service")
    assert reload_commands(hap)[-1] == "systemctl reload lb.service"


def test_targets_used_by_the_config_are_never_the_moved_backend() -> None:
    started = T0.isoformat(timespec="seconds")
    e = ev(targets=(target(), target("127.0.0.1:8081")), symptoms=(group("connection-refused"),),
           listeners=(Listener("tcp", "127.0.0.1", 8081, pid=77, process="python3", started=started),))
    assert "near the old port" not in run_all(e)[0][0].explanation


HAPROXY_LOG = (
    "<128>Nov 23 23:10:08 localhost haproxy[11300]: backend app has no server available!\n"
    + "".join(f"<134>Nov 23 23:10:09 localhost haproxy[11300]: 127.0.0.1:4058{i} "
              f"[23/Nov/2026:23:10:09.20{i}] fe app/<NOSRV> 0/-1/-1/-1/0 503 217 - - SC-- "
              '1/1/0/0/0 0/0 "GET / HTTP/1.1"\n' for i in range(5)))


def test_haproxy_no_server_available_is_not_one_more_503(tmp_path: Path) -> None:
    """HAProxy logs the alert once when the last server goes down, and each 503 on its own line:
    5 requests were counted 6 (the issue saw 7 503s for 5 requests)."""
    log = tmp_path / "haproxy.log"
    log.write_text(HAPROXY_LOG)
    agg = LogAggregator()
    for df in classify_files([str(log)], with_text=True):
        agg.add(df)
    assert sum(g.count for g in agg.groups() if g.symptom == "no-live-upstreams") == 5
    alone = tmp_path / "alert.log"  # only the alert (HAProxy's stderr): it is all there is, counted
    alone.write_text(HAPROXY_LOG.splitlines()[0] + "\n")
    agg = LogAggregator()
    for df in classify_files([str(alone)], with_text=True):
        agg.add(df)
    assert [(g.count, dict(g.statuses)) for g in agg.groups()] == [(1, {503: 1})]
