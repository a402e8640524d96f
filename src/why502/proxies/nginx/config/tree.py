"""The directive tree and nginx's inheritance rule: ``Directive``, ``Scope``, ``Setting``.

A ``Directive`` is one statement where it is written (``file:line``); a ``Scope`` is the
directives written directly at one level (main, http, server, location, if, upstream).
:func:`effective_setting` answers "which value applies at this level, and where was it set?" the way
the merge functions do (``ngx_http_proxy_merge_loc_conf`` and friends in
``src/http/modules/``): a level that does not set a directive takes the enclosing level's
value; array-type directives (``proxy_set_header``, ``add_header``, ``fastcgi_param``) are
inherited only when the level defines none of them.  Defaults come from the directive table
(:mod:`why502.proxies.nginx.config.directives`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache, cached_property

from why502.proxies.nginx.config.directives import DirectiveInfo, directive_info
from why502.proxies.nginx.config.units import parse_size, parse_time


@dataclass(frozen=True)
class Directive:
    """One statement with its arguments, where it is written, and its block (if any)."""

    name: str
    args: tuple[str, ...]
    file: str
    line: int
    block: tuple[Directive, ...] | None = None

    @property
    def value(self) -> str:
        return " ".join(self.args)

    def children(self, name: str) -> list[Directive]:
        return [d for d in self.block or () if d.name == name]

    def first(self, name: str) -> Directive | None:
        for d in self.block or ():
            if d.name == name:
                return d
        return None

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Scope:
    """The directives written directly at one level (main, http, server, location, if)."""

    kind: str
    directives: tuple[Directive, ...]
    file: str | None = None
    line: int | None = None

    def get(self, name: str) -> list[Directive]:
        return list(self._by_name.get(name, ()))

    @cached_property
    def _by_name(self) -> dict[str, tuple[Directive, ...]]:
        """The directives by name, made once: the http scope of a big config holds thousands of
        ``server`` and ``upstream`` blocks, and every effective-setting lookup of every
        location asks it (a scan per lookup made diagnose quadratic in the servers)."""
        index: dict[str, list[Directive]] = {}
        for d in self.directives:
            index.setdefault(d.name, []).append(d)
        return {k: tuple(v) for k, v in index.items()}

    @cached_property
    def _settings(self) -> dict[tuple[str, str | None], Setting]:
        return {}

    def _setting(self, name: str, context: str | None, found: tuple[Directive, ...],
                 info: DirectiveInfo | None) -> Setting:
        """The ``Setting`` this level gives ``name`` (made once per name and context)."""
        key = (name, context)
        setting = self._settings.get(key)
        if setting is None:
            last = found[-1]
            setting = self._settings[key] = Setting(name, last.value, last.args, last.file, last.line, False,
                                                    self.kind, found, info.doc if info else None)
        return setting


@dataclass(frozen=True)
class Setting:
    """The value that applies at a level, with where it came from.

    ``is_default`` means no level sets it and ``value`` is nginx's compiled-in default from the
    directive table (``file``/``line`` are then ``None``).  For array-type directives
    ``entries`` holds every occurrence of the level that won.
    """

    name: str
    value: str | None
    args: tuple[str, ...]
    file: str | None
    line: int | None
    is_default: bool
    level: str  # main | http | server | location | upstream | default
    entries: tuple[Directive, ...] = ()
    doc: str | None = None

    @property
    def seconds(self) -> float | None:
        return parse_time(self.value) if self.value is not None else None

    @property
    def bytes(self) -> int | None:
        return parse_size(self.value) if self.value is not None else None

    @property
    def where(self) -> str | None:
        return f"{self.file}:{self.line}" if self.file else None


def effective_setting(name: str, scopes: Iterable[Scope], context: str | None = None) -> Setting:
    """Innermost level that sets ``name`` wins (both inheritance kinds reduce to that rule
    once a level is chosen: merge takes its last value, array takes all of its entries).

    Every location of a big config asks the same few names of the same outer levels (10,000
    locations x 11 settings in ``proxies.nginx.facts``), so a level keeps the ``Setting`` it
    answered and the defaults are made once: settings are frozen, sharing them is safe."""
    info = directive_info(name, context)
    ordered: Sequence[Scope] = scopes if isinstance(scopes, (tuple, list)) else tuple(scopes)
    content = info is not None and info.inherit == "none"
    for scope in reversed(ordered):
        found = scope._by_name.get(name)
        if found:
            return scope._setting(name, context, found, info)
        if content and scope.kind in ("location", "if"):
            # content handlers are not inherited by nested locations
            break
    return _default_setting(name, context)


@cache
def _default_setting(name: str, context: str | None) -> Setting:
    info = directive_info(name, context)
    default = info.default if info else None
    args = tuple(default.split()) if default else ()
    return Setting(name, default, args, None, None, True, "default", (), info.doc if info else None)
