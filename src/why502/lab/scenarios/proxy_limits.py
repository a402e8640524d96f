"""Limits of the proxy itself: nginx answers the error on its own, the backend is fine.

Response headers larger than ``proxy_buffer_size``, ``worker_connections`` used up, requests
rejected by ``limit_req``.
"""

from __future__ import annotations

from why502.lab.runtime import Stack
from why502.lab.scenarios.common import server
from why502.lab.scenarios.model import ScenarioRun, scenario


@scenario(
    name="buffer-too-small",
    cause="buffer-too-small",
    title="Response headers bigger than proxy_buffer_size",
    description="A login endpoint sets a 12 kB cookie; nginx's default proxy_buffer_size is one page.",
    symptoms=("header-too-big",),
    expect=(("error", r"upstream sent too big header while reading response header from upstream"),),
)
def _buffer_too_small(stack: Stack, run: ScenarioRun) -> None:
    """The status line and headers must fit ``proxy_buffer_size`` (one page by default;
    ``ngx_http_upstream_process_header()`` logs ``upstream sent too big header``)."""
    app = stack.add_backend("bigheader", name="sso", header_bytes=12000)
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://{app.address};
        }}
    """))
    run.steps.append("the backend sends a 12 kB Set-Cookie; proxy_buffer_size is the default (4k|8k)")
    run.record("GET /login", stack.requests("/login", count=3))


@scenario(
    name="fd-limit",
    cause="fd-limit",
    title="worker_connections exhausted",
    description="worker_connections 3: no connection slot is left for the upstream connection (500).",
    symptoms=("fd-exhaustion",),
    expect=(("error", r"worker_connections are not enough"),),
)
def _fd_limit(stack: Stack, run: ScenarioRun) -> None:
    """The listening socket and the master-worker channel each hold one of the worker's
    connections (``ngx_event_process_init()``, ``ngx_add_channel_event()``), so with 3 the
    upstream connect fails in ``ngx_get_connection()``: ``3 worker_connections are not enough``
    and a 500."""
    app = stack.add_backend("ok", name="app")
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://{app.address};
        }}
    """), worker_connections=3)
    run.steps.append("worker_connections 3: the listening socket, the master's channel and the client "
                     "use every slot, none is left for the upstream connection")
    run.record("GET /", stack.requests("/", count=3))


@scenario(
    name="proxy-rate-limited",
    cause="proxy-rate-limited",
    title="nginx's own limit_req answers 503",
    description="limit_req 1r/s burst=1; a burst of requests is rejected with 503 by nginx itself.",
    symptoms=(),
    expect=(("error", r'limiting requests, excess: [\d.]+ by zone "api_limit"'), ("access", r'" 503 ')),
)
def _rate_limited(stack: Stack, run: ScenarioRun) -> None:
    """``limit_req`` rejects with ``limit_req_status`` (503 by default) and logs ``limiting
    requests, excess: ... by zone`` (ngx_http_limit_req_module.c)."""
    app = stack.add_backend("ok", name="api")
    stack.start_nginx(f"""
        limit_req_zone $binary_remote_addr zone=api_limit:1m rate=1r/s;
        {server(stack, f'''
            location / {{
                limit_req zone=api_limit burst=1 nodelay;
                proxy_pass http://{app.address};
            }}
        ''')}
    """)
    run.steps.append("limit_req 1r/s burst=1; a client sends 6 requests at once")
    run.record("GET /api", stack.requests("/api", count=6))
