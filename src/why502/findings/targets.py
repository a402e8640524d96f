"""What to probe: a backend's address as the config names it (``ProbeTarget``).

A plain record, I/O-free, below ``facts`` so that the result types may carry it: ``diagnose``
probes it (``sources.probes``, whose results are ``facts.probes``, which re-exports it) and a fix
plan (``findings.plan.Change.targets``) names the targets ``fix --apply`` probes again to verify
its change (``app.fix.verify``).  Moved from ``facts.probes`` (issue 23, item 5).
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PORTS = {"http": 80, "https": 443, "grpc": 80, "grpcs": 443}


@dataclass(frozen=True)
class ProbeTarget:
    """What to probe: ``kind`` is the nginx module (proxy|fastcgi|uwsgi|scgi|grpc|memcached)."""

    kind: str = "proxy"
    scheme: str = "http"  # http|https|grpc|grpcs (uwsgi/scgi/fastcgi targets: "http" is ignored)
    host: str | None = None
    port: int | None = None
    unix_path: str | None = None
    group: str | None = None  # an upstream{} name: probe its servers instead
    uses_variables: bool = False  # the address is only known per request
    # the proxy's own nameservers for ``host`` (``host:port``; HAProxy's ``resolvers`` section):
    # the probe asks the first of them, as the proxy does, not the host's resolver
    # (``sources.probes.dnsask``)
    resolvers: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        """``http://127.0.0.1:8080``, ``fastcgi unix:/run/php/php8.2-fpm.sock`` (for summaries)."""
        if self.unix_path:
            where = f"unix:{self.unix_path}"
        else:
            host = f"[{self.host}]" if self.host and ":" in self.host else (self.host or "?")
            where = f"{host}:{self.effective_port}"
        if self.kind in ("proxy", "grpc"):
            return f"{self.scheme}://{where}"
        return f"{self.kind} {where}"

    @property
    def tls(self) -> bool:
        return self.scheme in ("https", "grpcs")

    @property
    def effective_port(self) -> int | None:
        if self.port is not None:
            return self.port
        if self.kind in ("proxy", "grpc"):
            return DEFAULT_PORTS.get(self.scheme)
        return None
