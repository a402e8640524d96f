"""A Kong declarative config's facts in the one cause model: a target per upstream target (or,
for a service whose ``host`` names no upstream, the service's own ``host:port``), a group per
upstream, each service's ``connect_timeout``/``write_timeout``/``read_timeout`` (ms) and
``retries`` at its targets (Kong's defaults when unset: ``proxies.kong.config``), the file's lines.

The route a target is reached by is the service's first route (its ``name``); what passes to the
target is the service (``pass_line``: where ``read_timeout`` is set or added)."""

from __future__ import annotations

from why502.evidence.model import GroupFact, TargetFact
from why502.facts.setting import Setting
from why502.proxies.kong.config import KongConfig, Target


def kong_facts(cfg: KongConfig) -> tuple[list[TargetFact], dict[str, GroupFact],
                                         dict[str, tuple[str, ...]]]:
    targets: list[TargetFact] = []
    groups: dict[str, GroupFact] = {}
    for svc in cfg.services:
        settings: dict[str, Setting] = dict(svc.settings)
        settings["directive"] = Setting(f"service {svc.name}", cfg.path, svc.line, False)
        up = cfg.upstream_of(svc)
        route = svc.routes[0] if svc.routes else None
        members = up.targets if up is not None else (Target(f"{svc.host}:{svc.port}", svc.line),)
        for t in members:
            host, port = t.host_port
            targets.append(TargetFact(
                key=t.key, kind="proxy", scheme=svc.protocol, host=host, port=port,
                group=up.name if up is not None else None, file=cfg.path, line=t.line,
                server=route.hosts[0] if route and route.hosts else None,
                location=route.name if route else None, settings=settings,
                pass_file=cfg.path, pass_line=svc.line))
    for up in cfg.upstreams.values():
        groups[up.name] = GroupFact(
            name=up.name, servers=tuple(t.key for t in up.targets), file=cfg.path, line=up.line,
            server_lines={t.key: (cfg.path, t.line or 0) for t in up.targets})
    return targets, groups, {cfg.path: tuple(cfg.text.splitlines())}


def edge_facts(cfg: KongConfig) -> tuple[list[TargetFact], dict[str, GroupFact],
                                         dict[str, tuple[str, ...]], tuple[str, ...], list[str]]:
    """``Hooks.config_facts``: targets, groups, files, listens (none: Kong's listeners are
    ``proxy_listen`` in kong.conf, not in this file), notes."""
    targets, groups, files = kong_facts(cfg)
    return targets, groups, files, (), list(cfg.problems)
