"""The true root cause, not a neighbour of it: the cases an experienced engineer would not get
wrong (a backend's own 5xx behind a ``combined`` access log, a request killed by the backend's own
time limit, a malformed answer from an HTTP backend, evidence that belongs to another process).

Evidence is typed here; the log lines are the real ones of the recorded fixtures
(tests/fixtures/recorded/) and the lab scenarios run the same cases on a real nginx.
"""

from __future__ import annotations

import pytest

from tests.diagnose.test_diagnose_analyzers import T0, ev, group, target
from why502.analyzers.rank import run_all
from why502.evidence.events import event_from_text
from why502.evidence.model import Evidence, LocationOutcome
from why502.facts.fpm import FpmPool
from why502.facts.probes import ConnectAttempt, ProbeResult, ProbeTarget, ProtocolResult
from why502.facts.setting import Setting


def http_probe(status: int, line: str) -> ProbeResult:
    """A probe that connected and got an HTTP status line."""
    return ProbeResult(ProbeTarget(host="127.0.0.1", port=8080),
                       connect=[ConnectAttempt("127.0.0.1:8080", True)],
                       protocol=ProtocolResult(sent="http", answer="http", status=status,
                                               status_line=line), ok=True)


def test_backend_5xx_behind_a_combined_log_is_upstream_returned_5xx() -> None:
    """No upstream fields, a silent error log, every request of the location a 503, and the probe
    got ``HTTP/1.0 503``: the backend made them (not "healthy")."""
    e = ev(targets=(target(location="/api/"),), access_has_upstream=False,
           locations_5xx=(LocationOutcome("example.com /api/", {503: 40}),),
           probes={"127.0.0.1:8080": http_probe(503, "HTTP/1.0 503 Service Unavailable")})
    findings, _ = run_all(e)
    assert findings and findings[0].cause == "upstream-returned-5xx"
    top = findings[0]
    assert top.target == "127.0.0.1:8080" and top.count == 40 and top.confidence >= 0.8
    text = " ".join(i.summary for i in top.evidence) + top.explanation
    assert "location /api/" in text and "HTTP/1.0 503 Service Unavailable" in text


def test_combined_log_5xx_that_nginx_made_is_not_blamed_on_the_backend() -> None:
    """The 5xx the error log proves nginx made (joined error lines) are not the backend's."""
    e = ev(targets=(target(location="/api/"),), access_has_upstream=False,
           locations_5xx=(LocationOutcome("example.com /api/", {502: 6}, by_proxy=6),),
           probes={"127.0.0.1:8080": http_probe(200, "HTTP/1.1 200 OK")})
    assert [f.cause for f in run_all(e)[0]] == []


# -- a request killed by the backend's own time limit ----------------------------------------

GUNICORN_KILL = "[2026-11-21 21:37:30 +0000] [31390] [CRITICAL] WORKER TIMEOUT (pid:31391)"  # recorded
HARAKIRI = "Tue Jan  9 21:53:28 2024 - *** HARAKIRI ON WORKER 1 (pid: 66, try: 1, graceful: yes) ***"
FPM_KILL = ("[21-Nov-2026 21:14:12] WARNING: [pool www] child 30053, script '/lab/www/sleep.php' "
            "(request: \"GET /sleep.php?ms=4000\") execution timed out (2.283437 sec), terminating")
FPM_TERM = ("[21-Nov-2026 21:14:12] WARNING: [pool www] child 30053 exited on signal 15 (SIGTERM) "
            "after 2.337095 seconds from start")


@pytest.mark.parametrize(("line", "source", "limit"), [
    (GUNICORN_KILL, "gunicorn", "--timeout"),
    (HARAKIRI, "uwsgi", "harakiri"),
])
def test_app_server_timeout_kill_is_backend_too_slow(line: str, source: str, limit: str) -> None:
    """gunicorn's WORKER TIMEOUT and uWSGI's HARAKIRI kill the worker mid-request: nginx sees a
    premature close, but the cause is the slow request, with both limits named."""
    kill = event_from_text("worker-timeout", line, source=source, time=T0)
    e = ev(symptoms=(group("premature-close", count=3),), events=(kill,))
    findings, _ = run_all(e)
    assert findings[0].cause == "backend-too-slow", [f.cause for f in findings]
    text = " ".join(i.summary for i in findings[0].evidence) + findings[0].fix.summary  # type: ignore[union-attr]
    assert limit in text and "proxy_read_timeout 60s" in text
    assert "backend-crashed" not in [f.cause for f in findings]


def test_fpm_terminate_timeout_is_backend_too_slow_not_a_crash() -> None:
    """``execution timed out ... terminating`` then SIGTERM of the same child: not a crash."""
    sock = "unix:/run/php/www.sock"
    pool = FpmPool(name="www", file="/etc/php/8.2/fpm/pool.d/www.conf", line=1, listen="/run/php/www.sock",
                   request_terminate_timeout=2,
                   settings={"request_terminate_timeout": Setting("2s", "/etc/php/8.2/fpm/pool.d/www.conf",
                                                                  10)})
    events = (event_from_text("worker-timeout", FPM_KILL, source="php-fpm", time=T0),
              event_from_text("worker-crashed", FPM_TERM, source="php-fpm", time=T0))
    e = ev(targets=(target(sock, kind="fastcgi"),), fpm_pools=(pool,), events=events,
           symptoms=(group("connection-reset", peer=sock, count=1),))
    findings, _ = run_all(e)
    assert findings[0].cause == "backend-too-slow" and findings[0].confidence >= 0.85
    summaries = [i.summary for i in findings[0].evidence]
    assert any("request_terminate_timeout = 2s in pool [www]" in s for s in summaries)
    assert any("fastcgi_read_timeout 60s" in s for s in summaries)
    assert "backend-crashed" not in [f.cause for f in findings]


def test_a_timeout_kill_of_another_pool_is_not_evidence() -> None:
    """Identity: pool [www]'s kill says nothing about a reset from the [api] pool's socket."""
    sock = "unix:/run/php/api.sock"
    pools = (FpmPool(name="www", listen="/run/php/www.sock", request_terminate_timeout=2),
             FpmPool(name="api", listen="/run/php/api.sock"))
    e = ev(targets=(target(sock, kind="fastcgi"),), fpm_pools=pools,
           events=(event_from_text("worker-timeout", FPM_KILL, source="php-fpm", time=T0),),
           symptoms=(group("connection-reset", peer=sock, count=1),))
    assert "backend-too-slow" not in [f.cause for f in run_all(e)[0]]


# -- a malformed answer from an HTTP backend ---------------------------------------------------

INVALID_HEADER = ('2026/11/21 21:14:09 [error] 30010#30010: *2 upstream sent invalid header: '
                  '"X-Bad\\x01..." while reading response header from upstream, client: 127.0.0.1, '
                  'server: lab.example, request: "GET / HTTP/1.1", upstream: "http://127.0.0.1:8080/", '
                  'host: "lab.example"')  # recorded (invalid-header)
NO_VALID_HEADER = ('2026/11/21 21:14:09 [error] 30010#30010: *2 upstream sent no valid HTTP/1.0 header '
                   'while reading response header from upstream, client: 127.0.0.1, server: lab.example, '
                   'request: "GET / HTTP/1.1", upstream: "http://127.0.0.1:8080/", host: "lab.example"')


def answered(answer: str, line: str | None = None) -> ProbeResult:
    return ProbeResult(ProbeTarget(host="127.0.0.1", port=8080),
                       connect=[ConnectAttempt("127.0.0.1:8080", True)],
                       protocol=ProtocolResult(sent="http", answer=answer, status_line=line), ok=True)


def test_invalid_header_from_an_http_backend_is_the_apps_bug_with_the_header_quoted() -> None:
    e = ev(symptoms=(group("invalid-response", text=INVALID_HEADER, count=2),),
           probes={"127.0.0.1:8080": answered("http", "HTTP/1.1 200 OK")})
    findings, _ = run_all(e)
    assert [f.cause for f in findings] == ["backend-invalid-response"]
    top = findings[0]
    assert any('"X-Bad\\x01..."' in i.summary for i in top.evidence)
    assert top.fix is not None and "application" in top.fix.summary and top.fix.diff is None


@pytest.mark.parametrize(("answer", "cause"), [
    ("http", "backend-invalid-response"),  # HTTP/1.1 OK: a bad status line
    ("tls", "protocol-mismatch"),  # the port speaks TLS
    ("fastcgi", "protocol-mismatch"),
    ("unknown", "protocol-mismatch"),  # an SSH or Redis banner
])
def test_no_valid_http_header_is_a_mismatch_only_when_the_port_speaks_something_else(
        answer: str, cause: str) -> None:
    e = ev(symptoms=(group("invalid-response", text=NO_VALID_HEADER, count=2),),
           probes={"127.0.0.1:8080": answered(answer, "HTTP/1.1 OK" if answer == "http" else None)})
    assert top_cause(e) == cause


def top_cause(e: object) -> str | None:
    findings, _ = run_all(e)  # type: ignore[arg-type]
    return findings[0].cause if findings else None


# -- identity and time: evidence that belongs to another process -----------------------------

def test_oom_kills_of_other_python3_processes_are_not_blamed() -> None:
    """A shared host: dmesg holds OOM kills of other python3 jobs (other PIDs, an hour before and
    while nginx is fine); the backend here drops a reused keep-alive connection.  A name match
    alone is not the cause."""
    from datetime import timedelta

    from tests.diagnose.test_diagnose_analyzers import oom
    from why502.evidence.model import GroupFact
    from why502.facts.net import Listener

    noise = (oom(at=T0 - timedelta(hours=1), pid=3101), oom(at=T0 - timedelta(minutes=4), pid=3377))
    e = ev(targets=(target(group="api"),), events=noise,
           groups={"api": GroupFact(name="api", servers=("127.0.0.1:8080",), keepalive=8)},
           symptoms=(group("connection-reset", count=2),),
           listeners=(Listener("tcp", "127.0.0.1", 8080, pid=977, process="python3"),))
    causes = [f.cause for f in run_all(e)[0]]
    assert "backend-oom-killed" not in causes, causes


def test_oom_kill_of_a_worker_the_backends_own_log_names_is_proved() -> None:
    """Identity by PID: FPM's ``child 4242 exited on signal 9`` names the OOM victim as a worker
    of the pool that listens where nginx failed."""
    from tests.diagnose.test_diagnose_analyzers import oom

    sock = "unix:/run/php/www.sock"
    child = ("[01-May-2026 08:15:31] WARNING: [pool www] child 4242 exited on signal 9 (SIGKILL) "
             "after 12.5 seconds from start")
    e = ev(targets=(target(sock, kind="fastcgi"),),
           fpm_pools=(FpmPool(name="www", listen="/run/php/www.sock"),),
           events=(oom(pid=4242, process="php-fpm8.2"),
                   event_from_text("worker-crashed", child, source="php-fpm", time=T0)),
           symptoms=(group("premature-close", peer=sock, count=2),))
    findings, _ = run_all(e)
    assert findings[0].cause == "backend-oom-killed" and findings[0].confidence >= 0.95
    assert any("pid 4242 is a worker" in i.summary for i in findings[0].evidence)


# -- consequences fold under their cause -------------------------------------------------------

def _two_server_group(listeners: tuple[object, ...]) -> Evidence:
    from why502.evidence.model import GroupFact

    servers = ("127.0.0.1:8081", "127.0.0.1:8082")
    return ev(targets=tuple(target(s, group="app") for s in servers),
              groups={"app": GroupFact(name="app", servers=servers)},
              symptoms=(group("connection-refused", peer=servers[0], count=3),
                        group("connection-refused", peer=servers[1], count=3),
                        group("no-live-upstreams", peer="app", count=40)),
              listeners=listeners)


def test_no_live_upstreams_folds_under_the_cause_that_marked_the_servers_failed() -> None:
    """Both servers refuse (nothing listens): the root cause is that they are not running;
    'no live upstreams' is what nginx did next, said under it, not a finding above it."""
    findings, _ = run_all(_two_server_group(listeners=()))
    causes = [f.cause for f in findings]
    assert causes and causes[0] == "backend-not-running" and "all-upstreams-down" not in causes, causes
    assert any(i.summary.startswith("consequence: then nginx marked every server of upstream app")
               for i in findings[0].evidence)


def test_all_upstreams_down_stays_the_cause_when_the_servers_answer_again() -> None:
    """The servers are back but nginx still refuses them for fail_timeout: the marking is the
    problem (max_fails/fail_timeout), the all-upstreams-down scenario of the lab."""
    from why502.facts.net import Listener

    up = (Listener("tcp", "127.0.0.1", 8081, pid=10, process="python3"),
          Listener("tcp", "127.0.0.1", 8082, pid=11, process="python3"))
    assert top_cause(_two_server_group(listeners=up)) == "all-upstreams-down"


def test_a_proved_oom_kill_a_minute_before_the_errors_does_not_claim_exact_timing() -> None:
    """Proved by PID (the FPM log names the killed child), a minute before the first error: still
    the cause (refusals while it restarts), but not "exactly when nginx's errors start"."""
    from datetime import timedelta

    from tests.diagnose.test_diagnose_analyzers import oom

    sock = "unix:/run/php/www.sock"
    child = ("[01-May-2026 08:14:31] WARNING: [pool www] child 4242 exited on signal 9 (SIGKILL) "
             "after 12.5 seconds from start")
    e = ev(targets=(target(sock, kind="fastcgi"),),
           fpm_pools=(FpmPool(name="www", listen="/run/php/www.sock"),),
           events=(oom(at=T0 - timedelta(minutes=1), pid=4242, process="php-fpm8.2"),
                   event_from_text("worker-crashed", child, source="php-fpm",
                                   time=T0 - timedelta(minutes=1))),
           symptoms=(group("connection-refused", peer=sock, count=3),))
    findings, _ = run_all(e)
    assert findings[0].cause == "backend-oom-killed", [f.cause for f in findings]
    assert "exactly when" not in findings[0].explanation and "60s" in findings[0].explanation


# -- a kill before the backend started is not its kill -----------------------------------------

def _served_by(pid: int, started: object) -> tuple[object, ...]:
    from why502.facts.net import Listener

    return (Listener("tcp", "127.0.0.1", 8080, pid=pid, process="python3",
                     started=started.isoformat(timespec="seconds") if started else None),)  # type: ignore[attr-defined]


@pytest.mark.parametrize("pid", [412, 999], ids=["same-pid-reused", "same-name"])
def test_a_kill_before_the_backend_started_is_not_evidence(pid: int) -> None:
    """The kernel killed python3 pid 412 at T0; what listens on the target now started 5 s
    later (pid 412 reused, or another pid of the same name), and the resets came after that:
    the kill was of an earlier process, not of the one that failed.  Without the start time the
    same evidence is blamed (the check bites)."""
    from datetime import timedelta

    from tests.diagnose.test_diagnose_analyzers import oom

    resets = group("premature-close", count=3, start=T0 + timedelta(seconds=9))
    blamed = ev(events=(oom(at=T0, pid=412),), symptoms=(resets,),
                listeners=_served_by(pid, None))
    e = ev(events=(oom(at=T0, pid=412),), symptoms=(resets,),
           listeners=_served_by(pid, T0 + timedelta(seconds=5)))
    assert "backend-oom-killed" in [f.cause for f in run_all(blamed)[0]]
    assert "backend-oom-killed" not in [f.cause for f in run_all(e)[0]]


def test_a_kill_then_the_outage_until_the_restart_is_still_the_cause() -> None:
    """Killed at T0 (pid 412 listened there), refused until the restart at T0+6: the new process
    started after the kill, but the failures it explains came before that start."""
    from datetime import timedelta

    from tests.diagnose.test_diagnose_analyzers import oom

    e = ev(events=(oom(at=T0, pid=412),),
           symptoms=(group("premature-close", count=1, start=T0),
                     group("connection-refused", count=4, start=T0 + timedelta(seconds=1))),
           listeners=_served_by(413, T0 + timedelta(seconds=6)))
    assert run_all(e)[0][0].cause == "backend-oom-killed", [f.cause for f in run_all(e)[0]]


def test_the_units_start_time_is_the_backends_when_the_socket_owner_is_unknown() -> None:
    """No /proc owner (not root), but systemd says the unit serving the target entered active
    after the kill: the kill is not of the process that failed."""
    from datetime import timedelta

    from tests.diagnose.test_diagnose_analyzers import oom
    from why502.facts.system import UnitState

    started = (T0 + timedelta(seconds=5)).strftime("Fri %Y-%m-%d %H:%M:%S UTC")
    resets = group("premature-close", count=3, start=T0 + timedelta(seconds=9))
    def with_start(stamp: str | None) -> Evidence:
        unit = UnitState("app.service", load_state="loaded", active_state="active",
                         sub_state="running", active_enter_timestamp=stamp)
        return ev(events=(oom(at=T0, pid=412),), symptoms=(resets,), units={"app.service": unit},
                  target_units={"127.0.0.1:8080": "app.service"})

    assert "backend-oom-killed" in [f.cause for f in run_all(with_start(None))[0]]
    assert "backend-oom-killed" not in [f.cause for f in run_all(with_start(started))[0]]
