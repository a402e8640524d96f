"""An Envoy config (``proxies.envoy.config``) as the cause model's proxy-neutral facts: each
endpoint a ``TargetFact`` (its cluster the group, the first route sending to that cluster its
"location", with that route's ``timeout`` and the cluster's ``connect_timeout`` and upstream
``idle_timeout`` as its settings), each cluster a ``GroupFact``.  Named by the proxy's hook
``config_facts``; pure."""

from __future__ import annotations

from why502.evidence.model import GroupFact, TargetFact
from why502.facts.setting import Setting
from why502.proxies.envoy.config import EnvoyConfig


def envoy_facts(cfg: EnvoyConfig) -> tuple[list[TargetFact], dict[str, GroupFact], dict[str, tuple[str, ...]],
                                           tuple[str, ...], list[str]]:
    """(targets, groups, files' lines, listen addresses, notes) of ``cfg``."""
    files = {path: tuple(text.splitlines()) for path, text in cfg.texts.items()}
    targets: list[TargetFact] = []
    groups: dict[str, GroupFact] = {}
    for cl in cfg.clusters:
        route = next((r for r in cfg.routes if cl.name in r.clusters), None)
        settings: dict[str, Setting] = {"connect_timeout": cl.setting("connect_timeout"),
                                        "idle_timeout": cl.setting("idle_timeout"),
                                        "max_response_headers_kb": cl.setting("max_response_headers_kb")}
        if route is not None:
            settings["timeout"] = route.setting("timeout")
        keys = []
        for ep in cl.endpoints:
            key = f"unix:{ep.unix_path}" if ep.unix_path else ep.address
            keys.append(key)
            targets.append(TargetFact(
                key=key, kind="proxy", scheme="https" if cl.tls else "http", host=ep.host, port=ep.port,
                unix_path=ep.unix_path, group=cl.name, file=ep.file, line=ep.line,
                location=route.match if route else None, settings=settings,
                pass_file=route.file if route else None, pass_line=route.line if route else None))
        groups[cl.name] = GroupFact(
            name=cl.name, servers=tuple(keys), file=cl.file, line=cl.line,
            server_lines={k: (ep.file, ep.line) for k, ep in zip(keys, cl.endpoints) if ep.file and ep.line},
            keepalive_timeout=cl.setting("idle_timeout"))
    return targets, groups, files, tuple(li.address for li in cfg.listeners), list(cfg.problems)
