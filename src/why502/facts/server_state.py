"""What a proxy's runtime API says about one server right now, in words no proxy owns.

A proxy with health checks and a runtime API (``Capability.HEALTH_CHECKED_SERVERS``) reports per
server its state (up, down, in maintenance, draining, going up or down), the last health check
(its code and sentence), the queue, the sessions and the server's connection limit.  HAProxy's
``show stat`` and ``show servers state`` are parsed into it by ``proxies.haproxy.runtime``
(doc/management.txt 9.1 and 9.3); evidence and analyzers read this record, never the proxy's
text.  The state keeps the proxy's own words (``UP``, ``DOWN``, ``MAINT``, ``NOLB``, ``UP 1/3``;
check codes such as ``L4CON``) because they are shown as evidence.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerState:
    """One ``backend/server`` row of ``show stat``."""

    backend: str
    server: str
    status: str  # UP, DOWN, MAINT, NOLB, "UP 1/3" (going down), "DOWN 1/2" (going up), no check
    address: str | None = None
    check_status: str | None = None  # L4CON, L4TOUT, L6RSP, L7STS, L7TOUT, ...
    check_desc: str | None = None  # "Layer4 connection problem"
    last_check: str | None = None  # "Connection refused"
    queued: int = 0  # qcur
    sessions: int = 0  # scur
    limit: int | None = None  # slim: the server's maxconn
    backup: bool = False

    @property
    def name(self) -> str:
        return f"{self.backend}/{self.server}"

    @property
    def down(self) -> bool:
        return self.status.startswith(("DOWN", "MAINT"))

    @property
    def reason(self) -> str:
        """"Layer4 connection problem: Connection refused (L4CON)", or ''."""
        parts = [p for p in (self.check_desc, self.last_check) if p]
        text = ": ".join(parts)
        return f"{text} ({self.check_status})" if self.check_status and text else text
