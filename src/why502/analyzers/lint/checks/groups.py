"""Upstream groups that can run out of servers: max_fails, one server, all down, resolve without zone."""

from __future__ import annotations

from why502.analyzers.lint import LintInput
from why502.analyzers.lint.common import (
    all_groups,
    finding,
)
from why502.analyzers.lint.registry import rule
from why502.catalog.lint_rules import LintRule
from why502.findings.lint import LintFinding
from why502.parsers.nginx.units import format_seconds


@rule("W502-006", directives=("upstream",))
def check_max_fails_empty_group(inp: LintInput, rule: LintRule) -> list[LintFinding]:
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


@rule("W502-007", directives=("upstream",))
def check_single_server(inp: LintInput, rule: LintRule) -> list[LintFinding]:
    """W502-007.  Informational: nothing can take over from the only server."""
    out: list[LintFinding] = []
    for g in all_groups(inp.config):
        if len(g.servers) == 1 and not g.servers[0].backup and not g.servers[0].service:
            out.append(finding(rule, f'upstream "{g.name}" has one server ({g.servers[0].address}) and '
                                "no backup: its restarts are 502s", g.file, g.line))
    return out


@rule("W502-019", directives=("upstream",))
def check_resolve_without_zone(inp: LintInput, rule: LintRule) -> list[LintFinding]:
    """W502-019.  ngx_http_upstream_zone_module / ngx_http_upstream_server(): ``resolve`` needs
    the group in shared memory."""
    out: list[LintFinding] = []
    for g in all_groups(inp.config):
        if g.zone is None and any(s.resolve for s in g.servers):
            s = next(s for s in g.servers if s.resolve)
            out.append(finding(rule, f'upstream "{g.name}": server {s.address} resolve needs a zone '
                                "in the upstream block", s.file, s.line, related=((g.file, g.line),)))
    return out


@rule("W502-020", directives=("upstream",))
def check_all_down(inp: LintInput, rule: LintRule) -> list[LintFinding]:
    """W502-020.  All peers ``down`` -> the balancer returns NGX_BUSY -> "no live upstreams"."""
    out: list[LintFinding] = []
    for g in all_groups(inp.config):
        primary = [s for s in g.servers if not s.backup]
        if primary and all(s.down for s in primary):
            out.append(finding(rule, f'upstream "{g.name}": every server is marked down', g.file, g.line))
    return out
