"""A Traefik dynamic config's facts in the one cause model: a target per ``loadBalancer``
server URL, a group per service, the effective ``forwardingTimeouts`` at each server (Traefik's
defaults when no ``serversTransport`` sets them: ``proxies.traefik.config``), the file's lines.

Services and routers are named as Traefik's logs and API name them: ``<name>@file``, the file
provider's suffix (https://doc.traefik.io/traefik/providers/overview/#provider-namespace), so an
access log's ``ServiceName``/``RouterName`` finds its config here."""

from __future__ import annotations

from why502.evidence.model import GroupFact, TargetFact
from why502.facts.setting import Setting
from why502.proxies.traefik.config import TraefikConfig

PROVIDER = "@file"


def traefik_facts(cfg: TraefikConfig) -> tuple[list[TargetFact], dict[str, GroupFact],
                                              dict[str, tuple[str, ...]]]:
    targets: list[TargetFact] = []
    groups: dict[str, GroupFact] = {}
    for svc in cfg.services.values():
        settings: dict[str, Setting] = dict(cfg.timeouts(svc))
        settings["directive"] = Setting(f"service {svc.name}", cfg.path, svc.line, False)
        routers = cfg.routers_of(svc.name)
        name = svc.name + PROVIDER
        for srv in svc.servers:
            host, port = srv.host_port
            scheme = srv.url.split(":", 1)[0] if "://" in srv.url else None
            targets.append(TargetFact(
                key=srv.key, kind="proxy", scheme=scheme, host=host, port=port,
                group=name, file=cfg.path, line=srv.line,
                server=routers[0].rule if routers else None,
                location=routers[0].name + PROVIDER if routers else None, settings=settings,
                pass_file=cfg.path, pass_line=routers[0].line if routers else svc.line))
        groups[name] = GroupFact(
            name=name, servers=tuple(s.key for s in svc.servers), file=cfg.path, line=svc.line,
            server_lines={s.key: (cfg.path, s.line or 0) for s in svc.servers})
    return targets, groups, {cfg.path: tuple(cfg.text.splitlines())}


def edge_facts(cfg: TraefikConfig) -> tuple[list[TargetFact], dict[str, GroupFact],
                                            dict[str, tuple[str, ...]], tuple[str, ...], list[str]]:
    """``Hooks.config_facts``: targets, groups, files, listens (none: entry points are static
    config, not in this file), notes."""
    targets, groups, files = traefik_facts(cfg)
    return targets, groups, files, (), list(cfg.problems)
