"""Analyzers, correlation and ranking/folding on typed evidence.

Log lines here are real nginx lines from the recorded fixtures (tests/fixtures/recorded/) or, for
messages one loopback host cannot produce (kernel OOM kill, EADDRNOTAVAIL, EHOSTUNREACH), the
exact format strings of docs/reference/proxy-messages.md (sections 1.4, 1.5, 8).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.support.evidence import evidence
from why502.analyzers.rank import fold, run_all
from why502.analyzers.registry import REGISTRY, causes
from why502.catalog import load_catalog
from why502.evidence.aggregate import peer_of
from why502.evidence.events import event_from_text
from why502.evidence.model import (
    Evidence,
    GroupFact,
    Sample,
    SocketStat,
    SymptomGroup,
    TargetFact,
    UpstreamTiming,
    serves,
)
from why502.facts.fpm import FpmPool
from why502.facts.net import Listener
from why502.facts.probes import ConnectAttempt, ProbeResult, ProbeTarget
from why502.facts.setting import Setting
from why502.findings.patch import insert_after
from why502.proxies.nginx.config.edit import set_directive

T0 = datetime(2026, 5, 1, 8, 15, 31)
CONF = "/etc/nginx/sites-enabled/app.conf"
CONF_LINES = (
    "upstream app {",
    "    server 127.0.0.1:8080;",
    "    keepalive 16;",
    "}",
    "server {",
    "    listen 80;",
    "    location / {",
    "        proxy_pass http://app;",
    "    }",
    "}",
)


def target(key: str = "127.0.0.1:8080", **kw: object) -> TargetFact:
    host, _, port = key.rpartition(":")
    unix = key.startswith("unix:")
    base: dict[str, object] = dict(key=key, host=None if unix else host.strip("[]"),
                                   port=None if unix else int(port), file=CONF, line=8,
                                   pass_file=CONF, pass_line=8, server="example.com", location="/")
    base.update(kw)
    return TargetFact(**base)  # type: ignore[arg-type]


def refused_probe(host: str, port: int, error: str | None = None) -> ProbeResult:
    """A probe whose connect() was refused (what ``sources.probes.probe`` returns then)."""
    return ProbeResult(ProbeTarget(host=host, port=port),
                       connect=[ConnectAttempt(f"{host}:{port}", False, symptom="connection-refused")],
                       error=error)


def group(symptom: str, peer: str | None = "127.0.0.1:8080", count: int = 5, start: datetime = T0,
          text: str = "", status: int = 502) -> SymptomGroup:
    times = tuple(start + timedelta(seconds=i) for i in range(count))
    return SymptomGroup(symptom=symptom, peer=peer, count=count, first=times[0], last=times[-1],
                        statuses={status: count}, times=times,
                        samples=(Sample(text or f"{symptom} line", "/var/log/nginx/error.log", 10,
                                        times[0]),))


OOM_LINE = ("2026-05-01T08:15:31.201514+00:00 host kernel: Out of memory: Killed process 412 "
            "(python3) total-vm:1716580kB, anon-rss:1461342kB, file-rss:0kB, shmem-rss:0kB, UID:33 "
            "pgtables:3371kB oom_score_adj:0")


def oom(at: datetime = T0, pid: int = 412, process: str = "python3") -> object:
    return event_from_text("oom-kill", OOM_LINE.replace("412", str(pid)).replace("python3", process),
                           source="kernel", time=at)


def ev(**kw: object) -> Evidence:
    base: dict[str, object] = dict(targets=(target(),), files={CONF: CONF_LINES})
    base.update(kw)
    return evidence(**base)


def top(e: Evidence) -> str | None:
    findings, diags = run_all(e)
    assert not diags, diags
    return findings[0].cause if findings else None


# -- registry ---------------------------------------------------------------------------------


def test_registry_covers_every_root_cause_of_the_catalog() -> None:
    ids = {e.id for e in load_catalog().of_kind("cause")}
    assert len(ids) >= 22
    produced = set(causes())
    assert ids <= produced, ids - produced
    assert produced <= ids, f"analyzers produce causes the catalog lacks: {produced - ids}"
    assert "proxy-rate-limited" in produced
    proxy_side = [c for family, (_, made) in REGISTRY.items() if family != "edge" for c in made]
    assert len(set(proxy_side)) == len(proxy_side), "a cause produced by two families"
    assert all(callable(fn) for fn, _ in REGISTRY.values())


def test_edge_family_lists_every_cause_the_edge_vocabulary_points_to() -> None:
    """The edge family (``analyzers.cloud_lb``) names what ``proxy_terms.toml`` points to."""
    from why502.analyzers.registry import EDGE_CAUSES
    from why502.catalog.terms import load_terms

    pointed = {t.cause for t in load_terms() if t.cause}
    assert pointed | {"upstream-returned-5xx", "unexplained-5xx"} == set(EDGE_CAUSES)
    assert REGISTRY["edge"][1] == EDGE_CAUSES


def test_analyzers_are_pure_modules() -> None:
    """Analyzers never read files or print: no open()/print()/subprocess in their source."""
    import why502.analyzers as pkg

    for path in Path(pkg.__file__).parent.glob("*.py"):
        src = path.read_text()
        assert not re.search(r"\bopen\(|\bprint\(|subprocess|read_text\(|socket\.", src), path.name


# -- healthy ----------------------------------------------------------------------------------


def test_no_symptoms_is_healthy() -> None:
    assert run_all(ev())[0] == []
    assert run_all(Evidence())[0] == []


# -- correlation in time and identity ------------------------------------------------------------


def test_oom_kill_of_the_listening_process_explains_premature_closes_and_refusals(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # the analyzers' raw score, as ranked: the calibrated map is flat at its top (every raw
    # score from ~0.87 reads 0.99), so the reported number cannot say "not the top score"
    monkeypatch.setattr("why502.analyzers.rank.calibrate", lambda raw: raw)
    e = ev(symptoms=(group("premature-close", count=3), group("connection-refused",
                                                             start=T0 + timedelta(seconds=2))),
           events=(oom(),),
           listeners=(Listener("tcp", "127.0.0.1", 8080, pid=977, process="python3"),))
    findings, _ = run_all(e)
    assert [f.cause for f in findings] == ["backend-oom-killed"], findings
    f = findings[0]
    # the name matches and the failures start in the same second; no PID, pool or unit proves
    # that pid 412 was this backend (analyzers.identity), so not the top confidence
    assert 0.8 <= f.confidence < 0.95  # raw
    assert set(f.symptoms) == {"premature-close", "connection-refused"}
    assert f.count == 8
    assert "pid 412" in f.explanation and "08:15:31" in f.explanation
    assert any(i.kind == "kernel" and "Killed process 412" in (i.text or "") for i in f.evidence)


def test_oom_kill_long_before_the_errors_does_not_explain_them() -> None:
    e = ev(symptoms=(group("premature-close", count=3),),
           events=(oom(at=T0 - timedelta(hours=3)),),
           listeners=(Listener("tcp", "127.0.0.1", 8080, pid=977, process="python3"),))
    assert top(e) == "backend-crashed"


def test_oom_of_an_unrelated_process_ranks_below_an_identified_one() -> None:
    e = ev(symptoms=(group("premature-close", count=3),),
           events=(oom(pid=500, process="mysqld"), oom(pid=412)),
           listeners=(Listener("tcp", "127.0.0.1", 8080, pid=977, process="python3"),))
    findings, _ = run_all(e)
    assert findings[0].cause == "backend-oom-killed"
    assert "python3" in findings[0].explanation and "mysqld" not in findings[0].explanation


def test_fpm_child_crash_is_backend_crashed_with_the_fpm_line() -> None:
    line = ("[01-May-2026 08:15:31] WARNING: [pool www] child 4242 exited on signal 11 (SIGSEGV) "
            "after 12.5 seconds from start")
    e = ev(targets=(target("unix:/run/php/php8.2-fpm.sock", host=None, port=None, kind="fastcgi",
                           unix_path="/run/php/php8.2-fpm.sock"),),
           symptoms=(group("premature-close", peer="unix:/run/php/php8.2-fpm.sock"),),
           events=(event_from_text("worker-crashed", line, source="php-fpm", time=T0),))
    findings, _ = run_all(e)
    assert findings[0].cause == "backend-crashed" and findings[0].confidence >= 0.8
    assert any("child 4242" in (i.text or "") for i in findings[0].evidence)


# -- wrong target / not running -------------------------------------------------------------------


def test_wrong_target_ipv6_listener() -> None:
    e = ev(targets=(target(),), symptoms=(group("connection-refused"),),
           listeners=(Listener("tcp6", "::1", 8080, pid=412, process="python3"),))
    findings, _ = run_all(e)
    assert findings[0].cause == "wrong-target"
    assert "python3 pid 412" in findings[0].explanation and "[::1]:8080" in findings[0].explanation


def test_dual_stack_listener_serves_ipv4() -> None:
    assert serves(Listener("tcp6", "::", 8080), "127.0.0.1")
    assert not serves(Listener("tcp6", "::1", 8080), "127.0.0.1")
    assert serves(Listener("tcp", "0.0.0.0", 8080), "127.0.0.1")
    assert not serves(Listener("tcp", "0.0.0.0", 8080), "::1")


def test_not_running_when_nothing_listens_anywhere() -> None:
    e = ev(symptoms=(group("connection-refused"),), listeners=(),
           probes={"127.0.0.1:8080": refused_probe("127.0.0.1", 8080, error="connection refused")})
    findings, _ = run_all(e)
    assert findings[0].cause == "backend-not-running" and findings[0].confidence >= 0.85


# -- folding --------------------------------------------------------------------------------------


def test_refusals_of_every_server_fold_all_upstreams_down_under_not_running() -> None:
    g = GroupFact("app", ("127.0.0.1:8081", "127.0.0.1:8082"), file=CONF, line=1)
    e = ev(targets=(target("127.0.0.1:8081", group="app"), target("127.0.0.1:8082", group="app")),
           groups={"app": g}, listeners=(),
           symptoms=(group("connection-refused", peer="127.0.0.1:8081"),
                     group("connection-refused", peer="127.0.0.1:8082"),
                     group("no-live-upstreams", peer="app")))
    findings, _ = run_all(e)
    # nothing listens on either server: that is the cause; nginx marking them failed and answering
    # "no live upstreams" is its consequence, said under it (tests/diagnose/test_diagnose_true_cause.py)
    assert [f.cause for f in findings] == ["backend-not-running"]
    assert findings[0].count == 10 and "127.0.0.1:8082" in (findings[0].target or "")
    assert any(i.summary.startswith("consequence:") for i in findings[0].evidence)


def test_fold_drops_a_fallback_whose_symptoms_are_explained() -> None:
    e = ev(symptoms=(group("premature-close"),), events=(oom(),),
           listeners=(Listener("tcp", "127.0.0.1", 8080, pid=412, process="python3"),))
    findings, _ = run_all(e)
    assert "backend-crashed" not in [f.cause for f in findings]
    assert fold([]) == []


def test_findings_are_ordered_by_confidence() -> None:
    e = ev(targets=(target(), target("127.0.0.1:9090", group=None)),
           symptoms=(group("premature-close"), group("header-too-big", peer="127.0.0.1:9090")))
    findings, _ = run_all(e)
    confs = [f.confidence for f in findings]
    assert confs == sorted(confs, reverse=True)
    assert findings[0].cause == "buffer-too-small"


# -- config-based fixes ---------------------------------------------------------------------------


def test_keepalive_race_on_a_working_keepalive_upstream() -> None:
    settings = {"proxy_http_version": Setting("1.1", CONF, 9),
                "proxy_set_header:Connection": Setting('""', CONF, 10)}
    e = ev(targets=(target(group="app", settings=settings),),
           groups={"app": GroupFact("app", ("127.0.0.1:8080",), keepalive=16, file=CONF, line=1)},
           symptoms=(group("connection-reset", count=3),),
           access={"app": UpstreamTiming("app", requests=10000)})
    findings, _ = run_all(e)
    assert findings[0].cause == "keepalive-race"
    assert findings[0].fix is not None and "keepalive_timeout" in (findings[0].fix.diff or "")


def test_segfault_of_another_program_does_not_make_a_keepalive_race_a_crash() -> None:
    """Seen live: dmesg held an apache2 segfault from minutes before, and the Python backend of a
    keepalive-race scenario was reported as backend-crashed because of it."""
    settings = {"proxy_http_version": Setting("1.1", CONF, 9),
                "proxy_set_header:Connection": Setting('""', CONF, 10)}
    segv = ("apache2[28381]: segfault at 7f57401280b8 ip 00007f5743646180 sp 00007ffd98253fb8 "
            "error 4 likely on CPU 1 (core 1, socket 0)")
    e = ev(targets=(target(group="app", settings=settings),),
           groups={"app": GroupFact("app", ("127.0.0.1:8080",), keepalive=16, file=CONF, line=1)},
           symptoms=(group("connection-reset", count=3),),
           events=(event_from_text("worker-crashed", segv, source="kernel", time=T0),),
           listeners=(Listener("tcp", "127.0.0.1", 8080, pid=977, process="python3"),),
           access={"app": UpstreamTiming("app", requests=10000)})
    findings, _ = run_all(e)
    assert findings[0].cause == "keepalive-race"
    assert not any("apache2" in (i.text or "") + i.summary for f in findings for i in f.evidence
                   if f.cause == "backend-crashed")


def test_keepalive_misconfigured_diff() -> None:
    e = ev(targets=(target(group="app"),),
           groups={"app": GroupFact("app", ("127.0.0.1:8080",), keepalive=16, file=CONF, line=1)})
    findings, _ = run_all(e)
    assert findings[0].cause == "keepalive-misconfigured"
    diff = findings[0].fix.diff if findings[0].fix else ""
    assert diff and "+        proxy_http_version 1.1;" in diff
    assert '+        proxy_set_header Connection "";' in diff
    assert diff.startswith(f"--- a{CONF}\n+++ b{CONF}\n")


def test_socket_permissions_diff_sets_the_pool_owner() -> None:
    pool_conf = "/etc/php/8.2/fpm/pool.d/www.conf"
    lines = ("[www]", "user = www-data", "listen = /run/php/php8.2-fpm.sock",
             "listen.owner = root", "pm = dynamic")
    e = ev(targets=(target("unix:/run/php/php8.2-fpm.sock", host=None, port=None, kind="fastcgi",
                           unix_path="/run/php/php8.2-fpm.sock"),),
           symptoms=(group("permission-denied", peer="unix:/run/php/php8.2-fpm.sock"),),
           fpm_pools=(FpmPool("www", pool_conf, 1, listen="/run/php/php8.2-fpm.sock",
                               settings={"listen": Setting("/run/php/php8.2-fpm.sock", pool_conf, 3)}),),
           sockets={"/run/php/php8.2-fpm.sock": SocketStat("/run/php/php8.2-fpm.sock", True, True,
                                                            "root", "root", 0, 0, 0o660)},
           user="www-data", files={CONF: CONF_LINES, pool_conf: lines})
    findings, _ = run_all(e)
    f = findings[0]
    assert f.cause == "socket-permissions"
    assert f.fix is not None and f.fix.diff
    assert "-listen.owner = root" in f.fix.diff and "+listen.owner = www-data" in f.fix.diff
    assert "+listen.mode = 0660" in f.fix.diff


def test_permission_denied_on_tcp_is_selinux() -> None:
    e = ev(symptoms=(group("permission-denied"),), selinux_mode="enforcing")
    findings, _ = run_all(e)
    assert findings[0].cause == "selinux-denial"
    assert any("httpd_can_network_connect" in c for c in findings[0].fix.commands)  # type: ignore[union-attr]


def test_backend_too_slow_with_timings_at_the_timeout() -> None:
    settings = {"proxy_read_timeout": Setting("5s", CONF, 9)}
    files = {CONF: (*CONF_LINES[:8], "        proxy_read_timeout 5s;", *CONF_LINES[8:])}
    e = ev(targets=(target(settings=settings),), files=files,
           symptoms=(group("read-timeout", status=504),),
           access={"127.0.0.1:8080": UpstreamTiming("127.0.0.1:8080", requests=100, at_timeout=40,
                                                   timeout_s=5.0, p95_ms=5000)})
    f = run_all(e)[0][0]
    assert f.cause == "backend-too-slow" and f.confidence >= 0.9
    assert f.fix is not None and "-        proxy_read_timeout 5s;" in (f.fix.diff or "")
    assert "+        proxy_read_timeout 30s;" in (f.fix.diff or "")


def test_rare_causes_from_their_messages() -> None:
    """Messages one loopback host cannot produce, in nginx's exact format (proxy-messages.md 1.5)."""
    cases = {
        "port-exhaustion": "connect() to 10.0.0.7:8080 failed (99: Cannot assign requested address) "
                           "while connecting to upstream",
        "network-unreachable": "connect() failed (113: No route to host) while connecting to upstream",
        "fd-limit": "socket() failed (24: Too many open files) while connecting to upstream",
    }
    symptom = {"port-exhaustion": "port-exhaustion", "network-unreachable": "unreachable",
               "fd-limit": "fd-exhaustion"}
    for cause, msg in cases.items():
        e = ev(targets=(target("10.0.0.7:8080"),),
               symptoms=(group(symptom[cause], peer="10.0.0.7:8080", text=msg),))
        assert top(e) == cause, cause


def test_proxy_pass_to_nginx_itself_is_misrouted() -> None:
    e = ev(targets=(target("127.0.0.1:80"),), listens=("0.0.0.0:80",))
    findings, _ = run_all(e)
    assert findings[0].cause == "proxy-misrouted"


def test_rate_limited_is_nginx_own_503() -> None:
    msg = 'limiting requests, excess: 1.000 by zone "api_limit"'
    e = ev(symptoms=(group("rate-limited", peer=None, text=msg, status=503),),
           limit_settings=(Setting("limit_req zone=api_limit burst=1", CONF, 7),))
    f = run_all(e)[0][0]
    assert f.cause == "proxy-rate-limited" and f.status_codes == [503]


def test_backend_made_5xx_without_error_lines() -> None:
    e = ev(access={"127.0.0.1:8080": UpstreamTiming("127.0.0.1:8080", requests=50,
                                                   backend_5xx={502: 7})})
    f = run_all(e)[0][0]
    assert f.cause == "upstream-returned-5xx" and f.count == 7


# -- helpers ----------------------------------------------------------------------------------------


def test_peer_of_nginx_upstream_fields() -> None:
    assert peer_of("http://127.0.0.1:8080/api/x") == ("127.0.0.1:8080", "http")
    assert peer_of("fastcgi://unix:/run/php/php8.2-fpm.sock:") == ("unix:/run/php/php8.2-fpm.sock",
                                                                   "fastcgi")
    assert peer_of("http://[::1]:8080/") == ("[::1]:8080", "http")
    assert peer_of("http://backend/path") == ("backend", "http")
    assert peer_of(None, "no resolver defined to resolve api.internal.example")[0] == \
        "api.internal.example"


def test_event_from_text_pulls_identity() -> None:
    e = event_from_text("oom-kill", OOM_LINE)
    assert (e.pid, e.process) == (412, "python3")
    u = event_from_text("unit-restart", "systemd[1]: app.service: Scheduled restart job, restart "
                        "counter is at 5.")
    assert u.unit == "app.service" and "5" in (u.detail or "")


def test_patch_helpers_make_applicable_diffs() -> None:
    files = {CONF: CONF_LINES}
    d = insert_after(files, CONF, 8, ["proxy_buffer_size 16k;"])
    assert d and "+        proxy_buffer_size 16k;" in d and "@@ -6," in d
    d2 = set_directive(files, "keepalive", "32", setting_file=CONF, setting_line=3, is_default=False,
                       anchor_file=None, anchor_line=None)
    assert d2 and "-    keepalive 16;" in d2 and "+    keepalive 32;" in d2
    assert insert_after(files, "/nope", 1, ["x;"]) is None


def test_crash_loop_from_systemd_restart_lines() -> None:
    lines = [  # systemd's own texts (proxy-messages.md section 9, src/core/service.c)
        "systemd[1]: app.service: Main process exited, code=exited, status=1/FAILURE",
        "systemd[1]: app.service: Scheduled restart job, restart counter is at 3.",
        "systemd[1]: app.service: Scheduled restart job, restart counter is at 4.",
        "systemd[1]: app.service: Start request repeated too quickly.",
    ]
    kinds = ["unit-failed", "unit-restart", "unit-restart", "unit-restart"]
    events = tuple(event_from_text(k, t, source="systemd", time=T0 + timedelta(seconds=i))
                   for i, (k, t) in enumerate(zip(kinds, lines)))
    e = ev(symptoms=(group("connection-refused"),), events=events, listeners=())
    f = run_all(e)[0][0]
    assert f.cause == "backend-crash-loop"
    assert f.fix is not None and any("app.service" in c for c in f.fix.commands)


def test_impact_orders_equally_sure_findings() -> None:
    """A cause behind 900 failed requests comes before an equally sure one behind 5."""
    e = ev(targets=(target(), target("127.0.0.1:9090")), listeners=(),
           symptoms=(group("read-timeout", peer="127.0.0.1:9090", count=5, status=504),
                     group("connection-refused", count=900)),
           probes={"127.0.0.1:8080": refused_probe("127.0.0.1", 8080)})
    findings, _ = run_all(e)
    assert [f.cause for f in findings][:2] == ["backend-not-running", "backend-too-slow"]


def test_oom_identity_through_the_systemd_unit() -> None:
    """The restarted backend has a new pid; the unit (kernel task_memcg / journal UNIT=) still
    ties the kill to the target."""
    kill = event_from_text(
        "oom-kill", "systemd[1]: app.service: A process of this unit has been killed by the OOM "
        "killer.", source="systemd", time=T0)
    e = ev(symptoms=(group("premature-close", count=2),), events=(kill,),
           listeners=(Listener("tcp", "127.0.0.1", 8080, pid=2001, process="gunicorn"),),
           target_units={"127.0.0.1:8080": "app.service"})
    f = run_all(e)[0][0]
    assert f.cause == "backend-oom-killed" and f.confidence >= 0.9
    assert "app.service" in f.explanation


def test_servers_of_one_group_with_the_same_cause_are_one_finding() -> None:
    g = GroupFact("app", ("127.0.0.1:8081", "127.0.0.1:8082"), file=CONF, line=1)
    e = ev(targets=(target("127.0.0.1:8081", group="app"), target("127.0.0.1:8082", group="app")),
           groups={"app": g}, listeners=(),
           symptoms=(group("connection-refused", peer="127.0.0.1:8081", count=4),
                     group("connection-refused", peer="127.0.0.1:8082", count=6)))
    findings, _ = run_all(e)
    assert len(findings) == 1
    f = findings[0]
    assert f.cause == "backend-not-running" and f.upstream == "app" and f.count == 10
    assert f.target is not None and "127.0.0.1:8081" in f.target and "127.0.0.1:8082" in f.target


def test_a_cause_seen_days_ago_ranks_below_a_current_one() -> None:
    old = group("connection-refused", peer="127.0.0.1:8080", count=500, start=T0 - timedelta(days=3))
    new = group("header-too-big", peer="127.0.0.1:9090", count=20)
    e = ev(targets=(target(), target("127.0.0.1:9090")), symptoms=(old, new), listeners=(),
           now=T0 + timedelta(minutes=5))
    findings, _ = run_all(e)
    assert findings[0].cause == "buffer-too-small"
    stale = next(f for f in findings if f.cause == "backend-not-running")
    assert "2 days before the latest failure" in stale.explanation and stale.confidence < 0.5


def test_age_is_measured_from_the_inputs_not_the_wall_clock() -> None:
    """Logs diagnosed a week after the incident rank their causes as on the day."""
    only = group("header-too-big", peer="127.0.0.1:9090", count=20)
    e = ev(targets=(target("127.0.0.1:9090"),), symptoms=(only,), listeners=(),
           now=T0 + timedelta(days=7))
    f = run_all(e)[0][0]
    assert f.cause == "buffer-too-small" and "before the latest failure" not in f.explanation


def test_busy_tcp_backend_is_not_fixed_by_an_unrelated_fpm_pool() -> None:
    pool_conf = "/etc/php/8.2/fpm/pool.d/www.conf"
    e = ev(symptoms=(group("connect-timeout", status=504),),
           fpm_pools=(FpmPool("www", pool_conf, 1, listen="/run/php/php8.2-fpm.sock", max_children=5,
                              settings={"pm.max_children": Setting("5", pool_conf, 4)}),),
           files={CONF: CONF_LINES, pool_conf: ("[www]", "listen = /run/php/php8.2-fpm.sock",
                                                "pm = dynamic", "pm.max_children = 5")})
    f = run_all(e)[0][0]
    assert f.cause == "workers-exhausted"
    assert f.fix is not None and f.fix.diff is None and "pm.max_children" not in f.explanation
