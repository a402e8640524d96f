"""What a proxy's admin API says about a server group right now, in words no proxy owns.

Envoy's admin API (``/clusters``, ``/stats``) gives, per cluster, each host's health flags and
the cluster's counters; a proxy's ``source`` plug-in reads it (``proxies.envoy.source``) and
puts it in these records, so the edge analyzers (``analyzers.edge_config``) weigh a host taken
out of balancing, an overflowing circuit breaker or counted connect failures without knowing
which proxy said so.  ``counters`` keep the proxy's own stat names (shown as evidence);
the properties are what the analyzers read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class HostLive:
    """One host (endpoint) of a group: its address and why the proxy does not send to it."""

    address: str
    flags: tuple[str, ...] = ()  # the proxy's own words: "/failed_outlier_check", ...
    out: bool = False  # taken out of load balancing (ejected, failed its health check, removed)
    ejected: bool = False  # out because passive checks (outlier detection) saw it fail requests
    reasons: tuple[str, ...] = ()  # each flag in a sentence: "ejected by outlier detection"
    counters: Mapping[str, int] = field(default_factory=dict)  # cx_connect_fail, rq_error, ...


@dataclass(frozen=True)
class GroupLive:
    """One group (Envoy's cluster) as the admin API showed it, with where it was read."""

    name: str
    source: str  # the URL read
    hosts: tuple[HostLive, ...] = ()
    counters: Mapping[str, int] = field(default_factory=dict)  # the proxy's stat names -> value
    # the proxy-neutral meaning of some counters, set by the plug-in that read them
    connect_failures: int = 0
    overflows: int = 0  # requests refused by a limit (circuit breaker, queue)
    remote_resets: int = 0  # connections the upstream closed with a request in flight
    retries: int = 0
    ejections_active: int = 0

    @property
    def hosts_out(self) -> tuple[HostLive, ...]:
        return tuple(h for h in self.hosts if h.out)

    @property
    def all_out(self) -> bool:
        return bool(self.hosts) and all(h.out for h in self.hosts)

    def host(self, address: str | None) -> HostLive | None:
        return next((h for h in self.hosts if address and h.address == address), None)
