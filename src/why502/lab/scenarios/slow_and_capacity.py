"""Slow backends and exhausted capacity: the backend is alive but answers too late or not at all.

Read and send timeouts (``proxy_read_timeout``, ``proxy_send_timeout``, also between two reads
of a body), a PHP-FPM pool whose workers are all busy (``pm.max_children``, a full listen
backlog), a backend whose accept queue is full, and the bundled demo incident built on the same
failure.  The timeout messages come from ``ngx_http_upstream_next()`` with FT_TIMEOUT
(src/http/ngx_http_upstream.c), the pool warnings from sapi/fpm/fpm/fpm_process_ctl.c.
"""

from __future__ import annotations

import threading
import time

from why502.lab.runtime import Response, Stack
from why502.lab.scenarios.common import PHP_SCRIPTS, php_location, server
from why502.lab.scenarios.model import ScenarioRun, scenario


@scenario(
    name="backend-too-slow",
    cause="backend-too-slow",
    title="The backend answers after proxy_read_timeout",
    description="The app needs 2.5 s, nginx waits 1 s: 504 Gateway Timeout (plus one client abort, 499).",
    symptoms=("read-timeout",),
    expect=(("error", r"upstream timed out \(110: Connection timed out\) while reading response header"),
            ("access", r'" 504 '), ("access", r'" 499 ')),
)
def _backend_too_slow(stack: Stack, run: ScenarioRun) -> None:
    app = stack.add_backend("slow", name="reports", delay=2.5)
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://{app.address};
            proxy_read_timeout 1s;
        }}
    """), error_level="info")
    run.steps.append("the backend needs 2.5 s per request; proxy_read_timeout is 1s")
    run.record("GET /reports/daily", stack.requests("/reports/daily", count=3, concurrency=3))
    run.steps.append("one impatient client gives up after 0.3 s (a 499 near-miss)")
    run.record("GET /reports/weekly", [stack.request("/reports/weekly", timeout=0.3)])
    time.sleep(1.0)


@scenario(
    name="body-read-timeout",
    cause="backend-too-slow",
    title="The backend stalls mid-body (200, truncated)",
    description="proxy_read_timeout fires between two body reads; the client already got 200.",
    symptoms=("read-timeout",),
    expect=(("error", r"upstream timed out \(110: Connection timed out\) while reading upstream"),
            ("access", r'" 200 ')),
    lab=False,
)
def _body_read_timeout(stack: Stack, run: ScenarioRun) -> None:
    """``proxy_read_timeout`` also applies between two reads of the body: ``upstream timed out
    ... while reading upstream``, logged with the 200 the client already received."""
    app = stack.add_backend("stall-body", name="export", delay=3)
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://{app.address};
            proxy_read_timeout 1s;
        }}
    """))
    run.steps.append("the backend sends 200 and 4 kB, then stalls for 3 s; proxy_read_timeout 1s")
    run.record("GET /export.csv", stack.requests("/export.csv", count=1))


@scenario(
    name="send-timeout",
    cause="backend-too-slow",
    title="The backend does not read the request body",
    description="A 24 MB upload to a backend that never reads it; proxy_send_timeout 1s.",
    symptoms=("send-timeout",),
    expect=(("error", r"upstream timed out \(110: Connection timed out\) "
                      r"while sending request to upstream"),),
    lab=False,
)
def _send_timeout(stack: Stack, run: ScenarioRun) -> None:
    """Once the backend's receive buffer is full nginx's writes stall; ``proxy_send_timeout``
    then ends the request with ``upstream timed out ... while sending request to upstream``."""
    app = stack.add_backend("noread", name="upload", delay=3)
    stack.start_nginx(server(stack, f"""
        client_max_body_size 64m;
        location / {{
            proxy_pass http://{app.address};
            proxy_send_timeout 1s;
        }}
    """))
    run.steps.append("the backend never reads the request body; a 24 MB upload; proxy_send_timeout 1s")
    run.record("POST /upload", [stack.request("/upload", method="POST", body=b"x" * (24 << 20))])


@scenario(
    name="workers-exhausted-fpm",
    cause="workers-exhausted",
    title="PHP-FPM pool exhausted (pm.max_children)",
    description="Two PHP workers, a listen backlog of 2, ten slow requests at once: the backlog overflows.",
    symptoms=("backlog-full", "read-timeout", "fpm-max-children"),
    expect=(("error", r"\(11: Resource temporarily unavailable\) while connecting to upstream"),
            ("error", r"upstream timed out \(110: Connection timed out\) while reading response header"),
            ("fpm", r"server reached (pm\.)?max_children setting \(2\)")),
    needs=("php-fpm",),
)
def _workers_exhausted_fpm(stack: Stack, run: ScenarioRun) -> None:
    """A full unix-socket backlog makes a non-blocking connect() fail with EAGAIN, which nginx
    logs at ``error`` (special case for Linux unix sockets in ``ngx_event_connect_peer()``);
    PHP-FPM's maintenance timer logs ``server reached pm.max_children`` (fpm_process_ctl.c)."""
    pool = stack.add_php_fpm({"pm": "dynamic", "pm.max_children": "2", "pm.start_servers": "1",
                              "pm.min_spare_servers": "1", "pm.max_spare_servers": "2",
                              "listen.backlog": "2"}, scripts=PHP_SCRIPTS)
    stack.start_nginx(server(stack, php_location(stack, pool.fastcgi_pass,
                                                 "fastcgi_read_timeout 2s;")))
    run.record("GET /index.php", stack.requests("/index.php", count=4))
    run.steps.append("pool has pm.max_children = 2 and listen.backlog = 2; 10 concurrent slow requests")
    run.record("GET /sleep.php", stack.requests("/sleep.php?ms=2500", count=10, concurrency=10))
    stack.wait_for_log(stack.p.fpm_log, "max_children", timeout=2)


@scenario(
    name="workers-exhausted-tcp",
    cause="workers-exhausted",
    title="A stuck backend stops accepting connections",
    description="All workers of a sync backend are busy: its accept queue is full, connects time out (504).",
    symptoms=("connect-timeout",),
    expect=(("error", r"upstream timed out \(110: Connection timed out\) while connecting to upstream"),),
)
def _workers_exhausted_tcp(stack: Stack, run: ScenarioRun) -> None:
    """When a listener's accept queue is full Linux drops new SYNs (tcp_abort_on_overflow = 0), so
    nginx waits ``proxy_connect_timeout`` and logs ``upstream timed out ... while connecting to
    upstream`` (504, ``ngx_http_upstream_next()`` with FT_TIMEOUT)."""
    app = stack.add_backend("blackhole", name="legacy")
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://{app.address};
            proxy_connect_timeout 1s;
        }}
    """))
    run.steps.append("every worker of the backend is stuck: it stopped accepting and its listen "
                     "queue is full, so the kernel drops new SYNs")
    run.record("GET /", stack.requests("/", count=2, concurrency=2))


PHP_DEMO_SCRIPTS = {
    **PHP_SCRIPTS,
    "export.php": "<?php\n// builds a CSV export synchronously: seconds of work per request\n"
                  "usleep((int)($_GET['ms'] ?? 3500) * 1000);\nheader('Content-Type: text/csv');\n"
                  "echo \"id,total\\n1,42\\n\";\n",
}
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


@scenario(
    name="demo-fpm-exhausted",
    cause="workers-exhausted",
    title="Slow exports exhaust the PHP-FPM pool",
    description="Normal traffic, then 12 concurrent 3.5 s CSV exports against a pool of 4 workers with a "
                "listen backlog of 4: backlog-full 502s, 504 read timeouts, pm.max_children and slowlog "
                "warnings; the pool recovers afterwards (the bundled `why502 diagnose --demo` incident).",
    symptoms=("backlog-full", "read-timeout", "fpm-max-children", "slow-request"),
    expect=(("error", r"\(11: Resource temporarily unavailable\) while connecting to upstream"),
            ("error", r"upstream timed out \(110: Connection timed out\) while reading response header"),
            ("fpm", r"server reached (pm\.)?max_children setting \(4\)"),
            ("fpm", r"executing too slow"),
            ("access", r'" 502 '), ("access", r'" 504 '), ("access", r'" 200 ')),
    needs=("php-fpm",),
    lab=False,
)
def _demo_fpm_exhausted(stack: Stack, run: ScenarioRun) -> None:
    """The demo incident: a slow export endpoint eats every PHP-FPM worker of the pool."""

    pool = stack.add_php_fpm({
        "pm": "dynamic", "pm.max_children": "4", "pm.start_servers": "2",
        "pm.min_spare_servers": "1", "pm.max_spare_servers": "3", "listen.backlog": "4",
        "request_slowlog_timeout": "1s", "slowlog": str(stack.p.root / "logs" / "php-fpm-slow.log"),
    }, scripts=PHP_DEMO_SCRIPTS)
    stack.start_nginx(server(stack, php_location(stack, pool.fastcgi_pass, "fastcgi_read_timeout 3s;")
                             + "location / {\n    try_files $uri /index.php?$query_string;\n}\n"))
    ua = {"User-Agent": BROWSER}
    run.steps.append("normal traffic: pages answered by PHP-FPM in milliseconds")
    for page in range(1, 9):
        run.record("GET /index.php", [stack.request(f"/index.php?page={page}", headers=ua)])
    run.steps.append("a customer's script starts 12 CSV exports at once (/export.php, 3.5 s each); "
                     "the pool has pm.max_children = 4 and listen.backlog = 4")
    exports: list[Response] = []
    burst = threading.Thread(target=lambda: exports.extend(
        stack.requests("/export.php?ms=3500", count=12, concurrency=12, headers=ua)))
    burst.start()
    time.sleep(0.5)
    run.steps.append("meanwhile ordinary visitors get 502s (backlog full) and 504s (queued too long)")
    run.record("GET /index.php", stack.requests("/index.php?page=home", count=6, concurrency=3, headers=ua))
    if run.snapshot_hook is not None:
        run.snapshot_hook(stack)
    burst.join(timeout=20)
    run.record("GET /export.php", exports)
    stack.wait_for_log(stack.p.fpm_log, "max_children", timeout=2)
    run.steps.append("after the burst the pool recovers")
    run.record("GET /index.php", stack.requests("/index.php?page=after", count=3, headers=ua))
