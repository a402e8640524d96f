"""Kong (declarative config): an upstream of several targets with no health check.

Kong's health checks are off unless configured (Kong/kong ``kong/db/schema/entities/upstreams.lua``:
``active.healthy.interval`` / ``active.unhealthy.interval`` 0, "probing disabled by default";
``passive.unhealthy.tcp_failures`` / ``timeouts`` / ``http_failures`` 0, "circuit-breaker disabled
by default").  Without them the ring balancer keeps every target in rotation
(https://developer.konghq.com/gateway/traffic-control/health-checks-circuit-breakers/: it "routes
traffic only to healthy Targets", and a target is marked unhealthy only by a check): a target that
stops keeps getting its share.  Each such request fails its first try -- at once when the port
refuses, after the service's ``connect_timeout`` (60000 ms by default) when nothing answers -- and
is retried on the next target up to the service's ``retries`` (5 by default, services.lua); with
``retries: 0``, or every try failing, the client gets Kong's 502 or 504.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from why502.analyzers.lint import LintSpec
from why502.analyzers.lint.common import finding
from why502.analyzers.lint.one_file import OneFileLintInput, config_lines
from why502.analyzers.lint.registry import rule
from why502.catalog.lint_rules import LintRule
from why502.findings.lint import LintFinding, LintNote
from why502.parsers.yamlmap import Map
from why502.proxies.kong.config import KongConfig, Upstream
from why502.proxies.kong.edit import add_keys, set_scalars
from why502.proxies.kong.proxy import PROXY


@dataclass(frozen=True)
class KongLintInput(OneFileLintInput[KongConfig]):
    """A Kong declarative config."""

    proxy: ClassVar[str] = PROXY.name


LINT = LintSpec(
    build=lambda cfg, _facts: KongLintInput(cfg),
    notes=lambda cfg: [LintNote("info", m) for m in cfg.problems],
    unreadable=lambda cfg: None if cfg.services or cfg.upstreams or cfg.format_version else
    "not a readable Kong declarative config: no services or upstreams in it",
    inputs=())
"""How ``app.lint`` lints a Kong declarative config (``Hooks.lint_input``)."""

# Passive checks (circuit breaker) as Kong's docs show them: a target is taken out after this
# many failed connections / timeouts / unhealthy statuses of proxied requests.
PASSIVE = {"tcp_failures": "3", "timeouts": "3", "http_failures": "5"}


def _diff(cfg: KongConfig, up: Upstream) -> str | None:
    """Passive checks in the upstream: its ``healthchecks.passive.unhealthy`` counters set where
    the file writes them (a decK dump writes every default), else the keys added to the
    upstream when it has no ``healthchecks``; None otherwise (a partial block to merge)."""
    if up.node is None:
        return None
    files = config_lines(cfg)
    hc = up.node.get("healthchecks")
    if hc is None:
        return add_keys(files, cfg.path, up.node, ["healthchecks:", "  passive:", "    unhealthy:",
                                                  *(f"      {k}: {v}" for k, v in PASSIVE.items())])
    unhealthy = ((hc.get("passive") or {}).get("unhealthy") if isinstance(hc, dict) else None)
    if isinstance(unhealthy, Map) and all(k in unhealthy for k in PASSIVE):
        return set_scalars(files, cfg.path, unhealthy, PASSIVE)
    return None


@rule("W502-042")
def check_upstream_without_health_check(inp: KongLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-042.  Several targets, neither active nor passive checks: a dead target keeps its share."""
    cfg = inp.config
    out: list[LintFinding] = []
    for up in cfg.upstreams.values():
        live = [t for t in up.targets if t.weight > 0]
        if len(live) < 2 or up.active_checks or up.passive_checks:
            continue
        out.append(finding(
            rule, f"upstream {up.name} has {len(live)} targets and no health check (active intervals "
            "and passive counters are 0): a target that stops keeps getting its share of the "
            "requests, each one retried after a failed try or answered 502/504", cfg.path, up.line,
            _diff(cfg, up)))
    return out
