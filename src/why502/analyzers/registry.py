"""THE list of analyzers (one module per cause family).

One explicit registry, no discovery magic (docs/architecture.md, "analyzers"): adding a family
means adding a module and one line here.  Each entry is a pure function
``Evidence -> list[Candidate]``; ``why502.analyzers.rank.run_all`` calls them in this order.

The families read the proxy's evidence, except ``edge`` (``analyzers.cloud_lb``), which reads
the load balancers' and edge proxies' own logs (``Evidence.edge``): it names, from another
source, causes the proxy families name too (the ones ``catalog/data/proxy_terms.toml`` points
to), so ``causes()`` lists each cause once.
"""

from __future__ import annotations

from collections.abc import Callable

from why502.analyzers import (
    application,
    backend_death,
    backend_down,
    capacity,
    cloud_lb,
    config_limits,
    connectivity,
    kubernetes,
    permissions,
    protocol,
    routing,
    unexplained,
)
from why502.analyzers.base import Candidate
from why502.evidence.model import Evidence

Analyzer = Callable[[Evidence], list[Candidate]]

# what the edge vocabulary points to (tests/diagnose/test_diagnose_analyzers.py checks it against
# catalog/data/proxy_terms.toml), the relayed backend 5xx, and the unexplained 5xx
EDGE_CAUSES: tuple[str, ...] = (
    "all-upstreams-down", "app-fatal-error", "backend-crashed", "backend-not-running", "buffer-too-small",
    "backend-too-slow", "dns-unresolvable", "keepalive-race", "network-unreachable",
    "protocol-mismatch", "proxy-misrouted", "proxy-rate-limited", "socket-permissions",
    "upstream-tls-mismatch", "workers-exhausted", "wrong-target", "upstream-returned-5xx",
    "unexplained-5xx")

# family name -> (analyzer, root causes it can produce)
REGISTRY: dict[str, tuple[Analyzer, tuple[str, ...]]] = {
    "backend-down": (backend_down.analyze,
                     ("backend-not-running", "wrong-target", "backend-crash-loop")),
    "backend-death": (backend_death.analyze, ("backend-oom-killed", "backend-crashed")),
    "permissions": (permissions.analyze, ("socket-permissions", "selinux-denial")),
    "capacity": (capacity.analyze, ("backend-too-slow", "workers-exhausted")),
    "config-limits": (config_limits.analyze,
                      ("buffer-too-small", "keepalive-misconfigured", "keepalive-race")),
    "connectivity": (connectivity.analyze,
                     ("all-upstreams-down", "dns-unresolvable", "network-unreachable",
                      "port-exhaustion", "fd-limit")),
    "protocol": (protocol.analyze,
                 ("upstream-tls-mismatch", "protocol-mismatch", "backend-invalid-response")),
    "application": (application.analyze, ("upstream-returned-5xx", "app-fatal-error")),
    # --k8s: what the cluster's objects prove (the OOM kill and crash loop of a pod are
    # backend-death's and backend-down's causes; they call kubernetes.oom / crash_loop)
    "kubernetes": (kubernetes.analyze,
                   ("no-ready-endpoints", "terminating-endpoint-routed", "readiness-probe-failing",
                    "backend-ref-unresolved")),
    "routing": (routing.analyze, ("proxy-rate-limited", "proxy-misrouted")),
    # a load balancer's / edge proxy's log: the causes its words point to, the backend's 5xx it
    # relayed, and its 5xx no word explains
    "edge": (cloud_lb.analyze, EDGE_CAUSES),
    # the last resort: kept only when no other family's candidate is (rank.fold)
    "unexplained": (unexplained.analyze, ("unexplained-5xx",)),
}


def causes() -> list[str]:
    """Every root cause some analyzer can produce, each once."""
    return list(dict.fromkeys(c for _, produced in REGISTRY.values() for c in produced))
