"""What the lint checks share: making a finding, the targets and groups they walk, where a fix
goes, and matching a target to a PHP-FPM pool.

The config is read through the model's own functions (``NginxConfig.located_targets``,
``NginxConfig.peers``, ``Location.effective``), the same ones diagnose's evidence is built from.
"""

from __future__ import annotations

import ipaddress
from typing import Protocol

from why502.catalog.lint_rules import LintRule
from why502.facts.fpm import FpmPool
from why502.findings.lint import LintFinding
from why502.proxies.nginx.config.directives import PASS_DIRECTIVES
from why502.proxies.nginx.config.edit import ConfigEdits
from why502.proxies.nginx.config.model import Location, NginxConfig
from why502.proxies.nginx.config.targets import UpstreamGroup
from why502.proxies.nginx.config.tree import Directive, Scope, Setting

PASSES = tuple(PASS_DIRECTIVES)
"""Every ``*_pass`` directive (for ``@rule(..., directives=...)``)."""


def finding(rule: LintRule, message: str, file: str | None, line: int | None,
            diff: str | None = None, related: tuple[tuple[str, int], ...] = ()) -> LintFinding:
    return LintFinding(rule.code, rule.name, rule.severity, message, file, line, diff, related)


def is_ip(host: str | None) -> bool:
    if not host:
        return False
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def literal_hostname(host: str | None) -> bool:
    """A DNS name written as such (not a variable, not an address, not ``localhost``)."""
    return bool(host) and "$" not in (host or "") and not is_ip(host) and host != "localhost"


def all_groups(cfg: NginxConfig) -> list[UpstreamGroup]:
    """Every ``upstream`` block, http then stream."""
    return list(cfg.upstreams.values()) + list(cfg.stream_upstreams.values())


def unreadable_include(cfg: NginxConfig, loc: Location) -> bool:
    """An include in this location's files (or in files they include) could not be read: it may
    set what we miss."""
    unread = {p.file for p in cfg.problems if p.message.startswith("include ")}
    if not unread:  # the common case, answered without a scan of the http scope per location
        return False
    files = {s.file for s in loc.scopes} | {d.file for s in loc.scopes for d in s.directives}
    return bool(unread & files)


def scope_with(loc: Location, d: Directive) -> Scope | None:
    """The level of ``loc``'s ancestry that holds directive ``d``."""
    for scope in loc.scopes:
        # by name: a scan of every directive of the http scope per lookup was quadratic
        if any(x is d for x in scope.get(d.name)):
            return scope
    return None


def own_entry(loc: Location, eff: Setting) -> Directive | None:
    """The statement of ``eff`` when ``loc`` itself sets it (to be replaced in place), else
    ``None`` (a new statement goes into the location)."""
    if eff.level not in ("location", "if") or not eff.entries:
        return None
    last = eff.entries[-1]
    return last if scope_with(loc, last) is loc.scopes[-1] else None


def set_in_location(cfg: NginxConfig, loc: Location, directive: str, value: str,
                    eff: Setting | None = None) -> str | None:
    """Diff setting a merge-type directive in ``loc`` (replacing it when the location sets it)."""
    edits = ConfigEdits(cfg)
    edits.set(loc.file, loc.line, directive, value, own_entry(loc, eff) if eff else None, header(loc))
    return edits.diff()


def header(loc: Location) -> str:
    """The words that open ``loc``'s block (``location = /x``): which block of a line that opens
    several is meant (a whole config on one line; ``proxies.nginx.config.edit._anchored_close``)."""
    return " ".join(["location", *([loc.modifier] if loc.modifier else []), loc.path])


def array_block(loc: Location, eff: Setting) -> tuple[str, int] | None:
    """Where to add one more entry of an array directive without losing the inherited ones:
    the block of the level whose entries win (adding there keeps them), else the location."""
    if eff.entries:
        scope = scope_with(loc, eff.entries[0])
        if scope is None or scope.file is None or scope.line is None or scope.kind == "main":
            return None
        if scope.kind == "http" and scope.directives and scope.line == 1 and scope.file == loc.scopes[0].file:
            return None  # pseudo http level of a fragment: no block to edit
        return scope.file, scope.line
    return loc.file, loc.line


class Address(Protocol):
    """Where a proxy connects: nginx's ``Target`` and Apache's ``ProxyTarget`` both have these."""

    @property
    def unix_path(self) -> str | None: ...
    @property
    def host(self) -> str | None: ...
    @property
    def port(self) -> int | None: ...


def pool_for(pools: tuple[FpmPool, ...], t: Address) -> FpmPool | None:
    """The PHP-FPM pool listening where ``t`` connects (unix path, or TCP port and address)."""
    for pool in pools:
        if t.unix_path and pool.unix_path == t.unix_path:
            return pool
        tcp = pool.tcp
        if tcp and t.port == tcp[1] and (tcp[0] is None or tcp[0] == t.host
                                         or {tcp[0], t.host} <= {"127.0.0.1", "localhost"}):
            return pool
    return None
