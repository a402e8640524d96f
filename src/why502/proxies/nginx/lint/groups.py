"""Upstream groups that can run out of servers: max_fails, one server, all down, resolve without zone."""

from __future__ import annotations

import re

from why502.analyzers.lint.common import finding
from why502.analyzers.lint.registry import rule
from why502.catalog.lint_rules import LintRule
from why502.findings.lint import LintFinding
from why502.proxies.nginx.config.model import NginxConfig
from why502.proxies.nginx.config.units import format_seconds
from why502.proxies.nginx.lint.config import all_groups
from why502.proxies.nginx.lint.input import NginxLintInput


@rule("W502-006", directives=("upstream",))
def check_max_fails_empty_group(inp: NginxLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-006.  ``ngx_http_upstream_free_round_robin_peer()`` disables a peer for fail_timeout
    once ``fails >= max_fails``; single-peer groups skip it (``peers->single``)."""
    out: list[LintFinding] = []
    for g in all_groups(inp.config):
        primary = [s for s in g.servers if not s.backup and not s.down]
        if len(primary) < 2 or any(s.backup for s in g.servers) or any(s.service for s in g.servers):
            continue
        if all(s.max_fails == 1 and s.fail_timeout > 0 for s in primary):
            out.append(finding(rule, f'upstream "{g.name}": all {len(primary)} servers have max_fails=1 '
                                f"(fail_timeout {format_seconds(primary[0].fail_timeout)}) and there is no "
                                'backup: one failed attempt each gives "no live upstreams" (502)',
                                g.file, g.line))
    return out


_STATUS_PAGE = re.compile(r"(?:^|/)(?:nginx_|server-|stub_|basic_)?(?:status|health|healthz|healthcheck|"
                          r"health_check|ping|metrics|ready|readyz|live|livez)/?$", re.IGNORECASE)


def _group_uses(cfg: NginxConfig) -> tuple[dict[str, list[str]], bool]:
    """Which locations pass to each group by name (``"stream"`` for a stream server), and whether
    some ``*_pass`` takes its host from a variable (it may then reach any group)."""
    uses: dict[str, list[str]] = {}
    for _server, loc, t in cfg.located_targets():
        if t.group:
            uses.setdefault(t.group, []).append(loc.path)
    dynamic = False
    for t in cfg.targets():
        dynamic = dynamic or t.uses_variables
        if t.group and t.context == "stream":
            uses.setdefault(t.group, []).append("stream")
    return uses, dynamic


@rule("W502-007", directives=("upstream",))
def check_single_server(inp: NginxLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-007.  Informational: nothing can take over from the only server
    (``proxy_next_upstream`` has no other peer; ``ngx_http_upstream_get_round_robin_peer()``).

    Silent for a group no ``*_pass`` names (nothing is sent to it: a leftover, or one kept for
    compatibility) and for a group used only by status or health pages (``/status``,
    ``/healthz``, ``@healthcheck``, ...): its restarts fail a probe, not users' requests.  A
    ``*_pass`` with variables may reach any group, so then every group counts as used."""
    uses, dynamic = _group_uses(inp.config)
    out: list[LintFinding] = []
    for g in all_groups(inp.config):
        if len(g.servers) != 1 or g.servers[0].backup or g.servers[0].service:
            continue
        where = uses.get(g.name, [])
        if not where and not dynamic:
            continue
        if where and all(_STATUS_PAGE.search(p) for p in where):
            continue
        out.append(finding(rule, f'upstream "{g.name}" has one server ({g.servers[0].address}) and no '
                            "backup: while it restarts or is down every request sent to the group fails "
                            "with 502 (connect() refused), nothing can take over", g.file, g.line))
    return out


@rule("W502-019", directives=("upstream",))
def check_resolve_without_zone(inp: NginxLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-019.  ngx_http_upstream_zone_module / ngx_http_upstream_server(): ``resolve`` needs
    the group in shared memory."""
    out: list[LintFinding] = []
    for g in all_groups(inp.config):
        if g.zone is None and any(s.resolve for s in g.servers):
            s = next(s for s in g.servers if s.resolve)
            out.append(finding(rule, f'upstream "{g.name}": server {s.address} resolve needs a zone '
                                "in the upstream block: nginx refuses the configuration (no start, "
                                "no reload)", s.file, s.line, related=((g.file, g.line),)))
    return out


@rule("W502-020", directives=("upstream",))
def check_all_down(inp: NginxLintInput, rule: LintRule) -> list[LintFinding]:
    """W502-020.  All peers ``down`` -> the balancer returns NGX_BUSY -> "no live upstreams"."""
    out: list[LintFinding] = []
    for g in all_groups(inp.config):
        primary = [s for s in g.servers if not s.backup]
        if primary and all(s.down for s in primary):
            out.append(finding(rule, f'upstream "{g.name}": every server is marked down: every '
                                'request gets "no live upstreams" -> 502', g.file, g.line))
    return out
