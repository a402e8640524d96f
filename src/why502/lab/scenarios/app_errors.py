"""The application answers the error itself: nginx only relays a 5xx it received.

No upstream error in nginx's error log, a numeric ``$upstream_header_time`` in the access log;
a PHP Fatal error shows as ``FastCGI sent in stderr``.
"""

from __future__ import annotations

from why502.lab.runtime import Stack
from why502.lab.scenarios.common import PHP_SCRIPTS, php_location, proxy_location, server
from why502.lab.scenarios.model import ScenarioRun, scenario


@scenario(
    name="upstream-returned-5xx",
    cause="upstream-returned-5xx",
    title="The 502 comes from the backend",
    description="The backend is itself a gateway and answers 502; nginx only passes it on.",
    symptoms=(),
    expect=(("access", r'" 502 .*upstream_status="502" .*upstream_header_time="0\.\d+"'),),
)
def _upstream_returned_5xx(stack: Stack, run: ScenarioRun) -> None:
    """A 5xx sent by the backend is passed through without any error-log line; only a numeric
    ``$upstream_header_time`` proves the backend produced it."""
    app = stack.add_backend("status502", name="gateway")
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://{app.address};
        }}
    """))
    run.steps.append("the backend (itself a gateway) answers 502 Bad Gateway on its own")
    run.record("GET /search", stack.requests("/search", count=4))


@scenario(
    name="php-returns-503",
    cause="upstream-returned-5xx",
    title="The PHP app answers 503 itself",
    description="A maintenance switch in the application returns 503 through PHP-FPM; nginx only relays it.",
    symptoms=(),
    expect=(("access", r'" 503 .*upstream_status="503" .*upstream_header_time="0\.\d+"'),),
    needs=("php-fpm",),
)
def _php_returns_503(stack: Stack, run: ScenarioRun) -> None:
    """The PHP app answers 503 itself (maintenance mode): PHP-FPM passes the status, nginx logs
    nothing in its error log, ``$upstream_header_time`` is numeric."""
    pool = stack.add_php_fpm({}, scripts=PHP_SCRIPTS)
    stack.start_nginx(server(stack, php_location(stack, pool.fastcgi_pass)))
    run.steps.append("the PHP application is switched to maintenance mode and answers 503 itself")
    run.record("GET /maintenance.php", stack.requests("/maintenance.php", count=3))


@scenario(
    name="app-fatal-error",
    cause="app-fatal-error",
    title="PHP Fatal error in the application",
    description="The PHP script calls an undefined function; PHP answers 500 and nginx logs its stderr.",
    symptoms=("app-error",),
    expect=(("error", r'FastCGI sent in stderr: "PHP message: PHP Fatal error'),),
    needs=("php-fpm",),
)
def _app_fatal_error(stack: Stack, run: ScenarioRun) -> None:
    pool = stack.add_php_fpm({}, scripts=PHP_SCRIPTS)
    stack.start_nginx(server(stack, php_location(stack, pool.fastcgi_pass)))
    run.steps.append("the PHP script calls a function that a deploy removed (PHP Fatal error)")
    run.record("GET /fatal.php", stack.requests("/fatal.php?id=7", count=3))


@scenario(
    name="backend-5xx-combined-log",
    cause="upstream-returned-5xx",
    title="The backend answers 503 itself; the access log is nginx's default combined",
    description="No $upstream_status in the access log and nothing in the error log: only the "
                "probe's 503 and the per-location statuses tell who made the 5xx.",
    symptoms=(),
    expect=(("access", r'"GET /api/orders HTTP/1\.1" 503 '),),
)
def _backend_5xx_combined_log(stack: Stack, run: ScenarioRun) -> None:
    """The most common log setup: ``access_log ... combined`` (no upstream fields).  nginx passes
    the backend's 503 through and logs nothing in its error log (a complete response is not an
    error: ``ngx_http_upstream_process_header()`` in src/http/ngx_http_upstream.c)."""
    app = stack.add_backend("status503", name="orders")
    stack.start_nginx(server(stack, proxy_location(app.address, "/api/")), access_format="combined")
    run.steps.append("the orders backend is overloaded and answers 503 Service Unavailable itself")
    run.record("GET /api/orders", stack.requests("/api/orders", count=4))
