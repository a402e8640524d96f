"""Backend death: the backend was there, then dies while it handles the request.

A PHP-FPM child that segfaults, is SIGKILLed or is terminated by ``request_terminate_timeout``,
an app whose worker resets the connection or exits mid-request, a Node.js process ended by an
uncaught exception.  nginx reports the cut connection (``upstream prematurely closed``,
``recv() failed (104: ...)``, broken pipe) from src/http/ngx_http_upstream.c; PHP-FPM reports
the dead child from sapi/fpm/fpm/fpm_children.c.
"""

from __future__ import annotations

import os
import threading
import time

from why502.lab.runtime import Response, Stack
from why502.lab.scenarios.common import PHP_SCRIPTS, php_location, server
from why502.lab.scenarios.model import ScenarioRun, scenario


@scenario(
    name="backend-crashed-php",
    cause="backend-crashed",
    title="A PHP worker segfaults mid-request",
    description="A PHP-FPM child dies on signal 11 while serving a request; FPM respawns it.",
    symptoms=("connection-reset", "worker-crashed"),
    expect=(("fpm", r"child \d+ exited on signal 11 \(SIGSEGV"),
            ("error", r"upstream prematurely closed|recv\(\) failed \(104")),
    needs=("php-fpm",),
)
def _backend_crashed_php_segfault(stack: Stack, run: ScenarioRun) -> None:
    pool = stack.add_php_fpm({"pm": "static", "pm.max_children": "2"}, scripts=PHP_SCRIPTS)
    stack.start_nginx(server(stack, php_location(stack, pool.fastcgi_pass)))
    run.record("GET /index.php", stack.requests("/index.php", count=2))
    run.steps.append("a PHP worker segfaults (signal 11) while handling /segv.php")
    run.record("GET /segv.php", stack.requests("/segv.php", count=2))
    stack.wait_for_log(stack.p.fpm_log, "exited on signal 11", timeout=3)


@scenario(
    name="backend-crashed-reset",
    cause="backend-crashed",
    title="The app drops connections mid-request",
    description="The backend's worker dies while handling the request; the kernel answers with a reset.",
    symptoms=("connection-reset",),
    expect=(("error", r"recv\(\) failed \(104: Connection reset by peer\) while reading response header"),),
)
def _backend_crashed_reset(stack: Stack, run: ScenarioRun) -> None:
    app = stack.add_backend("reset", name="app", delay=0.1, fail_path="/checkout")
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://{app.address};
        }}
    """))
    run.record("GET /", stack.requests("/", count=2))
    run.steps.append("the app's worker dies in the middle of every /checkout request and the kernel "
                     "resets the connection; other pages work")
    run.record("POST /checkout", stack.requests("/checkout", count=3, method="POST", body=b"cart=42"))


@scenario(
    name="backend-crashed-node",
    cause="backend-crashed",
    title="A Node.js app crashes on an uncaught exception",
    description="A real Node process dies mid-request (uncaught TypeError), is refused while it restarts, "
                "then serves again. Optional: needs `node`.",
    symptoms=("premature-close", "connection-refused"),
    expect=(("error", r"upstream prematurely closed connection while reading response header"),
            ("error", r"connect\(\) failed \(111: Connection refused\)")),
    needs=("node",),
)
def _backend_crashed_node(stack: Stack, run: ScenarioRun) -> None:
    app = stack.add_node_backend(name="api")
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://{app.address};
        }}
    """))
    run.record("GET /api/health", stack.requests("/api/health", count=2))
    run.steps.append("a Node.js API throws an uncaught TypeError in /api/report: the process exits "
                     "mid-request; requests during the restart are refused")
    run.record("GET /api/report", stack.requests("/api/report?month=11", count=1))
    stack.wait_backend_exit(app)
    run.record("GET /api/health", stack.requests("/api/health", count=1))
    run.steps.append("its supervisor (systemd Restart=always, pm2) starts it again")
    app = stack.restart_backend(app)
    run.record("GET /api/health", stack.requests("/api/health", count=2))


@scenario(
    name="backend-crashed-exit",
    cause="backend-crashed",
    title="The backend process dies mid-request",
    description="The app is SIGKILLed during a request and not restarted: one premature close, "
                "then refusals.",
    symptoms=("premature-close", "connection-refused"),
    expect=(("error", r"upstream prematurely closed connection while reading response header"),),
)
def _backend_crashed_exit(stack: Stack, run: ScenarioRun) -> None:
    app = stack.add_backend("crash", name="worker", delay=0.2)
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://{app.address};
        }}
    """))
    run.steps.append("the backend process dies (SIGKILL) while handling the first request; "
                     "nothing restarts it")
    run.record("GET /jobs", stack.requests("/jobs", count=3))


@scenario(
    name="truncated-body",
    cause="backend-crashed",
    title="The backend dies after sending the header (200, truncated)",
    description="Errors while reading the body leave the backend's 200 in the access log; the body is cut.",
    symptoms=("premature-close",),
    expect=(("error", r"upstream prematurely closed connection while reading upstream"),
            ("access", r'" 200 ')),
    lab=False,
)
def _truncated_body(stack: Stack, run: ScenarioRun) -> None:
    """A failure after the response header went out cannot change the status any more
    (``u->header_sent`` in ``ngx_http_upstream_finalize_request()``): the error log says
    ``... while reading upstream`` and the access log keeps the backend's 200."""
    app = stack.add_backend("truncate", name="export")
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://{app.address};
        }}
    """))
    run.steps.append("the backend sends 200 and 4 kB of a 1 MB body, then its process dies")
    run.record("GET /export.csv", stack.requests("/export.csv", count=2))


@scenario(
    name="broken-pipe",
    cause="backend-crashed",
    title="The backend closes while the body is being sent",
    description="A 16 MB upload; the backend gives up after the headers.",
    symptoms=("broken-pipe",),
    expect=(("error", r"\((32: Broken pipe|104: Connection reset by peer)\) "
                      r"while sending request to upstream"),),
    lab=False,
)
def _broken_pipe(stack: Stack, run: ScenarioRun) -> None:
    app = stack.add_backend("close-early", name="upload")
    stack.start_nginx(server(stack, f"""
        client_max_body_size 64m;
        location / {{
            proxy_pass http://{app.address};
        }}
    """))
    run.steps.append("the backend closes the connection while the 16 MB request body is being sent")
    # Whether nginx notices the reset in writev() or in the read handler is a race the backend
    # tilts (assets/backend.py close_while_sending: it closes while nginx is writing); retry a
    # few times (bounded: at most 10 uploads) until the sending side saw it.  The wait for the
    # line is 1 s: on a loaded machine nginx wrote it after 0.3 s.  CI once lost all 10 uploads
    # (twice, with the rerun) when the backend closed right after its last recv().
    body = b"x" * (16 << 20)
    for _ in range(10):
        run.record("POST /upload", [stack.request("/upload", method="POST", body=body)])
        if stack.wait_for_log(stack.p.error_log, "while sending request to upstream", timeout=1.0):
            break


@scenario(
    name="php-worker-timeout",
    cause="backend-too-slow",
    title="PHP request killed by request_terminate_timeout",
    description="A 4 s script; slowlog after 1 s, the worker is terminated after 2 s.",
    symptoms=("connection-reset", "slow-request", "worker-timeout", "worker-crashed"),
    expect=(("fpm", r"execution timed out"), ("fpm", r"exited on signal 15")),
    needs=("php-fpm",),
)
def _php_worker_timeout(stack: Stack, run: ScenarioRun) -> None:
    """``request_terminate_timeout`` makes the FPM master SIGTERM the child
    (``fpm_request_check_timed_out()``), after the slowlog warning at ``request_slowlog_timeout``."""
    pool = stack.add_php_fpm({"request_terminate_timeout": "2s", "request_slowlog_timeout": "1s",
                              "slowlog": str(stack.p.root / "logs" / "php-fpm-slow.log")},
                             scripts=PHP_SCRIPTS)
    stack.start_nginx(server(stack, php_location(stack, pool.fastcgi_pass)))
    run.steps.append("request_slowlog_timeout 1s, request_terminate_timeout 2s; /sleep.php takes 4 s")
    run.record("GET /sleep.php", stack.requests("/sleep.php?ms=4000", count=1))
    stack.wait_for_log(stack.p.fpm_log, "exited on signal", timeout=3)


@scenario(
    name="php-crash-loop",
    cause="backend-crashed",
    title="PHP workers keep segfaulting: FPM reloads itself",
    description="Repeated SIGSEGVs trip emergency_restart_threshold and the PHP-FPM master reloads.",
    symptoms=("connection-reset", "worker-crashed"),
    # the log also holds "failed processes threshold (3 in 10 sec) is reached, initiating
    # reload" (checked by tests/lab/test_lab_fixtures.py, not listed here for classify's sake)
    expect=(("fpm", r"exited on signal 11 \(SIGSEGV"),),
    needs=("php-fpm",),
    lab=False,
)
def _php_crash_loop(stack: Stack, run: ScenarioRun) -> None:
    """Three SIGSEGVs within ``emergency_restart_interval`` make the FPM master reload itself:
    ``failed processes threshold (3 in 10 sec) is reached, initiating reload``
    (``fpm_children_bury()``, sapi/fpm/fpm/fpm_children.c)."""
    pool = stack.add_php_fpm({"pm": "static", "pm.max_children": "2"}, scripts=PHP_SCRIPTS,
                             global_options={"emergency_restart_threshold": "3",
                                             "emergency_restart_interval": "10s"})
    stack.start_nginx(server(stack, php_location(stack, pool.fastcgi_pass)))
    run.steps.append("emergency_restart_threshold 3 in 10s; every /segv.php request kills its worker")
    for _ in range(4):
        run.record("GET /segv.php", [stack.request("/segv.php")])
        time.sleep(0.2)
    stack.wait_for_log(stack.p.fpm_log, "initiating reload", timeout=3)
    time.sleep(1.0)
    run.record("GET /index.php", stack.requests("/index.php", count=2))


@scenario(
    name="php-child-killed",
    cause="backend-crashed",
    title="A busy PHP worker is SIGKILLed",
    description="The busy PHP-FPM child is killed with SIGKILL (what the OOM killer does).",
    symptoms=("connection-reset", "worker-crashed"),
    expect=(("fpm", r"exited on signal 9 \(SIGKILL\)"),),
    needs=("php-fpm",),
    lab=False,
)
def _php_child_killed(stack: Stack, run: ScenarioRun) -> None:
    pool = stack.add_php_fpm({"pm": "static", "pm.max_children": "1"}, scripts=PHP_SCRIPTS)
    stack.start_nginx(server(stack, php_location(stack, pool.fastcgi_pass)))

    results: list[Response] = []
    t = threading.Thread(target=lambda: results.append(stack.request("/sleep.php?ms=3000")))
    t.start()
    time.sleep(0.8)
    kids = stack.fpm_children()
    run.steps.append(f"SIGKILL the busy PHP-FPM child (pid {kids}) like the OOM killer would")
    for pid in kids:
        os.kill(pid, 9)
    t.join(timeout=10)
    run.record("GET /sleep.php", results)
    stack.wait_for_log(stack.p.fpm_log, "exited on signal 9", timeout=3)
