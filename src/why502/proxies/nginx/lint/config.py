"""What nginx's lint checks share about its config: the ``*_pass`` directives, the ``upstream``
blocks they walk, the scope a setting comes from and where a fix goes in a location.

The config is read through the model's own functions (``NginxConfig.located_targets``,
``NginxConfig.peers``, ``Location.effective``), the same ones diagnose's evidence is built from.
Moved here from ``analyzers.lint.common`` (issue 23: the analyzers import no proxy's folder).
"""

from __future__ import annotations

from why502.proxies.nginx.config.directives import PASS_DIRECTIVES
from why502.proxies.nginx.config.edit import ConfigEdits
from why502.proxies.nginx.config.model import Location, NginxConfig
from why502.proxies.nginx.config.targets import UpstreamGroup
from why502.proxies.nginx.config.tree import Directive, Scope, Setting

PASSES = tuple(PASS_DIRECTIVES)
"""Every ``*_pass`` directive (for ``@rule(..., directives=...)``)."""


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
