"""Is a server failing *now*?  A mitigation acts only on a server whose own evidence says so: a
live probe of its address (``sources.probes.probe``: connect, then ``GET /``), the same probe
diagnose runs.  A refused or reset connection, a timeout, a non-HTTP answer or a 5xx status is
failing; any other HTTP answer is serving."""

from __future__ import annotations

from dataclasses import dataclass

from why502.facts.probes import ProbeTarget
from why502.sources.probes import probe


@dataclass(frozen=True)
class Health:
    failing: bool
    evidence: str  # one line: what the probe saw


def check(host: str | None, port: int | None, unix_path: str | None = None, timeout: float = 2.0) -> Health:
    """Probe one server (a ``GET /`` over HTTP; connect-only for a unix socket it cannot ask)."""
    result = probe(ProbeTarget(host=host, port=port, unix_path=unix_path), timeout=timeout)
    status = result.protocol.status if result.protocol is not None else None
    if result.ok and status is not None and status >= 500:
        return Health(True, f"{result.detail} (answers {status} itself)")
    return Health(not result.ok, result.detail)
