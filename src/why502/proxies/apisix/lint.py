"""APISIX (standalone ``apisix.yaml``, ``apisix.json`` or an Admin API dump): four checks.

- W502-043: an upstream of several nodes with no ``checks``.  APISIX runs a health checker only
  for an upstream that has ``checks`` (``apisix/upstream.lua`` ``set_by_route`` ->
  ``healthcheck_manager.fetch_checker``; ``apisix/balancer.lua`` ``fetch_health_nodes`` returns
  every node when there is no checker), so a node that stops keeps its share: each such request
  fails its first try and is retried on another node (``retries`` unset: nodes - 1), and the
  client waits up to ``timeout.connect`` per dead try.  Passive checks alone cannot bring a node
  back (docs/en/latest/tutorials/health-check.md: "nodes cannot be re-marked as healthy using the
  passive health check strategy alone"), and the schema requires ``active`` (``schema_def.lua``
  ``health_checker``: ``anyOf`` ``required = {"active"}``).
- W502-044: ``timeout.read`` below the backend's own limit (``--backend-timeout``): APISIX gives
  up first and answers 504 while the backend keeps working.
- W502-045: ``retries`` above 0 on an upstream of one node: the retry goes to the same node
  (``balancer.lua``: "With a single node the retry has to land on it again"), so a node that timed
  out is waited for again.
- W502-046: a route whose ``upstream_id`` or ``service_id`` names nothing, or that has no
  upstream at all: every request to it is APISIX's own 502, 404 or 503 (``ApisixConfig.resolve``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

from why502.analyzers.lint import LintFacts, LintSpec
from why502.analyzers.lint.common import finding
from why502.analyzers.lint.one_file import OneFileLintInput, config_lines
from why502.analyzers.lint.registry import rule
from why502.catalog.lint_rules import LintRule
from why502.findings.lint import LintFinding, LintNote
from why502.parsers.yamlmap import add_keys
from why502.proxies.apisix.config import ApisixConfig, Upstream
from why502.proxies.apisix.edit import set_read_timeout
from why502.proxies.apisix.facts import timeouts
from why502.proxies.apisix.proxy import PROXY


@dataclass(frozen=True)
class ApisixLintInput(OneFileLintInput[ApisixConfig]):
    """An APISIX config, and the backend's own time limit when given."""

    backend_timeout: float | None = None
    proxy: ClassVar[str] = PROXY.name


def _build(cfg: ApisixConfig, facts: LintFacts) -> ApisixLintInput:
    return ApisixLintInput(cfg, backend_timeout=facts.backend_timeout)


LINT = LintSpec(
    build=_build,
    notes=lambda cfg: [LintNote("info", m) for m in cfg.problems],
    unreadable=lambda cfg: None if not cfg.empty else
    "not a readable APISIX config: no routes, services or upstreams in it",
    inputs=("backend_timeout",))
"""How ``app.lint`` lints an APISIX config (``Hooks.lint_input``)."""

# The health checks the tutorial shows (docs/en/latest/tutorials/health-check.md), active so that
# a node taken out comes back, passive so that real failures take it out between probes.
CHECKS = ["checks:", "  active:", "    type: http", "    http_path: /", "    healthy:", "      interval: 2",
          "      successes: 1", "    unhealthy:", "      interval: 1", "      http_failures: 2",
          "      tcp_failures: 2", "  passive:", "    unhealthy:",
          "      http_statuses: [500, 502, 503, 504]", "      http_failures: 3",
          "      tcp_failures: 3", "      timeouts: 3"]



def _used(cfg: ApisixConfig) -> list[Upstream]:
    """Every upstream, written ones first, then each route's or service's own (once)."""
    out: dict[int, Upstream] = {id(u): u for u in cfg.upstreams.values()}
    for r in cfg.routes:
        if r.upstream is not None:
            out.setdefault(id(r.upstream), r.upstream)
    for s in cfg.services.values():
        if s.upstream is not None:
            out.setdefault(id(s.upstream), s.upstream)
    return list(out.values())


@rule("W502-043")
def check_upstream_without_health_check(inp: ApisixLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-043.  Several nodes, no ``checks``: a dead node keeps its share of the requests."""
    cfg = inp.config
    out: list[LintFinding] = []
    for up in _used(cfg):
        live = up.live_nodes
        if len(live) < 2 or up.active_checks:
            continue
        diff = None if cfg.admin_api or up.node is None or "checks" in up.node else \
            add_keys(config_lines(cfg), cfg.path, up.node, CHECKS)
        passive = " (passive checks only: a node they take out never comes back)" if up.passive_checks else ""
        out.append(finding(
            rule, f"upstream {up.name} has {len(live)} nodes and no active health check{passive}: a node "
            "that stops keeps getting its share of the requests, each one failing its first try and "
            f"retried on another node ({up.effective_retries} retries), or answered 502/504 when they "
            "run out",
            cfg.path, up.line, diff))
    return out


@rule("W502-044")
def check_read_timeout_below_backend(inp: ApisixLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-044.  ``timeout.read`` shorter than the backend's own limit: 504 first."""
    backend = inp.backend_timeout
    if not backend:
        return []
    cfg = inp.config
    out: list[LintFinding] = []
    seen: set[tuple[str, int | None]] = set()
    for route in cfg.routes:
        up = cfg.resolve(route).upstream
        if up is None:
            continue
        settings, line = timeouts(route, up)
        read = settings["timeout.read"]
        try:
            secs = float(read.value)
        except ValueError:
            continue
        where_set = (read.file or cfg.path, line if read.is_default else read.line)  # a default: per route
        if secs >= backend or where_set in seen:
            continue
        seen.add(where_set)
        where = "nginx's default" if read.is_default else f"route {route.id}'s" if line == route.line \
            else f"upstream {up.name}'s"
        raised = math.ceil(backend) + 5
        out.append(finding(
            rule, f"timeout.read {read.value} s ({where}) is shorter than the backend's own timeout "
            f"({backend:g} s, --backend-timeout): route {route.id}'s slower requests get APISIX's 504 "
            "(\"upstream timed out\") while the backend keeps working", read.file or cfg.path,
            read.line or route.line, set_read_timeout(config_lines(cfg), cfg.path, line, raised)))
    return out


@rule("W502-045")
def check_retries_with_one_node(inp: ApisixLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-045.  ``retries`` on one node: the retry is the same node again."""
    cfg = inp.config
    out: list[LintFinding] = []
    for up in _used(cfg):
        if len(up.nodes) != 1 or not up.retries or up.discovery is not None:
            continue
        line = up.node.values_at["retries"][0] if up.node is not None and "retries" in up.node else up.line
        out.append(finding(
            rule, f"upstream {up.name} has one node ({up.nodes[0].key}) and retries: {up.retries}: each "
            "retry goes to that same node, so a request it timed out on waits the timeout again and "
            "still fails",
            cfg.path, line))
    return out


@rule("W502-046")
def check_route_without_upstream(inp: ApisixLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-046.  A route whose upstream or service names nothing: APISIX's own 502/404/503."""
    cfg = inp.config
    out: list[LintFinding] = []
    for route in cfg.routes:
        res = cfg.resolve(route)
        if res.status is None or (res.upstream is not None and res.upstream.discovery is not None):
            continue
        what = (f"its {res.ref[0]} {res.ref[1]} names no {res.ref[0].split('_')[0]} in the config"
                if res.ref else "it has no upstream (no upstream, upstream_id or service with one)"
                if res.upstream is None else f"its upstream {res.upstream.name} has no node")
        line = route.line
        if res.ref and route.node is not None and res.ref[0] in route.node:
            line = route.node.values_at[res.ref[0]][0]
        out.append(finding(
            rule, f"route {route.id} ({', '.join(route.uris) or route.name}): {what}: APISIX answers every "
            f"request to it {res.status} and logs \"{res.error}\"", cfg.path, line))
    return out
