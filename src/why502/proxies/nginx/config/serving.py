"""Which targets nginx passes a request for a path to: its own location search, one request.

nginx's ``facts.routes.PathRouter`` (``ConfigFacts.router``, built by ``proxies.nginx.diagnose``):
the request target is normalised as ``ngx_http_parse_complex_uri()`` does
(:func:`why502.proxies.nginx.config.uri.normalize_uri_py`), the location is chosen by
:func:`why502.proxies.nginx.config.locations.match_location_py`, a port of
``ngx_http_core_find_location()`` (``src/http/ngx_http_core_module.c``: ``=`` exact at once, the
longest prefix remembered and its nested locations searched, ``^~`` stopping the regexes, else
the regexes in config order), and the answer is the ``*_pass`` targets of that location (and of
the ``if`` blocks inside it), a group's ``server`` lines for an ``upstream`` name.

Without ``Host`` (an access-log request line names none) the server is the port's default
server, which is right for one server only: with several servers that pass requests, the
answer is given only when every one of them routes the path to the same targets.
"""

from __future__ import annotations

from functools import cached_property

from why502.facts.net import hostport
from why502.proxies.nginx.config.match import MatchRule, rules_from_config
from why502.proxies.nginx.config.model import Location, NginxConfig
from why502.proxies.nginx.config.uri import normalize_uri_py

_VARIABLE = object()  # a pass whose address is a variable: where it goes is not in the config


class NginxRouter:
    """``serving(path, host)`` over one parsed config; the rules are built on first use (a
    diagnosis that never asks pays nothing)."""

    def __init__(self, cfg: NginxConfig) -> None:
        self._cfg = cfg

    @cached_property
    def _rules(self) -> list[MatchRule]:
        return rules_from_config(self._cfg)

    @cached_property
    def _merge_slashes(self) -> bool:
        # locations.py holds the vectorised matcher too (polars): imported when first asked
        from why502.proxies.nginx.config.locations import merge_slashes_from_config

        return merge_slashes_from_config(self._cfg, self._rules)

    @cached_property
    def _keys(self) -> dict[tuple[str, int], tuple[str, ...] | None]:
        """(file, line) of each name-matchable location -> its targets' keys (None: a pass
        through a variable, or to an ``upstream`` nginx resolves at run time)."""
        cfg = self._cfg
        by_pass: dict[tuple[str, int], object] = {}
        for _server, _loc, t in cfg.located_targets():
            if t.uses_variables:
                by_pass[(t.file, t.line)] = _VARIABLE
                continue
            peers = cfg.peers(t) if t.group else []
            by_pass[(t.file, t.line)] = tuple(
                f"unix:{p.unix_path}" if p.unix_path else hostport(p.host, p.port) for p in peers
            ) or (t.address,)
        out: dict[tuple[str, int], tuple[str, ...] | None] = {}

        def collect(loc: Location) -> tuple[str, ...] | None:
            keys: list[str] = []
            for d in loc.directives:
                got = by_pass.get((d.file, d.line))
                if got is _VARIABLE:
                    return None
                if isinstance(got, tuple):
                    keys += got
            for child in loc.locations:  # an ``if`` inside: its pass is this location's
                if child.modifier == "if":
                    inner = collect(child)
                    if inner is None:
                        return None
                    keys += inner
            return tuple(dict.fromkeys(keys))

        for server in cfg.servers:
            for loc in server.all_locations():
                if loc.modifier != "if":
                    out[(loc.file, loc.line)] = collect(loc)
        return out

    def serving(self, path: str, host: str | None = None) -> tuple[str, ...] | None:
        rules = self._rules
        uri = normalize_uri_py(path, self._merge_slashes)
        servers = [r for r in rules if r.kind == "server"]
        if not servers or uri is None:
            return None
        if host is not None or len(servers) == 1:
            hosts = [host or ""]
        else:  # each server by a name of its own, then agree or say nothing
            names = [next((n for n in r.server_names if n and not n.startswith(("~", "*", "."))
                           and "*" not in n), None) for r in servers]
            if None in names:
                return None
            hosts = [n for n in names if n is not None]
        from why502.proxies.nginx.config.locations import match_rule_py

        answers: set[tuple[str, ...] | None] = set()
        for h in hosts:
            rule = match_rule_py(rules, uri, h)
            answers.add(() if rule is None else self._keys.get((rule.file, rule.line), ()))
        return next(iter(answers)) if len(answers) == 1 else None


def nginx_router(cfg: NginxConfig) -> NginxRouter:
    """nginx's ``facts.routes.PathRouter`` for ``cfg`` (``proxies.nginx.diagnose``)."""
    return NginxRouter(cfg)
