"""Caddy (Debian's package) in front of real app servers and PHP-FPM: the same root causes as
behind nginx, in Caddy's words.

Caddy's reverse proxy logs each failed round trip at ``error`` with the upstream and Go's own
error text (modules/caddyhttp/reverseproxy/reverseproxy.go, ``ServeHTTP``/``proxyLoopIteration``:
``dial tcp ...: connect: connection refused``, ``net/http: timeout awaiting response headers``,
``EOF``, ``no upstreams available``; statusError maps a timeout to 504, anything else to 502) and
its access log gives each request's status.  The runtime is Caddy's lab plug-in
(``why502.proxies.caddy.lab``, reached through ``Hooks.lab_runtime``); every Caddyfile also sends
``/other/*`` to a healthy second app (a shared front proxy's traffic).  ``run.culprits`` names the
faulty backend: diagnose must name it.
"""

from __future__ import annotations

import time

from why502.lab.runtime import Stack
from why502.lab.runtime.appservers import start_node, start_uwsgi
from why502.lab.runtime.plugins import lab_plugin
from why502.lab.scenarios.common import PHP_SCRIPTS, gunicorn
from why502.lab.scenarios.model import ScenarioRun, scenario

_ERR = r'"logger":"http\.log\.error'


def _caddy(stack: Stack, run: ScenarioRun, routes: str, culprit: str) -> None:
    """Caddy with ``routes`` (``handle`` blocks) and a healthy ``/other/*``; the run's evidence
    is its Caddyfile, its own log and its access log."""
    other = stack.add_backend("ok", name="other")
    lab = lab_plugin("caddy")
    lab.start_caddy(stack, f"handle /other/* {{\n\treverse_proxy {other.address}\n}}\n{routes}")
    run.config, run.error_log, run.access_log = lab.caddy_paths(stack)
    run.culprits.append(culprit)
    run.record("GET /other (a healthy app)", stack.requests("/other/", count=2))


def _api(address: str, transport: str = "", extra: str = "") -> str:
    """``handle /api/*`` proxying to ``address`` with an optional ``transport http`` body."""
    inner = (f"\n\t\ttransport http {{\n\t\t\t{transport}\n\t\t}}" if transport else "") + (
        f"\n\t\t{extra}" if extra else "")
    return f"handle /api/* {{\n\treverse_proxy {address} {{{inner}\n\t}}\n}}\n"



@scenario(
    name="caddy-backend-down",
    cause="backend-not-running",
    title="The gunicorn behind Caddy is stopped",
    description="Caddy's reverse_proxy points at a gunicorn that was stopped: dial tcp ... "
                "connection refused, 502.",
    symptoms=("connection-refused",),
    expect=(("error", r"connect: connection refused"),),
    proxy="caddy",
)
def _caddy_backend_down(stack: Stack, run: ScenarioRun) -> None:
    address = gunicorn(stack, run)
    _caddy(stack, run, _api(address), address)
    run.record("GET /api (app up)", stack.requests("/api/users", count=1))
    stack.stop_process(next(p for p in stack.processes if p.name == "gunicorn"))
    run.steps.append(f"gunicorn on {address} stopped (by its PID)")
    run.record("GET /api", stack.requests("/api/users", count=3))


@scenario(
    name="caddy-backend-crashed",
    cause="backend-crashed",
    title="The Node app behind Caddy dies mid-request",
    description="An uncaught exception ends Node's process while it handles /api/crash: Caddy's "
                "round trip ends with EOF (502) and the next requests find nothing listening.",
    symptoms=("premature-close", "connection-refused"),
    expect=(("error", r'"msg":"(?:unexpected )?EOF"'),),
    needs=("node",),
    proxy="caddy",
)
def _caddy_backend_crashed(stack: Stack, run: ScenarioRun) -> None:
    _proc, port, _script = start_node(stack)
    run.app_logs.append(stack.root / "logs" / "node.out")  # its stderr: the stack, "Node.js vNN"
    address = f"127.0.0.1:{port}"
    _caddy(stack, run, _api(address), address)
    run.record("GET /api/users", stack.requests("/api/users", count=1))
    # a POST: Go's transport retries an idempotent request that found its reused keep-alive
    # connection closed (net/http transport.go shouldRetryRequest), which would turn the crash
    # into a refused connection; a POST is not retried, so its EOF is what Caddy logs
    run.record("POST /api/crash", stack.requests("/api/crash", count=1, method="POST", body=b"{}"))
    run.steps.append(f"Node on {address} died mid-request (an uncaught exception)")
    time.sleep(0.3)
    run.record("GET /api/users", stack.requests("/api/users", count=2))


@scenario(
    name="caddy-too-slow",
    cause="backend-too-slow",
    title="The app is slower than Caddy's response_header_timeout",
    description="gunicorn needs 3 s for /api/slow; response_header_timeout is 1 s: Go's "
                "'timeout awaiting response headers', Caddy answers 504.",
    symptoms=("read-timeout",),
    expect=(("error", r"timeout awaiting response headers"),),
    proxy="caddy",
)
def _caddy_too_slow(stack: Stack, run: ScenarioRun) -> None:
    address = gunicorn(stack, run, "workers = 2\ntimeout = 30\n")
    _caddy(stack, run, _api(address, "response_header_timeout 1s"), address)
    run.steps.append(f"gunicorn on {address} needs 3 s; response_header_timeout 1s")
    run.record("GET /api/slow/3", stack.requests("/api/slow/3", count=2, concurrency=2))


@scenario(
    name="caddy-gunicorn-worker-timeout",
    cause="backend-too-slow",
    title="gunicorn's own timeout kills the worker behind Caddy",
    description="gunicorn's timeout is 1 s and /api/slow takes 4 s: the master kills the worker "
                "(WORKER TIMEOUT); the worker answers 500 itself and Caddy relays it.",
    symptoms=("worker-timeout",),
    expect=(("app", r"WORKER TIMEOUT"),),
    proxy="caddy",
)
def _caddy_gunicorn_timeout(stack: Stack, run: ScenarioRun) -> None:
    address = gunicorn(stack, run, "workers = 1\ntimeout = 1\n")
    _caddy(stack, run, _api(address), address)
    run.steps.append(f"gunicorn on {address}: timeout = 1; /api/slow/4 takes 4 s")
    run.record("GET /api/slow/4", stack.requests("/api/slow/4", count=1, timeout=12))
    stack.wait_for_log(run.app_logs[0], "WORKER TIMEOUT")


@scenario(
    name="caddy-uwsgi-harakiri",
    cause="backend-too-slow",
    title="uWSGI's harakiri kills the worker behind Caddy",
    description="uWSGI's harakiri is 1 s and /api/slow takes 4 s: uWSGI kills the worker, the "
                "connection closes before a response and Caddy answers 502.",
    symptoms=("worker-timeout",),
    expect=(("app", r"HARAKIRI ON WORKER"), ("error", r'"status":502')),
    proxy="caddy",
)
def _caddy_uwsgi_harakiri(stack: Stack, run: ScenarioRun) -> None:
    _proc, port, ini = start_uwsgi(stack, "processes = 1\nharakiri = 1\n")
    run.app_logs.append(stack.root / "logs" / "uwsgi.log")
    run.app_confs.append(ini)
    address = f"127.0.0.1:{port}"
    _caddy(stack, run, _api(address), address)
    run.steps.append(f"uWSGI on {address}: harakiri = 1; /api/slow/4 takes 4 s")
    run.record("GET /api/slow/4", stack.requests("/api/slow/4", count=1, timeout=12))
    stack.wait_for_log(run.app_logs[0], "HARAKIRI ON WORKER")


@scenario(
    name="caddy-keepalive-race",
    cause="keepalive-race",
    title="The app closes idle connections Caddy still reuses",
    description="Caddy keeps idle upstream connections for keepalive (2 m by default); the app "
                "drops them after 0.3 s idle, just as Caddy reuses them: POSTs (not retried by Go's "
                "transport once sent) end 502.",
    symptoms=("connection-reset",),
    expect=(("error", r'"status":502'),),
    proxy="caddy",
)
def _caddy_keepalive_race(stack: Stack, run: ScenarioRun) -> None:
    app = stack.add_backend("keepalive-closer", name="api", idle_timeout=0.3)
    _caddy(stack, run, _api(app.address), app.address)
    run.steps.append(f"the app on {app.address} drops connections idle for 0.3 s; Caddy keeps "
                     "them for 2 minutes")
    for _ in range(3):
        run.record("POST /api/orders", [stack.request("/api/orders", method="POST", body=b"{}")])
        time.sleep(0.5)


@scenario(
    name="caddy-no-healthy-upstream",
    cause="all-upstreams-down",
    title="Caddy's active health check took the only upstream out",
    description="health_uri gets 503 from the app: Caddy marks the upstream unhealthy and answers "
                "503 'no upstreams available'.",
    symptoms=("no-live-upstreams",),
    expect=(("error", r"no upstreams available"),),
    proxy="caddy",
)
def _caddy_no_healthy(stack: Stack, run: ScenarioRun) -> None:
    address = gunicorn(stack, run)
    checks = "health_uri /status/503\n\t\thealth_interval 200ms\n\t\thealth_timeout 500ms"
    _caddy(stack, run, _api(address, extra=checks), address)
    run.steps.append(f"Caddy health-checks {address}/status/503: the app answers 503")
    time.sleep(0.8)
    run.record("GET /api", stack.requests("/api/users", count=3))


@scenario(
    name="caddy-fpm-exhausted",
    cause="workers-exhausted",
    title="PHP-FPM's only child is busy behind Caddy's php_fastcgi",
    description="pm.max_children is 1 and a script takes 0.7 s: concurrent requests wait for "
                "the child until the FastCGI read_timeout (1 s) and Caddy answers 504; PHP-FPM "
                "warns it reached pm.max_children.",
    symptoms=("read-timeout",),
    expect=(("fpm", r"reached pm\.max_children setting"),),
    needs=("php-fpm",),
    proxy="caddy",
)
def _caddy_fpm_exhausted(stack: Stack, run: ScenarioRun) -> None:
    # pm dynamic: PHP-FPM warns "server reached pm.max_children setting" only when it would
    # spawn a child (fpm_process_ctl.c fpm_pctl_perform_idle_server_maintenance), never with static
    pool = stack.add_php_fpm({"pm": "dynamic", "pm.max_children": "1", "pm.start_servers": "1",
                              "pm.min_spare_servers": "1", "pm.max_spare_servers": "1"},
                             scripts=PHP_SCRIPTS)
    where = f"unix/{pool.listen}"
    _caddy(stack, run, f"handle /app/* {{\n\troot * {stack.p.www}\n\turi strip_prefix /app\n"
                       f"\tphp_fastcgi {where} {{\n\t\tread_timeout 1s\n\t}}\n}}\n", pool.listen)
    run.steps.append(f"php_fastcgi {where}: pm.max_children 1, sleep.php takes 0.7 s")
    run.record("GET /app/sleep.php x4 concurrent",
               stack.requests("/app/sleep.php?ms=700", count=4, concurrency=4))
    stack.wait_for_log(stack.p.fpm_log, "pm.max_children", timeout=3.0)


@scenario(
    name="caddy-fpm-socket-missing",
    cause="backend-not-running",
    title="Caddy's php_fastcgi socket does not exist (PHP-FPM is stopped)",
    description="PHP-FPM was stopped and its socket removed: dial unix ... no such file or "
                "directory, 502.",
    symptoms=("socket-not-found",),
    expect=(("error", r"connect: no such file or directory"),),
    needs=("php-fpm",),
    proxy="caddy",
)
def _caddy_fpm_missing(stack: Stack, run: ScenarioRun) -> None:
    pool = stack.add_php_fpm(scripts=PHP_SCRIPTS)
    where = f"unix/{pool.listen}"
    _caddy(stack, run, f"handle /app/* {{\n\troot * {stack.p.www}\n\turi strip_prefix /app\n"
                       f"\tphp_fastcgi {where}\n}}\n", pool.listen)
    run.record("GET /app/index.php (up)", stack.requests("/app/index.php", count=1))
    if stack.fpm is not None:
        stack.stop_process(stack.fpm)
    run.steps.append(f"PHP-FPM stopped; {pool.listen} is gone")
    run.record("GET /app/index.php", stack.requests("/app/index.php", count=3))


@scenario(
    name="caddy-upstream-tls-mismatch",
    cause="upstream-tls-mismatch",
    title="Caddy speaks TLS to a plain-HTTP app",
    description="reverse_proxy https://... to gunicorn's plain HTTP: 'tls: first record does not "
                "look like a TLS handshake', 502.",
    symptoms=("tls-failure",),
    expect=(("error", r"first record does not look like a TLS handshake"),),
    proxy="caddy",
)
def _caddy_tls_mismatch(stack: Stack, run: ScenarioRun) -> None:
    address = gunicorn(stack, run)
    _caddy(stack, run, _api(f"https://{address}"), address)
    run.steps.append(f"reverse_proxy https://{address}: gunicorn speaks plain HTTP")
    run.record("GET /api", stack.requests("/api/users", count=3))


@scenario(
    name="caddy-app-returned-5xx",
    cause="upstream-returned-5xx",
    title="The app behind Caddy answers 500 itself",
    description="gunicorn's app answers 500 to /api/status/500: Caddy relays it; the proxy made "
                "no error.",
    symptoms=("app-error",),
    expect=(("access", r'"status":500'),),
    proxy="caddy",
)
def _caddy_app_5xx(stack: Stack, run: ScenarioRun) -> None:
    address = gunicorn(stack, run)
    _caddy(stack, run, _api(address), address)
    run.steps.append(f"the app on {address} answers 500 to /api/status/500")
    run.record("GET /api/status/500", stack.requests("/api/status/500", count=3))


@scenario(
    name="caddy-healthy",
    cause=None,
    title="Caddy in front of a healthy gunicorn (the control)",
    description="Nothing is wrong: every request is answered 200; diagnose must find nothing.",
    symptoms=(),
    expect=(("access", r'"status":200'),),
    proxy="caddy",
)
def _caddy_healthy(stack: Stack, run: ScenarioRun) -> None:
    address = gunicorn(stack, run)
    _caddy(stack, run, _api(address), address)
    run.record("GET /api", stack.requests("/api/users", count=4))


@scenario(
    name="caddy-noise",
    cause=None,
    title="Caddy with client noise only: unknown paths, hang-ups, app 404s",
    description="Paths no handle matches, clients that hang up before a slow answer (Caddy "
                "logs 'context canceled') and the app's own 404s: none is a backend failure.",
    symptoms=(),
    expect=(("access", r'"uri":"/nowhere"'),),
    proxy="caddy",
)
def _caddy_noise(stack: Stack, run: ScenarioRun) -> None:
    address = gunicorn(stack, run, "workers = 2\n")
    _caddy(stack, run, _api(address), address)
    run.record("GET /nowhere", stack.requests("/nowhere", count=2))
    run.record("GET /api/status/404", stack.requests("/api/status/404", count=2))
    run.record("GET /api/slow/1 (client gives up)", stack.requests("/api/slow/1", count=2, timeout=0.3))
    run.record("GET /api", stack.requests("/api/users", count=4))
    time.sleep(1.0)  # the hung-up requests end and are logged
