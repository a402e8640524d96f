"""HAProxy in front of real backends: the same root causes as behind nginx, HAProxy's messages.

HAProxy 2.x logs one httplog line per request with its termination state (configuration.txt 8.5:
``SC`` the server refused, ``sH`` ``timeout server`` before the headers, ``sQ`` too long in the
queue, ``SH`` the server aborted before the headers) and alerts when health checks take a server
DOWN (``Server app/web1 is DOWN, reason: ...``, src/server.c) and when a backend has none left
(``backend app has no server available!``, src/backend.c).  Each scenario starts a real
``haproxy -db`` on loopback (HAProxy's lab plug-in, ``proxies/haproxy/lab.py``) and a Python
backend, and makes a few bounded requests.
"""

from __future__ import annotations

import time

from why502.lab.runtime import Stack
from why502.lab.scenarios.common import dead_port
from why502.lab.scenarios.model import ScenarioRun, scenario

_HTTPLOG = r"fe app/\S+ [-\d/]+ "


@scenario(
    name="haproxy-backend-down",
    cause="backend-not-running",
    title="The app behind HAProxy is stopped",
    description="HAProxy's server (no health check) points at a port where nothing listens: "
                "every request ends SC (connection refused) with a 503.",
    symptoms=("connection-refused",),
    expect=(("error", _HTTPLOG + r"503 \d+ - - SC--"),),
    proxy="haproxy",
)
def _haproxy_backend_down(stack: Stack, run: ScenarioRun) -> None:
    port = dead_port()
    # retries 0: a refused connect is retried after a 1 s turn-around otherwise (backend.c)
    stack.start_haproxy(f"server web1 127.0.0.1:{port}", defaults="retries 0")
    run.steps.append(f"HAProxy sends backend app to 127.0.0.1:{port}; nothing listens there")
    run.record("GET /", stack.requests("/", count=2))


@scenario(
    name="haproxy-all-servers-down",
    cause="all-upstreams-down",
    title="HAProxy's health checks took every server DOWN",
    description="Both servers of the backend (one a backup) have health checks; the app is "
                "stopped, the checks fail, HAProxy has no server left and answers 503 <NOSRV>.",
    symptoms=("upstream-marked-down", "no-live-upstreams"),
    expect=(("error", r"Server app/web1 is DOWN, reason: Layer4 connection problem"),
            ("error", r"backend app has no server available!"),
            ("error", r"fe app/<NOSRV> .* 503 ")),
    proxy="haproxy",
)
def _haproxy_all_down(stack: Stack, run: ScenarioRun) -> None:
    app = stack.add_backend("ok")
    spare = dead_port()
    stack.start_haproxy(f"server web1 127.0.0.1:{app.port} check inter 200 fall 2 rise 2\n"
                        f"server web2 127.0.0.1:{spare} check inter 200 fall 2 rise 2 backup")
    run.record("GET / (app up)", stack.requests("/", count=1))
    if app.process is not None:
        stack.stop_process(app.process)
    run.steps.append(f"the app on 127.0.0.1:{app.port} stopped; the backup 127.0.0.1:{spare} "
                     "never ran")
    log = stack.p.root / "logs" / "haproxy.log"
    stack.wait_for_log(log, "has no server available", timeout=5.0)
    run.record("GET /", stack.requests("/", count=2))


@scenario(
    name="haproxy-health-check-failing",
    cause="all-upstreams-down",
    title="HAProxy's HTTP health check gets 503 from every server",
    description="The app runs but answers 503 to everything, including HAProxy's 'option "
                "httpchk' requests: Layer7 wrong status takes the server DOWN.",
    symptoms=("upstream-marked-down", "no-live-upstreams"),
    expect=(("error", r"Server app/web1 is DOWN, reason: Layer7 wrong status"),
            ("error", r"fe app/<NOSRV> .* 503 ")),
    proxy="haproxy",
)
def _haproxy_check_failing(stack: Stack, run: ScenarioRun) -> None:
    app = stack.add_backend("status503")
    stack.start_haproxy(f"option httpchk GET /health\n"
                        f"server web1 127.0.0.1:{app.port} check inter 200 fall 2 rise 2")
    run.steps.append(f"the app on 127.0.0.1:{app.port} answers 503 to the health check")
    stack.wait_for_log(stack.p.root / "logs" / "haproxy.log", "has no server available", 5.0)
    run.record("GET /", stack.requests("/", count=2))


@scenario(
    name="haproxy-too-slow",
    cause="backend-too-slow",
    title="The app is slower than HAProxy's timeout server",
    description="The app takes 1 s per request; timeout server is 400 ms: sH and 504.",
    symptoms=("read-timeout",),
    expect=(("error", _HTTPLOG + r"504 \d+ - - sH--"),),
    proxy="haproxy",
)
def _haproxy_too_slow(stack: Stack, run: ScenarioRun) -> None:
    app = stack.add_backend("slow", delay=1.0)
    stack.start_haproxy(f"server web1 127.0.0.1:{app.port}", defaults="timeout server 400ms")
    run.steps.append(f"the app on 127.0.0.1:{app.port} needs 1 s; timeout server 400ms")
    run.record("GET /", stack.requests("/", count=2))


@scenario(
    name="haproxy-queue-timeout",
    cause="workers-exhausted",
    title="HAProxy's queue: the server's maxconn is full",
    description="The server takes one request at a time (maxconn 1) and each takes 0.6 s; "
                "concurrent requests wait in HAProxy's queue until timeout queue (200 ms): sQ, 503.",
    symptoms=("queue-timeout",),
    expect=(("error", r"fe app/\S+ [-\d/]+ 503 \d+ - - sQ--"),),
    proxy="haproxy",
)
def _haproxy_queue(stack: Stack, run: ScenarioRun) -> None:
    app = stack.add_backend("slow", delay=0.6)
    stack.start_haproxy(f"server web1 127.0.0.1:{app.port} maxconn 1",
                        defaults="timeout queue 200ms")
    run.steps.append(f"server 127.0.0.1:{app.port} maxconn 1, 0.6 s per request, timeout queue 200ms")
    run.record("GET / x3 concurrent", stack.requests("/", count=3, concurrency=3))


@scenario(
    name="haproxy-backend-crashed",
    cause="backend-crashed",
    title="The app behind HAProxy dies mid-request",
    description="The app is SIGKILLed while it handles a request: HAProxy logs SH and answers "
                "502; the next requests find nothing listening (SC, 503).",
    symptoms=("premature-close", "connection-refused"),
    expect=(("error", _HTTPLOG + r"502 \d+ - - SH--"),),
    proxy="haproxy",
)
def _haproxy_crashed(stack: Stack, run: ScenarioRun) -> None:
    app = stack.add_backend("crash")
    stack.start_haproxy(f"server web1 127.0.0.1:{app.port}", defaults="retries 0")
    run.steps.append(f"the app on 127.0.0.1:{app.port} is killed by the first request")
    run.record("GET /", stack.requests("/", count=1))
    stack.wait_backend_exit(app)
    time.sleep(0.2)
    run.record("GET /", stack.requests("/", count=1))
