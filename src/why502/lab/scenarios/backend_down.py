"""Backend down: nginx cannot connect because nothing listens where it connects.

The backend is stopped (refused, a missing or stale unix socket), listens somewhere else (the
other loopback family, another socket path), refuses nginx's workers the socket, or every server
of an upstream group is marked failed.  nginx logs these from ngx_event_connect_peer()
(src/event/ngx_event_connect.c) and ngx_http_upstream_next() (src/http/ngx_http_upstream.c).
"""

from __future__ import annotations

import os
import socket

from why502.lab.runtime import Stack
from why502.lab.scenarios.common import PHP_SCRIPTS, dead_port, php_location, proxy_location, server
from why502.lab.scenarios.model import ScenarioRun, scenario


@scenario(
    name="backend-down-tcp",
    cause="backend-not-running",
    title="The app behind nginx is stopped",
    description="nginx proxies to a TCP port where nothing listens any more.",
    symptoms=("connection-refused",),
    expect=(("error", r"connect\(\) failed \(111: Connection refused\) while connecting to upstream"),
            ("access", r'" 502 .*upstream_status="502"')),
)
def _backend_down_tcp(stack: Stack, run: ScenarioRun) -> None:
    """A TCP connect to a closed loopback port completes asynchronously: nginx logs the
    ``connect() failed (111: ...)`` form from ``ngx_http_upstream_test_connect()``, no peer in the
    text (the peer is in ``upstream: "..."``)."""
    port = dead_port()
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://127.0.0.1:{port};
        }}
    """))
    run.steps.append(f"nginx proxies to 127.0.0.1:{port}; the app that should listen there is stopped")
    run.record("GET /orders", stack.requests("/orders", count=3))


@scenario(
    name="backend-down-fpm",
    cause="backend-not-running",
    title="PHP-FPM is stopped (socket missing)",
    description="fastcgi_pass points at PHP-FPM's unix socket, but PHP-FPM is not running and the "
                "socket is gone.",
    symptoms=("socket-not-found",),
    expect=(("error", r"\[crit\].*connect\(\) to unix:\S+ failed \(2: No such file or directory\)"),),
)
def _backend_down_fpm_missing_socket(stack: Stack, run: ScenarioRun) -> None:
    """ENOENT on the socket path: logged at ``[crit]`` (any errno outside the ``error`` list of
    ``ngx_event_connect_peer()``)."""
    sock = stack.p.run / "php8.2-fpm.sock"
    # PHP-FPM is installed and configured for this socket, but the service is stopped.
    stack.add_php_fpm({"listen": str(sock)}, scripts=PHP_SCRIPTS, start=False)
    stack.start_nginx(server(stack, php_location(stack, f"unix:{sock}")))
    run.steps.append(f"PHP-FPM (configured to listen on {sock}) is stopped; the socket is gone")
    run.record("GET /index.php", stack.requests("/index.php", count=3))


@scenario(
    name="backend-down-fpm-stale-socket",
    cause="backend-not-running",
    title="PHP-FPM died, its socket file stayed",
    description="PHP-FPM was killed; its socket file is still on disk but nothing listens on it.",
    symptoms=("connection-refused",),
    expect=(("error", r"connect\(\) to unix:\S+ failed \(111: Connection refused\)"),),
)
def _backend_down_fpm_stale_socket(stack: Stack, run: ScenarioRun) -> None:
    """A unix-socket connect fails synchronously: ``connect() to unix:... failed (111: ...)`` from
    ``ngx_event_connect_peer()`` (src/event/ngx_event_connect.c)."""
    sock = stack.p.run / "php8.2-fpm.sock"
    # PHP-FPM was SIGKILLed: its socket file stays behind with nobody listening on it.
    leftover = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    leftover.bind(str(sock))
    leftover.close()
    stack.write_file("www/index.php", PHP_SCRIPTS["index.php"])
    stack.start_nginx(server(stack, php_location(stack, f"unix:{sock}")))
    run.steps.append(f"PHP-FPM is not running; its old socket file {sock} is still there")
    run.record("GET /index.php", stack.requests("/index.php", count=3))


@scenario(
    name="wrong-target-ipv6",
    cause="wrong-target",
    title="Backend on [::1], nginx on 127.0.0.1",
    description="The backend binds the IPv6 loopback only, while proxy_pass names the IPv4 loopback.",
    symptoms=("connection-refused",),
    expect=(("error", r"connect\(\) failed \(111: Connection refused\) while connecting to upstream"),),
    needs=("ipv6",),
)
def _wrong_target_ipv6(stack: Stack, run: ScenarioRun) -> None:
    app = stack.add_backend("ok", name="api", host="::1")
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://127.0.0.1:{app.port};
        }}
    """))
    run.steps.append(f"the backend listens on [::1]:{app.port} only; nginx connects to 127.0.0.1:{app.port}")
    run.record("GET /api/items", stack.requests("/api/items", count=3))


@scenario(
    name="wrong-target-fpm-socket",
    cause="wrong-target",
    title="fastcgi_pass names another socket path",
    description="PHP-FPM listens on run/php-fpm.sock, nginx points at run/php8.2-fpm.sock "
                "(after an upgrade).",
    symptoms=("socket-not-found",),
    expect=(("error", r"connect\(\) to unix:\S+php8\.2-fpm\.sock failed \(2: No such file or directory\)"),),
    needs=("php-fpm",),
)
def _wrong_target_fpm_socket(stack: Stack, run: ScenarioRun) -> None:
    pool = stack.add_php_fpm({"listen": str(stack.p.run / "php-fpm.sock")}, scripts=PHP_SCRIPTS)
    wrong = stack.p.run / "php8.2-fpm.sock"
    stack.start_nginx(server(stack, php_location(stack, f"unix:{wrong}")))
    run.steps.append(f"PHP-FPM listens on {pool.listen}; nginx's fastcgi_pass points at {wrong}")
    run.record("GET /index.php", stack.requests("/index.php", count=3))


@scenario(
    name="socket-permissions",
    cause="socket-permissions",
    title="nginx workers may not open the PHP-FPM socket",
    description="The socket is root:root 0660 and nginx's workers run as nobody.",
    symptoms=("permission-denied",),
    expect=(("error", r"connect\(\) to unix:\S+ failed \(13: Permission denied\)"),),
    needs=("root", "php-fpm"),
)
def _socket_permissions(stack: Stack, run: ScenarioRun) -> None:
    """EACCES needs a worker user the socket does not admit, so this runs as root only
    (nginx ignores ``user`` when the master is not root: ``ngx_set_user()``,
    src/core/nginx.c)."""
    os.chmod(stack.root, 0o711)  # noqa: S103 - let the unprivileged worker traverse to the socket
    pool = stack.add_php_fpm({"listen.owner": "root", "listen.group": "root", "listen.mode": "0660"},
                             scripts=PHP_SCRIPTS)
    stack.start_nginx(server(stack, php_location(stack, pool.fastcgi_pass)), worker_user="nobody")
    run.steps.append(f"PHP-FPM socket {pool.listen} is root:root 0660; nginx workers run as nobody")
    run.record("GET /index.php", stack.requests("/index.php", count=3))


@scenario(
    name="all-upstreams-down",
    cause="all-upstreams-down",
    title="Every server of an upstream group failed",
    description="All three servers of upstream app_cluster were restarting at once: nginx marked them failed "
                "and answers 502 'no live upstreams' for fail_timeout, even after they are back.",
    symptoms=("connection-refused", "no-live-upstreams", "upstream-marked-down"),
    expect=(("error", r"no live upstreams while connecting to upstream"),
            ("error", r"upstream server temporarily disabled")),
)
def _all_upstreams_down(stack: Stack, run: ScenarioRun) -> None:
    """``no live upstreams`` needs a group of two or more servers: a single-server group skips the
    max_fails bookkeeping (``peers->single`` in ngx_http_upstream_round_robin.c). Failed peers stay
    marked for ``fail_timeout`` even after they recover."""
    ports = [dead_port() for _ in range(3)]
    servers = "\n".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=30s;" for p in ports)
    stack.start_nginx(f"""
        upstream app_cluster {{
        {servers}
        }}
        {server(stack, '''
            location / {
                proxy_pass http://app_cluster;
            }
        ''')}
    """)
    run.steps.append("a rolling deploy restarts all 3 servers of upstream app_cluster at once")
    run.record("GET /", stack.requests("/", count=1))
    for n, port in enumerate(ports, 1):
        stack.add_backend("ok", name=f"app{n}", port=port)
    run.steps.append("the 3 servers are back, but nginx keeps them marked failed for fail_timeout=30s")
    run.record("GET /", stack.requests("/", count=3))


@scenario(
    name="upstream-down-in-config",
    cause="all-upstreams-down",
    title="Every server of the group is marked down in the config",
    description="Both servers of upstream shop_pool carry `down` (a maintenance flag left in "
                "place): they run and answer, but nginx tries none and answers 502 'no live "
                "upstreams'.  The config is the cause; the fix removes `down`.",
    symptoms=("no-live-upstreams",),
    expect=(("error", r"no live upstreams while connecting to upstream"),
            ("access", r'" 502 ')),
)
def _upstream_down_in_config(stack: Stack, run: ScenarioRun) -> None:
    """A server marked ``down`` is skipped by the balancer (``peer->down`` in
    ngx_http_upstream_round_robin.c); with every one down there is nothing to try."""
    apps = [stack.add_backend("ok", name=f"shop{n}") for n in (1, 2)]
    servers = "\n".join(f"    server {a.address} down;" for a in apps)
    stack.start_nginx(f"""
        upstream shop_pool {{
        {servers}
        }}
        {server(stack, proxy_location("shop_pool"))}
    """)
    run.steps.append("both servers of upstream shop_pool run, but the config marks them down")
    run.record("GET /cart", stack.requests("/cart", count=3))


@scenario(
    name="group-all-stopped",
    cause="backend-not-running",
    title="Every server of an upstream group is stopped",
    description="Both servers of upstream api_pool are stopped: nginx marks them failed and answers "
                "'no live upstreams'; the cause is that nothing runs, not the marking.",
    symptoms=("connection-refused", "no-live-upstreams", "upstream-marked-down"),
    expect=(("error", r"no live upstreams while connecting to upstream"),
            ("error", r"connect\(\) failed \(111: Connection refused\)")),
)
def _group_all_stopped(stack: Stack, run: ScenarioRun) -> None:
    """``no live upstreams`` is a consequence: nginx marks each server failed after max_fails
    failures (``ngx_http_upstream_free_round_robin_peer()``); what failed is the root cause."""
    ports = [dead_port() for _ in range(2)]
    servers = "\n".join(f"    server 127.0.0.1:{p} max_fails=1 fail_timeout=30s;" for p in ports)
    stack.start_nginx(f"""
        upstream api_pool {{
        {servers}
        }}
        {server(stack, '''
            location / {
                proxy_pass http://api_pool;
            }
        ''')}
    """)
    run.steps.append("both servers of upstream api_pool were stopped by a deploy that failed")
    run.record("GET /", stack.requests("/", count=4))


@scenario(
    name="two-causes-two-locations",
    cause="backend-not-running",
    title="Two causes at once: /api/ is stopped, /reports/ is too slow",
    description="The API backend is stopped (502 on every request) while the reports backend "
                "answers after proxy_read_timeout (504): two root causes, most requests first.",
    symptoms=("connection-refused", "read-timeout"),
    expect=(("error", r"connect\(\) failed \(111: Connection refused\)"),
            ("error", r"upstream timed out \(110: Connection timed out\)")),
)
def _two_causes(stack: Stack, run: ScenarioRun) -> None:
    """Each location's failure is its own cause; neither may hide the other (``diagnose`` lists
    both, the one behind more failed requests first: ``analyzers.rank.score``)."""
    slow = stack.add_backend("slow", name="reports", delay=1.5)
    stack.start_nginx(server(stack, proxy_location(f"127.0.0.1:{dead_port()}", "/api/")
                             + proxy_location(slow.address, "/reports/", "proxy_read_timeout 1s;")))
    run.steps.append("the API backend is stopped; the reports backend needs 1.5 s, nginx waits 1 s")
    run.record("GET /api/orders", stack.requests("/api/orders", count=6))
    run.record("GET /reports/daily", stack.requests("/reports/daily", count=2, concurrency=2))


@scenario(
    name="wrong-target-loopback",
    cause="wrong-target",
    title="Backend on 127.0.0.2, nginx on 127.0.0.1",
    description="The backend binds another loopback address (127.0.0.2, from a copied .env or a "
                "container's published address) while proxy_pass names 127.0.0.1: same port, "
                "refused; the socket table shows the port on the other address.",
    symptoms=("connection-refused",),
    expect=(("error", r"connect\(\) failed \(111: Connection refused\) while connecting to upstream"),),
)
def _wrong_target_loopback(stack: Stack, run: ScenarioRun) -> None:
    """Linux answers the whole 127.0.0.0/8 on ``lo``, but a socket bound to 127.0.0.2 does not
    accept connections to 127.0.0.1 (``inet_lookup_listener()`` matches the bound address)."""
    app = stack.add_backend("ok", name="api", host="127.0.0.2")
    stack.start_nginx(server(stack, proxy_location(f"127.0.0.1:{app.port}")))
    run.steps.append(f"the backend listens on 127.0.0.2:{app.port}; nginx connects to "
                     f"127.0.0.1:{app.port}")
    run.record("GET /api/items", stack.requests("/api/items", count=3))


@scenario(
    name="past-incident-recovered",
    cause="backend-not-running",
    title="An outage that has ended (use --since)",
    description="The app was stopped for a while (502s, connection refused), then started again "
                "and answers: diagnose names the old cause as a past incident; diagnose --since "
                "the recovery says healthy.",
    symptoms=("connection-refused",),
    expect=(("error", r"connect\(\) failed \(111: Connection refused\) while connecting to upstream"),
            ("access", r'" 502 .*upstream_status="502"'), ("access", r'" 200 ')),
)
def _past_incident_recovered(stack: Stack, run: ScenarioRun) -> None:
    """The second boundary matters: log times are per second, so the recovery is stamped one
    second after the last failure and the requests after it wait for that second."""
    import time
    from datetime import datetime, timedelta

    port = dead_port()
    stack.start_nginx(server(stack, proxy_location(f"127.0.0.1:{port}")))
    run.steps.append(f"the app on 127.0.0.1:{port} is stopped: requests fail")
    run.record("GET /orders", stack.requests("/orders", count=3))
    recovered = (datetime.now() + timedelta(seconds=1)).replace(microsecond=0)
    stack.add_backend("ok", name="orders", port=port)
    time.sleep(max(0.0, (recovered - datetime.now()).total_seconds()) + 0.05)
    run.since = recovered.isoformat()
    run.steps.append(f"the app is started again at {run.since} and answers")
    run.record("GET /orders", stack.requests("/orders", count=4))
