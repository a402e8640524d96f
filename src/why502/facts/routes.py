"""What the statistics engine needs of a proxy's routes: the label of the route each logged
request took, as a column expression, and the notes on what could not be matched exactly.

Why a protocol here and not the config model: ``evidence.stats`` (the engine's row plan and
accumulator) and ``app.watch`` group requests by route for every proxy, and must not import any
proxy's folder (issue 23 item 2; ``pyproject.toml``'s forbidden contract).  nginx's
``proxies.nginx.config.locations.LocationModel`` satisfies it (its ``location`` blocks in
nginx's own matching order: ngx_http_core_module "location"); its stats plug-in
(``proxies.nginx.stats``) builds one from the config.  A proxy whose access log names the route
itself (HAProxy's backend) needs none.  I/O-free; polars is named for the type checker only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import polars as pl


class RouteModel(Protocol):
    """A config's routes, as the statistics engine matches requests to them."""

    def __bool__(self) -> bool:
        """Is there any route besides the servers themselves (else there is nothing to match)?"""
        ...

    def label_expr(self, request: pl.Expr, host: pl.Expr, *, target: str = "request") -> pl.Expr:
        """The route label (``"server route"``) of each row.  ``target`` says what ``request``
        holds: the request line (``$request``), the raw target (``$request_uri``) or the
        normalised URI (``$uri``)."""
        ...

    def notes(self) -> list[str]:
        """What the matching could not do exactly (one sentence each), for the report's notes."""
        ...


class PathRouter(Protocol):
    """Which of a config's targets a request for a path is sent to, as the proxy itself decides
    it (its own matcher: nginx's ``ngx_http_core_find_location()``, Apache's ``proxy_trans()``
    and its sections), built by the proxy's ``diagnose`` plug-in from the config it read
    (``app.diagnose.proxies.ProxyView.router``, then ``ConfigFacts.router``).

    Why a protocol and not a matcher of its own in the analyzers: a route's meaning is the
    proxy's (prefix, regex, nesting, first or longest match), and a second matcher beside the
    proxy's drifts from it (issue 25: the analyzers' ``_serves`` it replaces).  A proxy without
    one leaves ``ConfigFacts.router`` None: the analyzers then cannot tell and say nothing."""

    def serving(self, path: str, host: str | None = None) -> tuple[str, ...] | None:
        """The identity keys of the targets a request for ``path`` (the request target, a
        query string allowed) is passed to: ``()`` when the route it takes passes it to none
        (served by the proxy itself), None when it cannot be told (no route matcher for this
        config, or, with ``host`` unknown, servers that would route it differently)."""
        ...
