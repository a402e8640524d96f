"""Every lab scenario, collected from the family modules in a stable order.

``RECORDINGS`` holds every scenario (``scripts/record-fixtures`` runs them all to capture real
messages); ``SCENARIOS`` only those ``why502 lab`` offers (``lab=True``: faults of production one
machine can reproduce).  Both keep the order of :data:`ORDER`, then the scenarios it does not
name, family by family in the order of :data:`FAMILIES` and of each module.  A new scenario is one
decorated function in its family module; a new family module is one more entry in ``FAMILIES``.
"""

from __future__ import annotations

from why502.lab.scenarios import (
    apache,
    app_errors,
    backend_death,
    backend_down,
    caddy,
    dns_tls,
    envoy,
    haproxy,
    keepalive,
    near_misses,
    protocol,
    proxy_limits,
    slow_and_capacity,
    system,
)
from why502.lab.scenarios.model import Scenario, declared_in

FAMILIES = (backend_down, backend_death, slow_and_capacity, proxy_limits, keepalive, dns_tls,
            protocol, app_errors, near_misses, system, haproxy, apache, envoy, caddy)

# The order of `why502 lab list` (and of the recorded fixtures, the demo and the tests made from
# it) for the scenarios that were there when the families became modules.  New scenarios are not
# added here: they follow, in family order.
ORDER = (
    "backend-down-tcp", "backend-down-fpm", "backend-down-fpm-stale-socket", "wrong-target-ipv6",
    "wrong-target-fpm-socket", "socket-permissions", "backend-crashed-php", "backend-crashed-reset",
    "backend-crashed-node", "backend-too-slow", "workers-exhausted-fpm", "workers-exhausted-tcp",
    "buffer-too-small", "keepalive-race", "keepalive-misconfigured", "all-upstreams-down",
    "dns-unresolvable", "dns-no-resolver", "dns-timeout", "upstream-tls-mismatch",
    "tls-verify-error", "tls-no-sni", "protocol-mismatch", "protocol-fastcgi-to-http",
    "backend-crashed-exit", "protocol-http-to-banner", "protocol-http-to-tls", "truncated-body",
    "body-read-timeout", "upstream-returned-5xx", "php-returns-503", "fd-limit", "app-fatal-error",
    "proxy-rate-limited", "send-timeout", "broken-pipe", "invalid-header", "php-worker-timeout",
    "php-crash-loop", "php-child-killed", "demo-fpm-exhausted", "near-misses", "client-abort",
    "backend-oom-killed", "port-exhaustion", "network-unreachable", "backend-crash-loop",
)


def collect() -> dict[str, Scenario]:
    """Every declared scenario by name, in the listing order (see the module docstring)."""
    declared = [s for family in FAMILIES for s in declared_in(family)]
    by_name = {s.name: s for s in declared}
    missing = [name for name in ORDER if name not in by_name]
    if missing:
        raise ValueError(f"ORDER names scenarios no family module declares: {', '.join(missing)}")
    listed = set(ORDER)
    rest = [s for s in declared if s.name not in listed]
    return {s.name: s for s in [*(by_name[name] for name in ORDER), *rest]}


RECORDINGS: dict[str, Scenario] = collect()
SCENARIOS: dict[str, Scenario] = {name: s for name, s in RECORDINGS.items() if s.lab}
