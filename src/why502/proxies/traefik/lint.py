"""Traefik (dynamic config, file provider): a service of several servers without a health check.

Traefik's docs (https://doc.traefik.io/traefik/routing/services/#health-check; ``healthCheck`` of
``ServersLoadBalancer`` in ``pkg/config/dynamic/http_config.go``): only a configured
``healthCheck`` takes an unhealthy server out of the rotation ("servers are removed from the
load balancer rotation as long as they are unhealthy").  Without one, the weighted round robin
keeps sending a dead server its share: each of those requests is a ``502 Bad Gateway`` (``dial
tcp ...: connect: connection refused``) while the other servers could answer.  Traefik v3's
passive health check (``passiveHealthCheck``) also takes a failing server out: it counts too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from why502.analyzers.lint import LintSpec
from why502.analyzers.lint.common import finding
from why502.analyzers.lint.one_file import OneFileLintInput
from why502.analyzers.lint.registry import rule
from why502.catalog.lint_rules import LintRule
from why502.findings.lint import LintFinding, LintNote
from why502.proxies.traefik.config import TraefikConfig
from why502.proxies.traefik.proxy import PROXY


@dataclass(frozen=True)
class TraefikLintInput(OneFileLintInput[TraefikConfig]):
    """A Traefik dynamic config."""

    proxy: ClassVar[str] = PROXY.name


LINT = LintSpec(
    build=lambda cfg, _facts: TraefikLintInput(cfg),
    notes=lambda cfg: [LintNote("info", m) for m in cfg.problems],
    unreadable=lambda cfg: None if cfg.services or cfg.routers else
    "not a readable Traefik dynamic config: no http router or service in it",
    inputs=())
"""How ``app.lint`` lints a Traefik dynamic config (``Hooks.lint_input``)."""


@rule("W502-039")
def check_service_without_health_check(inp: TraefikLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-039.  Several servers, no ``healthCheck``: a dead server keeps its share."""
    cfg = inp.config
    out: list[LintFinding] = []
    for svc in cfg.services.values():
        if len(svc.servers) < 2 or svc.health_check:
            continue
        out.append(finding(
            rule, f"service {svc.name} has {len(svc.servers)} servers and no healthCheck: a server "
            "that stops keeps getting its share of the requests (502 Bad Gateway) while the "
            "others could answer", cfg.path, svc.line))
    return out
