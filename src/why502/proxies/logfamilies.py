"""Every log family why502 reads as an edge's (``stats``, ``classify``, ``diagnose``, ``watch``,
``explain``): the families of the edges that are no registered proxy (``parsers.lblogs``) and
each registered proxy's own (``Hooks.log_family``: Envoy's, Caddy's, in their folders).

The readers of ``parsers.lblogs`` sit below this registry and name no proxy (issue 23): the
callers above ask here and hand the families down.  Resolved once, on first use (the proxies'
log modules are imported then, not by ``why502 --help``).
"""

from __future__ import annotations

from functools import lru_cache

from why502.parsers.lblogs import EDGE_FAMILIES, LogFamilies, LogFamily
from why502.proxies import PROXIES
from why502.proxies.base import resolve


@lru_cache(maxsize=1)
def families() -> LogFamilies:
    """Every log family, in their order (``LogFamily.rank``)."""
    own: list[LogFamily] = []
    for proxy in PROXIES.values():
        if proxy.hooks.log_family:
            fam = resolve(proxy.hooks.log_family)
            assert isinstance(fam, LogFamily), proxy.hooks.log_family
            own.append(fam)
    return LogFamilies((*EDGE_FAMILIES, *own))


def log_types() -> tuple[str, ...]:
    """The names ``--log-type`` takes besides ``auto`` and the default proxy's (nginx's readers)."""
    return families().names
