"""Upstream keep-alive: connections nginx keeps open to the backend, and how that goes wrong.

A backend that closes idle connections before nginx stops reusing them (sporadic 502 on
non-idempotent requests), and an ``upstream keepalive`` that never keeps anything alive.
"""

from __future__ import annotations

import time

from why502.lab.runtime import Stack
from why502.lab.scenarios.common import server
from why502.lab.scenarios.model import ScenarioRun, scenario


@scenario(
    name="keepalive-race",
    cause="keepalive-race",
    title="Backend closes idle keep-alive connections first",
    description="nginx keeps upstream connections 60 s, the backend drops them after 0.3 s idle: reused "
                "connections fail; GETs are retried (error logged, client gets 200), POSTs get 502.",
    symptoms=("connection-reset",),
    expect=(("error", r"recv\(\) failed \(104: Connection reset by peer\)|upstream prematurely closed"),),
)
def _keepalive_race(stack: Stack, run: ScenarioRun) -> None:
    """An error on a cached keep-alive connection is retried once without counting a try
    (``u->peer.cached`` in ``ngx_http_upstream_next()``), but a POST that was already sent is not
    retried (``proxy_next_upstream`` needs ``non_idempotent``): the race shows as sporadic 502s on
    non-idempotent requests."""
    app = stack.add_backend("keepalive-closer", name="api", idle_timeout=0.3)
    stack.start_nginx(f"""
        upstream api {{
            server {app.address};
            keepalive 8;
            keepalive_timeout 60s;
        }}
        {server(stack, '''
            location / {
                proxy_pass http://api;
                proxy_http_version 1.1;
                proxy_set_header Connection "";
            }
        ''')}
    """)
    run.steps.append("upstream keepalive 8 with keepalive_timeout 60s; the backend drops connections "
                     "idle for more than 0.3 s exactly when nginx reuses them")
    for _ in range(3):
        run.record("GET /api/ping", [stack.request("/api/ping")])
        time.sleep(0.5)
        # idempotent: nginx retries on a fresh connection, the client still gets 200
        run.record("GET /api/items", [stack.request("/api/items")])
        time.sleep(0.5)
        # non-idempotent: not retried once sent, the client gets 502
        run.record("POST /api/orders", [stack.request("/api/orders", method="POST", body=b"{}")])


@scenario(
    name="keepalive-misconfigured",
    cause="keepalive-misconfigured",
    title="upstream keepalive that never keeps alive",
    description="The upstream has keepalive 16 but proxy_http_version is 1.0 and Connection is not cleared.",
    symptoms=(),
    expect=(("access", r'" 200 '),),
)
def _keepalive_misconfigured(stack: Stack, run: ScenarioRun) -> None:
    app = stack.add_backend("ok", name="api")
    stack.start_nginx(f"""
        upstream api {{
            server {app.address};
            keepalive 16;
        }}
        {server(stack, '''
            location / {
                proxy_pass http://api;
            }
        ''')}
    """)
    run.steps.append("upstream keepalive 16 but no proxy_http_version 1.1 / Connection \"\": "
                     "every request opens a new connection")
    run.record("GET /api", stack.requests("/api", count=3))
