"""An APISIX config's facts in the one cause model: a target per node of the upstream a route
resolves to (``ApisixConfig.resolve``: init.lua's order), a group per upstream, the timeouts
the route's requests get (``timeout.connect``/``timeout.send``/``timeout.read``, seconds: the
route's, else the upstream's, else nginx's 60 s, marked default) and ``retries`` (unset: nodes
minus one, balancer.lua), the file's lines.

The route a target is reached by is the route (``uri``, ``host``); what passes to the target is
the mapping whose ``timeout`` applies (``pass_line``: the route's when it sets one or when
neither does -- a timeout is added there -- else the upstream's): ``Proxy.timeout_diff`` edits it."""

from __future__ import annotations

from why502.evidence.model import GroupFact, TargetFact
from why502.facts.setting import Setting
from why502.proxies.apisix.config import DEFAULT_TIMEOUT, TIMEOUTS, ApisixConfig, Route, Upstream


def timeouts(route: Route, up: Upstream) -> tuple[dict[str, Setting], int | None]:
    """The route's requests' timeouts, keyed ``timeout.NAME``, and the line of the mapping that
    sets them (the route's, else the upstream's; the route's when neither: where one is added)."""
    written, line = (route.timeout, route.line) if route.timeout is not None else (up.timeout, up.line)
    if written is None:
        written, line = {}, route.line
    out = {f"timeout.{k}": written.get(k) or Setting(DEFAULT_TIMEOUT, None, None, True) for k in TIMEOUTS}
    return out, line


def apisix_facts(cfg: ApisixConfig) -> tuple[list[TargetFact], dict[str, GroupFact],
                                           dict[str, tuple[str, ...]]]:
    targets: list[TargetFact] = []
    groups: dict[str, GroupFact] = {}
    used: dict[str, Upstream] = {}
    for route in cfg.routes:
        up = cfg.resolve(route).upstream
        if up is None:
            continue
        used[up.id] = up
        settings, line = timeouts(route, up)
        retries_at = up.node.values_at["retries"][0] if up.node is not None and "retries" in up.node else None
        settings["retries"] = Setting(str(up.effective_retries), cfg.path if retries_at else None, retries_at,
                                      up.retries is None)
        settings["directive"] = Setting(f"route {route.id}", cfg.path, route.line, False)
        for n in up.nodes:
            targets.append(TargetFact(
                key=n.key, kind="proxy", scheme=up.scheme, host=n.host, port=n.port, group=up.name,
                file=cfg.path, line=n.line, server=route.hosts[0] if route.hosts else None,
                location=route.uris[0] if route.uris else route.name, settings=settings,
                pass_file=cfg.path, pass_line=line))
    for up in [*cfg.upstreams.values(), *(u for k, u in used.items() if k not in cfg.upstreams)]:
        groups[up.name] = GroupFact(
            name=up.name, servers=tuple(n.key for n in up.nodes), file=cfg.path, line=up.line,
            server_lines={n.key: (cfg.path, n.line or 0) for n in up.nodes})
    return targets, groups, {cfg.path: tuple(cfg.text.splitlines())}


def edge_facts(cfg: ApisixConfig) -> tuple[list[TargetFact], dict[str, GroupFact],
                                          dict[str, tuple[str, ...]], tuple[str, ...], list[str]]:
    """``Hooks.config_facts``: targets, groups, files, listens (none: APISIX listens where its
    node config's ``apisix.node_listen`` says, 9080 by default, not in this file), notes: the
    file's problems and each route whose upstream does not resolve (what APISIX answers)."""
    targets, groups, files = apisix_facts(cfg)
    notes = list(cfg.problems)
    for route in cfg.routes:
        res = cfg.resolve(route)
        if res.status is not None:
            notes.append(f"route {route.id} ({cfg.path}:{route.line}): APISIX answers {res.status} "
                         f"(\"{res.error}\")")
    return targets, groups, files, (), notes
