"""Protocol mismatch: nginx and the backend do not speak the same protocol.

HTTP to a FastCGI port, FastCGI to an HTTP port, HTTP to a line protocol or to a TLS port, and a
backend whose headers are not valid HTTP (src/http/modules/ngx_http_proxy_module.c,
ngx_http_fastcgi_module.c).
"""

from __future__ import annotations

from why502.lab.runtime import Stack
from why502.lab.scenarios.common import PHP_SCRIPTS, php_location, proxy_location, server
from why502.lab.scenarios.model import ScenarioRun, scenario


@scenario(
    name="protocol-mismatch",
    cause="protocol-mismatch",
    title="proxy_pass http:// to a PHP-FPM port",
    description="nginx speaks HTTP to PHP-FPM's FastCGI port.",
    symptoms=("connection-reset",),
    expect=(("error", r"upstream prematurely closed connection|no valid HTTP/1\.0 header|recv\(\) failed"),),
    needs=("php-fpm",),
)
def _protocol_http_to_fastcgi(stack: Stack, run: ScenarioRun) -> None:
    pool = stack.add_php_fpm({}, tcp=True, scripts=PHP_SCRIPTS)
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://{pool.listen};
        }}
    """))
    run.steps.append(f"proxy_pass http:// to {pool.listen}, which is a PHP-FPM (FastCGI) port")
    run.record("GET /index.php", stack.requests("/index.php", count=3))


@scenario(
    name="protocol-fastcgi-to-http",
    cause="protocol-mismatch",
    title="fastcgi_pass to an HTTP port",
    description="nginx speaks FastCGI to a backend that speaks HTTP.",
    symptoms=("invalid-response",),
    expect=(("error", r"upstream sent unsupported FastCGI protocol version: 72"),),
)
def _protocol_fastcgi_to_http(stack: Stack, run: ScenarioRun) -> None:
    app = stack.add_backend("ok", name="web")
    stack.write_file("www/index.php", PHP_SCRIPTS["index.php"])
    stack.start_nginx(server(stack, php_location(stack, app.address, "fastcgi_read_timeout 2s;")))
    run.steps.append(f"fastcgi_pass to {app.address}, which speaks HTTP")
    run.record("GET /index.php", stack.requests("/index.php", count=3))


@scenario(
    name="protocol-http-to-banner",
    cause="protocol-mismatch",
    title="proxy_pass http:// to a non-HTTP port",
    description="The port speaks a line protocol; nginx relays the bytes as HTTP/0.9 (status 009).",
    symptoms=("invalid-response",),
    expect=(("error", r"upstream sent no valid HTTP/1\.0 header"), ("access", r'" 009 ')),
)
def _protocol_http_to_banner(stack: Stack, run: ScenarioRun) -> None:
    """A reply without an HTTP status line is relayed as HTTP/0.9: ``upstream sent no valid
    HTTP/1.0 header`` and access-log status ``009`` (``ngx_http_proxy_process_status_line()``)."""
    app = stack.add_backend("banner", name="cache")
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://{app.address};
        }}
    """))
    run.steps.append(f"proxy_pass http:// to {app.address}, a cache server that does not speak HTTP")
    run.record("GET /", stack.requests("/", count=2))


@scenario(
    name="protocol-http-to-tls",
    cause="protocol-mismatch",
    title="proxy_pass http:// to a TLS port",
    description="nginx speaks plain HTTP to a port that expects a TLS handshake.",
    symptoms=("connection-reset",),
    expect=(("error", r"upstream prematurely closed|recv\(\) failed|no valid HTTP/1\.0 header"),),
    needs=("openssl",),
    lab=False,
)
def _protocol_http_to_tls(stack: Stack, run: ScenarioRun) -> None:
    app = stack.add_backend("tls", name="billing")
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://{app.address};
            proxy_read_timeout 2s;
        }}
    """))
    run.steps.append(f"proxy_pass http:// to {app.address}, which only speaks TLS")
    run.record("GET /invoices", stack.requests("/invoices", count=2))


@scenario(
    name="invalid-header",
    cause="backend-invalid-response",
    title="The backend sends an invalid header",
    description="An HTTP backend writes a header name containing a control byte; nginx answers 502.",
    symptoms=("invalid-response",),
    expect=(("error", r"upstream sent invalid header"),),
)
def _invalid_header(stack: Stack, run: ScenarioRun) -> None:
    app = stack.add_backend("invalid-header", name="legacy")
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://{app.address};
        }}
    """))
    run.steps.append("the backend sends a header name with a control byte (\\x01)")
    run.record("GET /", stack.requests("/", count=2))


@scenario(
    name="backend-bad-status-line",
    cause="backend-invalid-response",
    title="The backend writes a status line without a code",
    description="An HTTP backend answers 'HTTP/1.1 OK'; nginx relays it as HTTP/0.9 (status 009).",
    symptoms=("invalid-response",),
    expect=(("error", r"upstream sent no valid HTTP/1\.0 header"), ("access", r'" 009 ')),
)
def _bad_status_line(stack: Stack, run: ScenarioRun) -> None:
    """A status line that does not parse (``ngx_http_parse_status_line()`` wants three digits)
    is relayed as HTTP/0.9 with ``upstream sent no valid HTTP/1.0 header``: the same line a port
    of another protocol causes, so only the probe (which gets ``HTTP/1.1 OK``) tells them apart."""
    app = stack.add_backend("bad-status-line", name="legacy")
    stack.start_nginx(server(stack, proxy_location(app.address)))
    run.steps.append("the legacy backend writes its status line by hand and forgets the code")
    run.record("GET /", stack.requests("/", count=2))
