"""Lab scenarios: each reproduces one root cause (docs/causes/README.md) on a real nginx on loopback.

A scenario configures a :class:`~why502.lab.runtime.Stack`, provokes the failure with a few real
requests (bounded in count and time: timeouts of about one second), and returns the files to
diagnose.  ``SCENARIOS`` are the ones ``why502 lab`` offers (one per root cause that one machine
can reproduce); ``RECORDINGS`` adds symptom-only recipes used by ``scripts/record-fixtures`` to
capture every message nginx and PHP-FPM really write (send timeouts, broken pipes, TLS verify
errors...).

``expect`` lists regular expressions that must match the named log after ``run``: that proves a
scenario really produced its symptoms, independently of ``diagnose``.  The message texts come
from nginx's ``src/http/ngx_http_upstream.c``, ``src/event/ngx_event_connect.c`` and PHP-FPM's
``sapi/fpm/fpm/fpm_children.c`` / ``fpm_process_ctl.c`` / ``fpm_request.c`` (see
``docs/reference/proxy-messages.md``).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from why502.lab.runtime import (
    LabError,
    LabSkip,
    Response,
    Stack,
    free_port,
    ipv6_loopback_available,
    is_root,
    netns_unavailable,
)

if TYPE_CHECKING:
    from why502.app.diagnose import DiagnoseOptions

SERVER_NAME = "lab.example"

PHP_SCRIPTS = {
    "index.php": "<?php\necho \"ok from php\\n\";\n",
    "sleep.php": "<?php\nusleep((int)($_GET['ms'] ?? 2000) * 1000);\necho \"done\\n\";\n",
    "fatal.php": "<?php\n// a deploy removed the helper library\nrender_invoice_pdf($_GET['id'] ?? 1);\n",
    "maintenance.php": "<?php\n// the app's own maintenance switch\nhttp_response_code(503);\n"
                       "header('Retry-After: 120');\necho \"down for maintenance\\n\";\n",
    "segv.php": "<?php\n// a buggy extension segfaults the worker; posix_kill mimics it\n"
                "posix_kill(getmypid(), 11);\nsleep(1);\necho \"unreachable\\n\";\n",
}


@dataclass
class ScenarioRun:
    """What a scenario did and where its evidence is (paths inside the stack's temp dir)."""

    steps: list[str] = field(default_factory=list)
    responses: list[tuple[str, int | None]] = field(default_factory=list)
    nginx_conf: Path | None = None
    error_log: Path | None = None
    access_log: Path | None = None
    fpm_conf: Path | None = None
    fpm_log: Path | None = None
    # diagnose inputs beyond nginx/PHP-FPM: the kernel log (OOM kills), supervisord's log
    kernel_log: Path | None = None
    app_logs: list[Path] = field(default_factory=list)
    # called once at the height of an incident (the demo builder records listeners and probes)
    snapshot_hook: Callable[[Stack], None] | None = None

    def record(self, label: str, responses: list[Response]) -> None:
        for resp in responses:
            self.responses.append((label, resp.status))

    def diagnose_options(self, stack: Stack, **overrides: Any) -> DiagnoseOptions:
        """``DiagnoseOptions`` for this run's files (live checks on, 1 s probes).

        The kernel log is the scenario's own (the lines of its OOM kill) or an empty file, never
        the machine's ``dmesg``: that holds the OOM kills of earlier lab runs, which diagnose
        would rightly link to any backend that died in the same minutes.  Run ``diagnose`` inside
        ``stack.inside()`` so a stack in its own network namespace is probed from there.
        """
        from why502.app.diagnose import DiagnoseOptions

        kernel = self.kernel_log or stack.write_file("logs/kernel.log", "")
        options = DiagnoseOptions(
            nginx_conf=str(self.nginx_conf), error_logs=[str(self.error_log)],
            access_logs=[str(self.access_log)],
            fpm_conf=str(self.fpm_conf) if self.fpm_conf else None,
            fpm_logs=[str(self.fpm_log)] if self.fpm_log else [],
            kernel_log=str(kernel), app_logs=[str(p) for p in self.app_logs],
            offline=False, probe_timeout=1.0)
        for key, value in overrides.items():
            setattr(options, key, value)
        return options


@dataclass(frozen=True)
class Scenario:
    """One reproducible failure.  ``cause`` is the root cause diagnose must rank first."""

    name: str
    cause: str | None
    title: str
    description: str
    symptoms: tuple[str, ...]
    expect: tuple[tuple[str, str], ...]  # (log: error|access|fpm, regex)
    func: Callable[[Stack, ScenarioRun], None]
    needs: tuple[str, ...] = ()  # root, php-fpm, ipv6, openssl
    lab: bool = True  # offered by `why502 lab`; False: recording-only

    def check_requirements(self) -> None:
        """Raise LabSkip with a clear message when this machine cannot run the scenario."""
        from why502.lab.runtime import find_nginx, find_php_fpm

        if find_nginx() is None:
            raise LabSkip("nginx is not installed (apt-get install nginx-light)")
        if "root" in self.needs and not is_root():
            raise LabSkip(f"{self.name} needs root: nginx's workers must run as an unprivileged "
                          "user that the socket does not admit")
        if "php-fpm" in self.needs and find_php_fpm() is None:
            raise LabSkip(f"{self.name} needs php-fpm (apt-get install php-fpm)")
        if "node" in self.needs and shutil.which("node") is None:
            raise LabSkip(f"{self.name} is optional and needs node (Node.js), not installed here")
        if "ipv6" in self.needs and not ipv6_loopback_available():
            raise LabSkip(f"{self.name} needs IPv6 on the loopback interface (::1)")
        if "netns" in self.needs and (why := netns_unavailable()):
            raise LabSkip(f"{self.name} runs in its own network namespaces and {why}")
        if "cgroup" in self.needs and not is_root():
            raise LabSkip(f"{self.name} needs root: it puts the backend in its own memory cgroup")
        if "supervisord" in self.needs and shutil.which("supervisord") is None:
            raise LabSkip(f"{self.name} needs supervisord (apt-get install supervisor)")

    def run(self, stack: Stack, snapshot_hook: Callable[[Stack], None] | None = None) -> ScenarioRun:
        """Configure, provoke, and return where the evidence is.

        A scenario that runs in network namespaces leaves ``stack.netns`` set: diagnose the live
        stack inside it (``with stack.inside(): ...``) so probes reach what nginx reaches.
        """
        self.check_requirements()
        result = ScenarioRun(snapshot_hook=snapshot_hook)
        self.func(stack, result)
        time.sleep(0.3)  # nginx writes the access-log line after the response went out
        paths = stack.p
        result.nginx_conf = paths.nginx_conf
        result.error_log = paths.error_log
        result.access_log = paths.access_log
        if paths.fpm_conf.exists():
            result.fpm_conf = paths.fpm_conf
        if paths.fpm_log.exists():
            result.fpm_log = paths.fpm_log
        return result


    def unmet(self, run: ScenarioRun) -> list[str]:
        """The ``expect`` patterns that do not match the logs of ``run`` (empty: all produced)."""
        logs = {"error": run.error_log, "access": run.access_log, "fpm": run.fpm_log,
                "kernel": run.kernel_log, "app": run.app_logs[0] if run.app_logs else None}
        missing = []
        for log, pattern in self.expect:
            path = logs.get(log)
            text = path.read_text(errors="replace") if path is not None and path.exists() else ""
            if not re.search(pattern, text):
                missing.append(f"{log}: {pattern}")
        return missing


# -- config helpers ------------------------------------------------------------------------------


def server(stack: Stack, body: str) -> str:
    """A server block on the stack's port with ``body`` inside."""
    return (
        "server {\n"
        f"    listen {stack.listen};\n"
        f"    server_name {SERVER_NAME};\n"
        f"{_indent(body.strip(), 4)}\n"
        "}\n"
    )


def php_location(stack: Stack, fastcgi_pass: str, extra: str = "") -> str:
    return (
        "location ~ \\.php$ {\n"
        f"    fastcgi_pass {fastcgi_pass};\n"
        f"    {stack.fastcgi_params()}\n"
        + (f"    {extra}\n" if extra else "")
        + "}\n"
    )


def _indent(text: str, n: int) -> str:
    return "\n".join((" " * n + line) if line.strip() else line for line in text.splitlines())


def _dead_port() -> int:
    """A loopback port with nothing listening (free right now)."""
    return free_port()


# -- scenarios -----------------------------------------------------------------------------------


def _backend_down_tcp(stack: Stack, run: ScenarioRun) -> None:
    """A TCP connect to a closed loopback port completes asynchronously: nginx logs the
    ``connect() failed (111: ...)`` form from ``ngx_http_upstream_test_connect()``, no peer in the
    text (the peer is in ``upstream: "..."``)."""
    port = _dead_port()
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://127.0.0.1:{port};
        }}
    """))
    run.steps.append(f"nginx proxies to 127.0.0.1:{port}; the app that should listen there is stopped")
    run.record("GET /orders", stack.requests("/orders", count=3))


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


def _backend_down_fpm_missing_socket(stack: Stack, run: ScenarioRun) -> None:
    """ENOENT on the socket path: logged at ``[crit]`` (any errno outside the ``error`` list of
    ``ngx_event_connect_peer()``)."""
    sock = stack.p.run / "php8.2-fpm.sock"
    # PHP-FPM is installed and configured for this socket, but the service is stopped.
    stack.add_php_fpm({"listen": str(sock)}, scripts=PHP_SCRIPTS, start=False)
    stack.start_nginx(server(stack, php_location(stack, f"unix:{sock}")))
    run.steps.append(f"PHP-FPM (configured to listen on {sock}) is stopped; the socket is gone")
    run.record("GET /index.php", stack.requests("/index.php", count=3))


def _wrong_target_ipv6(stack: Stack, run: ScenarioRun) -> None:
    app = stack.add_backend("ok", name="api", host="::1")
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://127.0.0.1:{app.port};
        }}
    """))
    run.steps.append(f"the backend listens on [::1]:{app.port} only; nginx connects to 127.0.0.1:{app.port}")
    run.record("GET /api/items", stack.requests("/api/items", count=3))


def _wrong_target_fpm_socket(stack: Stack, run: ScenarioRun) -> None:
    pool = stack.add_php_fpm({"listen": str(stack.p.run / "php-fpm.sock")}, scripts=PHP_SCRIPTS)
    wrong = stack.p.run / "php8.2-fpm.sock"
    stack.start_nginx(server(stack, php_location(stack, f"unix:{wrong}")))
    run.steps.append(f"PHP-FPM listens on {pool.listen}; nginx's fastcgi_pass points at {wrong}")
    run.record("GET /index.php", stack.requests("/index.php", count=3))


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


def _backend_crashed_php_segfault(stack: Stack, run: ScenarioRun) -> None:
    pool = stack.add_php_fpm({"pm": "static", "pm.max_children": "2"}, scripts=PHP_SCRIPTS)
    stack.start_nginx(server(stack, php_location(stack, pool.fastcgi_pass)))
    run.record("GET /index.php", stack.requests("/index.php", count=2))
    run.steps.append("a PHP worker segfaults (signal 11) while handling /segv.php")
    run.record("GET /segv.php", stack.requests("/segv.php", count=2))
    stack.wait_for_log(stack.p.fpm_log, "exited on signal 11", timeout=3)


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


def _all_upstreams_down(stack: Stack, run: ScenarioRun) -> None:
    """``no live upstreams`` needs a group of two or more servers: a single-server group skips the
    max_fails bookkeeping (``peers->single`` in ngx_http_upstream_round_robin.c). Failed peers stay
    marked for ``fail_timeout`` even after they recover."""
    ports = [_dead_port() for _ in range(3)]
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


def _dns_unresolvable(stack: Stack, run: ScenarioRun) -> None:
    """A variable ``proxy_pass`` host is resolved per request by ``resolver``; NXDOMAIN becomes
    ``%V could not be resolved (3: Host not found)`` (``ngx_http_upstream_resolve_handler()``)."""
    dns = stack.add_backend("dns-nxdomain", name="dns")
    stack.start_nginx(server(stack, f"""
        resolver 127.0.0.1:{dns.port} valid=10s;
        resolver_timeout 1s;
        location / {{
            set $api_host "api.internal.example";
            proxy_pass http://$api_host:8080;
        }}
    """))
    run.steps.append("proxy_pass uses a variable host; the resolver answers NXDOMAIN for it")
    run.record("GET /v1/users", stack.requests("/v1/users", count=3))


def _dns_no_resolver(stack: Stack, run: ScenarioRun) -> None:
    stack.start_nginx(server(stack, """
        location / {
            set $api_host "api.internal.example";
            proxy_pass http://$api_host:8080;
        }
    """))
    run.steps.append("proxy_pass uses a variable host and there is no resolver directive")
    run.record("GET /v1/users", stack.requests("/v1/users", count=2))


def _dns_silent(stack: Stack, run: ScenarioRun) -> None:
    dns = stack.add_backend("dns-silent", name="dns")
    stack.start_nginx(server(stack, f"""
        resolver 127.0.0.1:{dns.port};
        resolver_timeout 1s;
        location / {{
            set $api_host "api.internal.example";
            proxy_pass http://$api_host:8080;
        }}
    """))
    run.steps.append("the resolver never answers (resolver_timeout 1s)")
    run.record("GET /v1/users", stack.requests("/v1/users", count=1))


def _tls_mismatch(stack: Stack, run: ScenarioRun) -> None:
    """The plain server answers the ClientHello with ``HTTP/1.1 400``; OpenSSL reads that as a bad
    record: ``wrong version number`` (``ngx_ssl_handshake()``, error level for this reason)."""
    app = stack.add_backend("ok", name="billing")
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass https://{app.address};
            proxy_connect_timeout 2s;
            proxy_read_timeout 2s;
        }}
    """))
    run.steps.append(f"nginx speaks TLS (proxy_pass https://) to {app.address}, a plain-HTTP port")
    run.record("GET /invoices", stack.requests("/invoices", count=3))


def _tls_verify(stack: Stack, run: ScenarioRun) -> None:
    """nginx's verify callback accepts everything and checks the result after the handshake, so the
    failure is ``upstream SSL certificate verify error: (18:self-signed certificate)``
    (``ngx_http_upstream_ssl_handshake()``), not a handshake error."""
    app = stack.add_backend("tls", name="billing")
    ca = stack.other_ca()
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass https://{app.address};
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate {ca};
            proxy_ssl_name localhost;
        }}
    """))
    run.steps.append("the backend's certificate is self-signed; proxy_ssl_verify on with another CA")
    run.record("GET /invoices", stack.requests("/invoices", count=2))


def _tls_no_sni(stack: Stack, run: ScenarioRun) -> None:
    app = stack.add_backend("tls-sni", name="edge")
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass https://{app.address};
            proxy_set_header Host api.partner.example;
        }}
    """))
    run.steps.append("the HTTPS upstream needs SNI to choose a certificate; nginx sends none "
                     "(proxy_ssl_server_name is off by default)")
    run.record("GET /v2/quote", stack.requests("/v2/quote", count=2))


def _protocol_http_to_fastcgi(stack: Stack, run: ScenarioRun) -> None:
    pool = stack.add_php_fpm({}, tcp=True, scripts=PHP_SCRIPTS)
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://{pool.listen};
        }}
    """))
    run.steps.append(f"proxy_pass http:// to {pool.listen}, which is a PHP-FPM (FastCGI) port")
    run.record("GET /index.php", stack.requests("/index.php", count=3))


def _protocol_fastcgi_to_http(stack: Stack, run: ScenarioRun) -> None:
    app = stack.add_backend("ok", name="web")
    stack.write_file("www/index.php", PHP_SCRIPTS["index.php"])
    stack.start_nginx(server(stack, php_location(stack, app.address, "fastcgi_read_timeout 2s;")))
    run.steps.append(f"fastcgi_pass to {app.address}, which speaks HTTP")
    run.record("GET /index.php", stack.requests("/index.php", count=3))


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


def _php_returns_503(stack: Stack, run: ScenarioRun) -> None:
    """The PHP app answers 503 itself (maintenance mode): PHP-FPM passes the status, nginx logs
    nothing in its error log, ``$upstream_header_time`` is numeric."""
    pool = stack.add_php_fpm({}, scripts=PHP_SCRIPTS)
    stack.start_nginx(server(stack, php_location(stack, pool.fastcgi_pass)))
    run.steps.append("the PHP application is switched to maintenance mode and answers 503 itself")
    run.record("GET /maintenance.php", stack.requests("/maintenance.php", count=3))


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


def _app_fatal_error(stack: Stack, run: ScenarioRun) -> None:
    pool = stack.add_php_fpm({}, scripts=PHP_SCRIPTS)
    stack.start_nginx(server(stack, php_location(stack, pool.fastcgi_pass)))
    run.steps.append("the PHP script calls a function that a deploy removed (PHP Fatal error)")
    run.record("GET /fatal.php", stack.requests("/fatal.php?id=7", count=3))


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


def _broken_pipe(stack: Stack, run: ScenarioRun) -> None:
    app = stack.add_backend("close-early", name="upload")
    stack.start_nginx(server(stack, f"""
        client_max_body_size 64m;
        location / {{
            proxy_pass http://{app.address};
        }}
    """))
    run.steps.append("the backend closes the connection while the 16 MB request body is being sent")
    # Whether nginx notices the reset in writev() or in the following recv() is a race; retry a
    # few times (bounded) until the sending side saw it, as it does for most uploads.
    body = b"x" * (16 << 20)
    for _ in range(6):
        run.record("POST /upload", [stack.request("/upload", method="POST", body=body)])
        if stack.wait_for_log(stack.p.error_log, "while sending request to upstream", timeout=0.3):
            break


def _invalid_header(stack: Stack, run: ScenarioRun) -> None:
    app = stack.add_backend("invalid-header", name="legacy")
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://{app.address};
        }}
    """))
    run.steps.append("the backend sends a header name with a control byte (\\x01)")
    run.record("GET /", stack.requests("/", count=2))


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


def _php_child_killed(stack: Stack, run: ScenarioRun) -> None:
    pool = stack.add_php_fpm({"pm": "static", "pm.max_children": "1"}, scripts=PHP_SCRIPTS)
    stack.start_nginx(server(stack, php_location(stack, pool.fastcgi_pass)))
    import threading

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


def _client_abort(stack: Stack, run: ScenarioRun) -> None:
    app = stack.add_backend("slow", name="search", delay=1.5)
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://{app.address};
        }}
    """), error_level="info")
    run.steps.append("clients give up after 0.3 s on a 1.5 s backend (499, info-level lines only)")
    run.record("GET /search", stack.requests("/search?q=x", count=3, concurrency=3, timeout=0.3))
    run.record("GET /search", [stack.request("/search?q=y", timeout=5)])
    time.sleep(1.5)


PHP_DEMO_SCRIPTS = {
    **PHP_SCRIPTS,
    "export.php": "<?php\n// builds a CSV export synchronously: seconds of work per request\n"
                  "usleep((int)($_GET['ms'] ?? 3500) * 1000);\nheader('Content-Type: text/csv');\n"
                  "echo \"id,total\\n1,42\\n\";\n",
}
BROWSER = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"


def _demo_fpm_exhausted(stack: Stack, run: ScenarioRun) -> None:
    """The demo incident: a slow export endpoint eats every PHP-FPM worker of the pool."""
    import threading

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


def _near_misses(stack: Stack, run: ScenarioRun) -> None:
    """Lines that look alarming next to 502s but are not upstream failures."""
    pool = stack.add_php_fpm({}, scripts=PHP_SCRIPTS)
    app = stack.add_backend("ok", name="files", body_bytes=8 << 20)
    stack.start_nginx(server(stack, php_location(stack, pool.fastcgi_pass) + f"""
        location /download/ {{
            proxy_pass http://{app.address};
            proxy_buffers 4 4k;
        }}
    """), error_level="info")
    run.steps.append("a request for a PHP script that does not exist (PHP-FPM answers 404)")
    run.record("GET /missing.php", stack.requests("/missing.php", count=1))
    run.steps.append("a slow client downloads 8 MB through small proxy_buffers (nginx spools the "
                     "response to a temp file)")
    with socket.create_connection(("127.0.0.1", stack.nginx_port), timeout=5) as sock:
        sock.sendall(b"GET /download/report.pdf HTTP/1.1\r\nHost: lab.example\r\nConnection: close\r\n\r\n")
        time.sleep(0.5)
        got = 0
        while chunk := sock.recv(1 << 20):
            got += len(chunk)
        run.record("GET /download/report.pdf", [Response(status=200 if got > (8 << 20) else None)])
    run.steps.append("a client that opens a keep-alive connection and leaves without a request")
    with socket.create_connection(("127.0.0.1", stack.nginx_port), timeout=2) as sock:
        sock.sendall(b"GET /index.php HTTP/1.1\r\nHost: lab.example\r\n\r\n")
        sock.recv(65536)
    time.sleep(0.3)


# -- scenarios that need the machine: cgroups, network namespaces, a supervisor ------------------


def _backend_oom_killed(stack: Stack, run: ScenarioRun) -> None:
    """A real kernel OOM kill: the backend runs in a memory cgroup of 64 MiB (no swap) and one
    endpoint allocates 256 MiB.  The kernel logs ``Memory cgroup out of memory: Killed process PID
    (python3)`` (``mm/oom_kill.c`` ``__oom_kill_process()``); nginx sees the connection close
    mid-request, then refusals.  The kernel lines about *this* kill (its PID, its cgroup) are
    copied to ``logs/kernel.log`` for ``--kernel-log``."""
    app = stack.add_backend("memhog", name="reports", alloc_mb=256, memory_limit_mb=64,
                            fail_path="/reports/")
    assert app.process is not None
    cgroup = stack.cgroups[-1]
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://{app.address};
        }}
    """))
    run.record("GET /health", stack.requests("/health", count=2))
    run.steps.append(f"the backend (pid {app.process.pid}) runs in memory cgroup {cgroup.name} "
                     "limited to 64 MiB, no swap; /reports/yearly builds a 256 MiB report in RAM")
    run.record("GET /reports/yearly", stack.requests("/reports/yearly", count=1))
    stack.wait_backend_exit(app)
    run.steps.append("the kernel OOM-killed it; nothing restarts it")
    run.record("GET /health", stack.requests("/health", count=2))
    run.kernel_log = _kernel_log_for(stack, app.process.pid, cgroup.name)


def _kernel_log_for(stack: Stack, pid: int, cgroup: str) -> Path:
    """The kernel's lines about one OOM kill (``dmesg -T``: wall-clock stamps), by PID and cgroup."""
    import subprocess

    needles = (f"Killed process {pid} (", f"pid={pid},", f"/{cgroup}")
    lines: list[str] = []
    for _ in range(20):  # the kernel prints the report just after the kill: bounded wait
        res = subprocess.run(["dmesg", "-T"], capture_output=True, text=True, timeout=10, check=False)
        if res.returncode != 0:
            raise LabSkip(f"cannot read the kernel log (dmesg -T): {res.stderr.strip()}")
        lines = [ln for ln in res.stdout.splitlines() if any(n in ln for n in needles)]
        if any("Killed process" in ln for ln in lines):
            break
        time.sleep(0.1)
    else:
        raise LabError(f"no OOM kill of pid {pid} in the kernel log")
    return stack.write_file("logs/kernel.log", "\n".join(lines) + "\n")


def _port_exhaustion(stack: Stack, run: ScenarioRun) -> None:
    """nginx opens one new connection per request without upstream keepalive; each takes a local
    port from ``net.ipv4.ip_local_port_range``.  In a private namespace the range is 4 ports, so
    the fifth concurrent connect fails in ``ngx_event_connect_peer()`` with EADDRNOTAVAIL:
    ``connect() to 127.0.0.1:P failed (99: Cannot assign requested address) while connecting to
    upstream`` (``[crit]``: 99 is not in the list of "expected" connect errors)."""
    ns = stack.use_netns({"net.ipv4.ip_local_port_range": "40000 40003",
                          "net.ipv4.tcp_tw_reuse": "0"})
    # a fixed port outside the tiny range: the namespace is private, nothing else listens there
    app = stack.add_backend("slow", name="api", delay=1.0, port=8080)
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://{app.address};
        }}
    """))
    run.steps.append(f"nginx and the backend run in network namespace {ns.name} whose "
                     "ip_local_port_range is 40000-40003 (4 ephemeral ports); no upstream keepalive")
    run.steps.append("10 concurrent requests to a backend that takes 1 s: every local port is busy")
    run.record("GET /api/search", stack.requests("/api/search", count=10, concurrency=10))


def _network_unreachable(stack: Stack, run: ScenarioRun) -> None:
    """The backend host is in another network namespace, joined by a veth pair (10.251.0.0/30,
    lab-private).  An ``unreachable`` route for it in nginx's namespace makes connect() fail with
    EHOSTUNREACH: ``connect() to 10.251.0.2:P failed (113: No route to host) while connecting to
    upstream`` (ngx_event_connect_peer())."""
    web = stack.use_netns()
    api = stack.add_netns("api")
    stack.link_netns(web, api, "10.251.0.1", "10.251.0.2")
    app = stack.add_backend("ok", name="api", host="10.251.0.2", port=8080, netns=api)
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://{app.address};
            proxy_connect_timeout 1s;
        }}
    """))
    run.steps.append(f"nginx runs in namespace {web.name} (10.251.0.1), the API host in "
                     f"{api.name} (10.251.0.2), joined by a veth pair")
    run.record("GET /api/items", stack.requests("/api/items", count=2))
    stack.netns_ip(web, "route", "add", "unreachable", "10.251.0.2/32")
    run.steps.append("a route change makes 10.251.0.2 unreachable from nginx's host "
                     "(ip route add unreachable 10.251.0.2/32)")
    run.record("GET /api/items", stack.requests("/api/items", count=3))


def _backend_crash_loop(stack: Stack, run: ScenarioRun) -> None:
    """supervisord (autorestart=true, startretries=2) restarts a backend that exits at start-up
    until it gives up: ``spawned:``, ``exited: app (exit status 1; not expected)``, ``gave up: app
    entered FATAL state, too many start retries too quickly`` (supervisor/process.py).  Meanwhile
    nginx gets connection refused."""
    app = stack.add_supervised_backend("fail-start", name="app", startretries=2, startsecs=5)
    stack.start_nginx(server(stack, f"""
        location / {{
            proxy_pass http://{app.address};
        }}
    """))
    run.steps.append("a deploy broke the app: it exits at start-up (DATABASE_URL is not set); "
                     "supervisord restarts it (autorestart=true, startretries=2)")
    # backoff 1 s + 2 s between the three starts (supervisor/process.py); bounded at 15 s.  The
    # app exits well within startsecs=5 even on a loaded machine, so every exit counts as a retry.
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        run.record("GET /", [stack.request("/")])
        if "gave up:" in stack.supervisor_log.read_text(errors="replace"):
            break
        time.sleep(0.7)
    run.steps.append("supervisord gave up: the program is in FATAL state")
    run.record("GET /", stack.requests("/", count=2))
    run.app_logs.append(stack.supervisor_log)

def _S(name: str, cause: str | None, title: str, description: str, symptoms: tuple[str, ...],
       expect: tuple[tuple[str, str], ...], func: Callable[[Stack, ScenarioRun], None],
       needs: tuple[str, ...] = (), lab: bool = True) -> Scenario:
    return Scenario(name, cause, title, description, symptoms, expect, func, needs, lab)


_ALL = [
    _S("backend-down-tcp", "backend-not-running", "The app behind nginx is stopped",
       "nginx proxies to a TCP port where nothing listens any more.",
       ("connection-refused",),
       (("error", r"connect\(\) failed \(111: Connection refused\) while connecting to upstream"),
        ("access", r'" 502 .*upstream_status="502"')),
       _backend_down_tcp),
    _S("backend-down-fpm", "backend-not-running", "PHP-FPM is stopped (socket missing)",
       "fastcgi_pass points at PHP-FPM's unix socket, but PHP-FPM is not running and the socket is gone.",
       ("socket-not-found",),
       (("error", r"\[crit\].*connect\(\) to unix:\S+ failed \(2: No such file or directory\)"),),
       _backend_down_fpm_missing_socket),
    _S("backend-down-fpm-stale-socket", "backend-not-running", "PHP-FPM died, its socket file stayed",
       "PHP-FPM was killed; its socket file is still on disk but nothing listens on it.",
       ("connection-refused",),
       (("error", r"connect\(\) to unix:\S+ failed \(111: Connection refused\)"),),
       _backend_down_fpm_stale_socket, lab=False),
    _S("wrong-target-ipv6", "wrong-target", "Backend on [::1], nginx on 127.0.0.1",
       "The backend binds the IPv6 loopback only, while proxy_pass names the IPv4 loopback.",
       ("connection-refused",),
       (("error", r"connect\(\) failed \(111: Connection refused\) while connecting to upstream"),),
       _wrong_target_ipv6, needs=("ipv6",)),
    _S("wrong-target-fpm-socket", "wrong-target", "fastcgi_pass names another socket path",
       "PHP-FPM listens on run/php-fpm.sock, nginx points at run/php8.2-fpm.sock (after an upgrade).",
       ("socket-not-found",),
       (("error", r"connect\(\) to unix:\S+php8\.2-fpm\.sock failed \(2: No such file or directory\)"),),
       _wrong_target_fpm_socket, needs=("php-fpm",)),
    _S("socket-permissions", "socket-permissions", "nginx workers may not open the PHP-FPM socket",
       "The socket is root:root 0660 and nginx's workers run as nobody.",
       ("permission-denied",),
       (("error", r"connect\(\) to unix:\S+ failed \(13: Permission denied\)"),),
       _socket_permissions, needs=("root", "php-fpm")),
    _S("backend-crashed-php", "backend-crashed", "A PHP worker segfaults mid-request",
       "A PHP-FPM child dies on signal 11 while serving a request; FPM respawns it.",
       ("connection-reset", "worker-crashed"),
       (("fpm", r"child \d+ exited on signal 11 \(SIGSEGV"),
        ("error", r"upstream prematurely closed|recv\(\) failed \(104")),
       _backend_crashed_php_segfault, needs=("php-fpm",)),
    _S("backend-crashed-reset", "backend-crashed", "The app drops connections mid-request",
       "The backend's worker dies while handling the request; the kernel answers with a reset.",
       ("connection-reset",),
       (("error", r"recv\(\) failed \(104: Connection reset by peer\) while reading response header"),),
       _backend_crashed_reset),
    _S("backend-crashed-node", "backend-crashed", "A Node.js app crashes on an uncaught exception",
       "A real Node process dies mid-request (uncaught TypeError), is refused while it restarts, "
       "then serves again. Optional: needs `node`.",
       ("premature-close", "connection-refused"),
       (("error", r"upstream prematurely closed connection while reading response header"),
        ("error", r"connect\(\) failed \(111: Connection refused\)")),
       _backend_crashed_node, needs=("node",)),
    _S("backend-too-slow", "backend-too-slow", "The backend answers after proxy_read_timeout",
       "The app needs 2.5 s, nginx waits 1 s: 504 Gateway Timeout (plus one client abort, 499).",
       ("read-timeout",),
       (("error", r"upstream timed out \(110: Connection timed out\) while reading response header"),
        ("access", r'" 504 '), ("access", r'" 499 ')),
       _backend_too_slow),
    _S("workers-exhausted-fpm", "workers-exhausted", "PHP-FPM pool exhausted (pm.max_children)",
       "Two PHP workers, a listen backlog of 2, ten slow requests at once: the backlog overflows.",
       ("backlog-full", "read-timeout", "fpm-max-children"),
       (("error", r"\(11: Resource temporarily unavailable\) while connecting to upstream"),
        ("error", r"upstream timed out \(110: Connection timed out\) while reading response header"),
        ("fpm", r"server reached (pm\.)?max_children setting \(2\)")),
       _workers_exhausted_fpm, needs=("php-fpm",)),
    _S("workers-exhausted-tcp", "workers-exhausted", "A stuck backend stops accepting connections",
       "All workers of a sync backend are busy: its accept queue is full, connects time out (504).",
       ("connect-timeout",),
       (("error", r"upstream timed out \(110: Connection timed out\) while connecting to upstream"),),
       _workers_exhausted_tcp),
    _S("buffer-too-small", "buffer-too-small", "Response headers bigger than proxy_buffer_size",
       "A login endpoint sets a 12 kB cookie; nginx's default proxy_buffer_size is one page.",
       ("header-too-big",),
       (("error", r"upstream sent too big header while reading response header from upstream"),),
       _buffer_too_small),
    _S("keepalive-race", "keepalive-race", "Backend closes idle keep-alive connections first",
       "nginx keeps upstream connections 60 s, the backend drops them after 0.3 s idle: reused "
       "connections fail; GETs are retried (error logged, client gets 200), POSTs get 502.",
       ("connection-reset",),
       (("error", r"recv\(\) failed \(104: Connection reset by peer\)|upstream prematurely closed"),),
       _keepalive_race),
    _S("keepalive-misconfigured", "keepalive-misconfigured", "upstream keepalive that never keeps alive",
       "The upstream has keepalive 16 but proxy_http_version is 1.0 and Connection is not cleared.",
       (), (("access", r'" 200 '),), _keepalive_misconfigured),
    _S("all-upstreams-down", "all-upstreams-down", "Every server of an upstream group failed",
       "All three servers of upstream app_cluster were restarting at once: nginx marked them failed "
       "and answers 502 'no live upstreams' for fail_timeout, even after they are back.",
       ("connection-refused", "no-live-upstreams", "upstream-marked-down"),
       (("error", r"no live upstreams while connecting to upstream"),
        ("error", r"upstream server temporarily disabled")),
       _all_upstreams_down),
    _S("dns-unresolvable", "dns-unresolvable", "The upstream name does not resolve",
       "A variable proxy_pass host gets NXDOMAIN from the configured resolver.",
       ("dns-failure",),
       (("error", r"could not be resolved \(3: Host not found\)"),),
       _dns_unresolvable),
    _S("dns-no-resolver", "dns-unresolvable", "Variable proxy_pass without a resolver",
       "proxy_pass http://$api_host:8080 with no resolver directive.",
       ("dns-failure",),
       (("error", r"no resolver defined to resolve api\.internal\.example"),),
       _dns_no_resolver, lab=False),
    _S("dns-timeout", "dns-unresolvable", "The resolver does not answer",
       "A variable proxy_pass host and a resolver that never replies.",
       ("dns-failure",),
       (("error", r"could not be resolved \(110: Operation timed out\)"),),
       _dns_silent, lab=False),
    _S("upstream-tls-mismatch", "upstream-tls-mismatch", "https:// to a plain-HTTP backend",
       "proxy_pass https:// to a port that speaks plain HTTP: the TLS handshake fails.",
       ("tls-failure",),
       (("error", r"SSL_do_handshake\(\) failed .*wrong version number"),),
       _tls_mismatch, needs=("openssl",)),
    _S("tls-verify-error", "upstream-tls-mismatch", "Upstream certificate not trusted",
       "proxy_ssl_verify on, and the backend's self-signed certificate is not in the trusted CAs.",
       ("tls-failure",),
       (("error", r"upstream SSL certificate verify error: \(18:self-signed certificate\)"),),
       _tls_verify, needs=("openssl",), lab=False),
    _S("tls-no-sni", "upstream-tls-mismatch", "HTTPS upstream requires SNI",
       "proxy_pass https:// to a server that rejects handshakes without SNI (alert 112).",
       ("tls-failure",),
       (("error", r"SSL_do_handshake\(\) failed .*unrecognized name"),),
       _tls_no_sni, needs=("openssl",), lab=False),
    _S("protocol-mismatch", "protocol-mismatch", "proxy_pass http:// to a PHP-FPM port",
       "nginx speaks HTTP to PHP-FPM's FastCGI port.",
       ("connection-reset",),
       (("error", r"upstream prematurely closed connection|no valid HTTP/1\.0 header|recv\(\) failed"),),
       _protocol_http_to_fastcgi, needs=("php-fpm",)),
    _S("protocol-fastcgi-to-http", "protocol-mismatch", "fastcgi_pass to an HTTP port",
       "nginx speaks FastCGI to a backend that speaks HTTP.",
       ("invalid-response",),
       (("error", r"upstream sent unsupported FastCGI protocol version: 72"),),
       _protocol_fastcgi_to_http, lab=False),
    _S("backend-crashed-exit", "backend-crashed", "The backend process dies mid-request",
       "The app is SIGKILLed during a request and not restarted: one premature close, then refusals.",
       ("premature-close", "connection-refused"),
       (("error", r"upstream prematurely closed connection while reading response header"),),
       _backend_crashed_exit, lab=False),
    _S("protocol-http-to-banner", "protocol-mismatch", "proxy_pass http:// to a non-HTTP port",
       "The port speaks a line protocol; nginx relays the bytes as HTTP/0.9 (status 009).",
       ("invalid-response",),
       (("error", r"upstream sent no valid HTTP/1\.0 header"), ("access", r'" 009 ')),
       _protocol_http_to_banner, lab=False),
    _S("protocol-http-to-tls", "protocol-mismatch", "proxy_pass http:// to a TLS port",
       "nginx speaks plain HTTP to a port that expects a TLS handshake.",
       ("connection-reset",),
       (("error", r"upstream prematurely closed|recv\(\) failed|no valid HTTP/1\.0 header"),),
       _protocol_http_to_tls, needs=("openssl",), lab=False),
    _S("truncated-body", "backend-crashed", "The backend dies after sending the header (200, truncated)",
       "Errors while reading the body leave the backend's 200 in the access log; the body is cut.",
       ("premature-close",),
       (("error", r"upstream prematurely closed connection while reading upstream"),
        ("access", r'" 200 ')),
       _truncated_body, lab=False),
    _S("body-read-timeout", "backend-too-slow", "The backend stalls mid-body (200, truncated)",
       "proxy_read_timeout fires between two body reads; the client already got 200.",
       ("read-timeout",),
       (("error", r"upstream timed out \(110: Connection timed out\) while reading upstream"),
        ("access", r'" 200 ')),
       _body_read_timeout, lab=False),
    _S("upstream-returned-5xx", "upstream-returned-5xx", "The 502 comes from the backend",
       "The backend is itself a gateway and answers 502; nginx only passes it on.",
       (),
       (("access", r'" 502 .*upstream_status="502" .*upstream_header_time="0\.\d+"'),),
       _upstream_returned_5xx),
    _S("php-returns-503", "upstream-returned-5xx", "The PHP app answers 503 itself",
       "A maintenance switch in the application returns 503 through PHP-FPM; nginx only relays it.",
       (),
       (("access", r'" 503 .*upstream_status="503" .*upstream_header_time="0\.\d+"'),),
       _php_returns_503, needs=("php-fpm",), lab=False),
    _S("fd-limit", "fd-limit", "worker_connections exhausted",
       "worker_connections 3: no connection slot is left for the upstream connection (500).",
       ("fd-exhaustion",),
       (("error", r"worker_connections are not enough"),),
       _fd_limit),
    _S("app-fatal-error", "app-fatal-error", "PHP Fatal error in the application",
       "The PHP script calls an undefined function; PHP answers 500 and nginx logs its stderr.",
       ("app-error",),
       (("error", r'FastCGI sent in stderr: "PHP message: PHP Fatal error'),),
       _app_fatal_error, needs=("php-fpm",)),
    _S("proxy-rate-limited", "proxy-rate-limited", "nginx's own limit_req answers 503",
       "limit_req 1r/s burst=1; a burst of requests is rejected with 503 by nginx itself.",
       (),
       (("error", r'limiting requests, excess: [\d.]+ by zone "api_limit"'), ("access", r'" 503 ')),
       _rate_limited),
    _S("send-timeout", "backend-too-slow", "The backend does not read the request body",
       "A 24 MB upload to a backend that never reads it; proxy_send_timeout 1s.",
       ("send-timeout",),
       (("error", r"upstream timed out \(110: Connection timed out\) while sending request to upstream"),),
       _send_timeout, lab=False),
    _S("broken-pipe", "backend-crashed", "The backend closes while the body is being sent",
       "A 16 MB upload; the backend gives up after the headers.",
       ("broken-pipe",),
       (("error", r"\((32: Broken pipe|104: Connection reset by peer)\) while sending request to upstream"),),
       _broken_pipe, lab=False),
    _S("invalid-header", None, "The backend sends an invalid header",
       "A header name containing a control byte.",
       ("invalid-response",),
       (("error", r"upstream sent invalid header"),),
       _invalid_header, lab=False),
    _S("php-worker-timeout", "backend-crashed", "PHP request killed by request_terminate_timeout",
       "A 4 s script; slowlog after 1 s, the worker is terminated after 2 s.",
       ("connection-reset", "slow-request", "worker-timeout", "worker-crashed"),
       (("fpm", r"execution timed out"), ("fpm", r"exited on signal 15")),
       _php_worker_timeout, needs=("php-fpm",), lab=False),
    _S("php-crash-loop", "backend-crashed", "PHP workers keep segfaulting: FPM reloads itself",
       "Repeated SIGSEGVs trip emergency_restart_threshold and the PHP-FPM master reloads.",
       ("connection-reset", "worker-crashed"),
       # the log also holds "failed processes threshold (3 in 10 sec) is reached, initiating
       # reload" (checked by tests/test_lab_scenarios.py, not listed here for classify's sake)
       (("fpm", r"exited on signal 11 \(SIGSEGV"),),
       _php_crash_loop, needs=("php-fpm",), lab=False),
    _S("php-child-killed", "backend-crashed", "A busy PHP worker is SIGKILLed",
       "The busy PHP-FPM child is killed with SIGKILL (what the OOM killer does).",
       ("connection-reset", "worker-crashed"),
       (("fpm", r"exited on signal 9 \(SIGKILL\)"),),
       _php_child_killed, needs=("php-fpm",), lab=False),
    _S("demo-fpm-exhausted", "workers-exhausted", "Slow exports exhaust the PHP-FPM pool",
       "Normal traffic, then 12 concurrent 3.5 s CSV exports against a pool of 4 workers with a "
       "listen backlog of 4: backlog-full 502s, 504 read timeouts, pm.max_children and slowlog "
       "warnings; the pool recovers afterwards (the bundled `why502 diagnose --demo` incident).",
       ("backlog-full", "read-timeout", "fpm-max-children", "slow-request"),
       (("error", r"\(11: Resource temporarily unavailable\) while connecting to upstream"),
        ("error", r"upstream timed out \(110: Connection timed out\) while reading response header"),
        ("fpm", r"server reached (pm\.)?max_children setting \(4\)"),
        ("fpm", r"executing too slow"),
        ("access", r'" 502 '), ("access", r'" 504 '), ("access", r'" 200 ')),
       _demo_fpm_exhausted, needs=("php-fpm",), lab=False),
    _S("near-misses", None, "Alarming-looking lines that are not upstream failures",
       "Primary script unknown (404), a response buffered to a temp file, a client closing its "
       "keep-alive connection (info level).",
       (),
       (("error", r'FastCGI sent in stderr: "Primary script unknown"'),
        ("error", r"an upstream response is buffered to a temporary file"),
        ("error", r"client \d+\.\d+\.\d+\.\d+ closed keepalive connection|client closed keepalive"),
        ("access", r'" 404 ')),
       _near_misses, needs=("php-fpm",), lab=False),
    _S("client-abort", None, "Clients give up first (499, not a backend failure)",
       "Near-miss: the client closes before the backend answers; nginx logs 499 at info level.",
       (),
       (("access", r'" 499 '), ("error", r"client prematurely closed connection")),
       _client_abort, lab=False),
    _S("backend-oom-killed", "backend-oom-killed", "The kernel OOM-kills the backend",
       "A real OOM kill: the backend's memory cgroup allows 64 MiB, one request allocates 256 MiB. "
       "Needs root and a writable memory cgroup.",
       ("premature-close", "connection-refused", "oom-kill"),
       (("error", r"upstream prematurely closed connection while reading response header"
                  r"|recv\(\) failed \(104: Connection reset by peer\)"),
        ("error", r"connect\(\) failed \(111: Connection refused\)"),
        ("kernel", r"Memory cgroup out of memory: Killed process \d+ \(python[\d.]*\)")),
       _backend_oom_killed, needs=("cgroup",)),
    _S("port-exhaustion", "port-exhaustion", "Ephemeral ports to the backend run out",
       "In its own network namespace with ip_local_port_range 40000-40003 and no upstream "
       "keepalive, concurrent requests exhaust the local ports. Needs root.",
       ("port-exhaustion",),
       (("error", r"connect\(\) to 127\.0\.0\.1:8080 failed \(99: Cannot assign requested address\) "
                  r"while connecting to upstream"),),
       _port_exhaustion, needs=("netns",)),
    _S("network-unreachable", "network-unreachable", "No route to the backend host",
       "nginx and the API host live in two network namespaces joined by a veth pair; a route "
       "change makes the API host unreachable. Needs root.",
       ("unreachable",),
       (("error", r"connect\(\) to 10\.251\.0\.2:8080 failed \(113: No route to host\) while "
                  r"connecting to upstream"),),
       _network_unreachable, needs=("netns",)),
    _S("backend-crash-loop", "backend-crash-loop", "The backend keeps dying at start-up (supervisord)",
       "A real supervisord restarts an app that exits at start-up until it gives up (FATAL); "
       "nginx gets connection refused meanwhile. Needs supervisord.",
       ("connection-refused", "unit-restart", "unit-failed"),
       (("error", r"connect\(\) failed \(111: Connection refused\)"),
        ("app", r"exited: app \(exit status 1; not expected\)"),
        ("app", r"gave up: app entered FATAL state, too many start retries too quickly")),
       _backend_crash_loop, needs=("supervisord",)),
]

RECORDINGS: dict[str, Scenario] = {s.name: s for s in _ALL}
SCENARIOS: dict[str, Scenario] = {s.name: s for s in _ALL if s.lab}
