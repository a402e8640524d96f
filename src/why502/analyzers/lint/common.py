"""What every proxy's lint checks share: making a finding, telling a DNS name from an address,
and matching a target to a PHP-FPM pool.

What walks one proxy's config (nginx's locations, scopes and ``upstream`` blocks, where a fix
goes in them) is in that proxy's lint plug-in (``proxies.nginx.lint.config``), so this module
names no proxy's model (issue 23).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Protocol

from why502.catalog.lint_rules import LintRule
from why502.facts.fpm import FpmPool
from why502.findings.lint import LintFinding


def finding(rule: LintRule, message: str, file: str | None, line: int | None,
            diff: str | None = None, related: tuple[tuple[str, int], ...] = ()) -> LintFinding:
    return LintFinding(rule.code, rule.name, rule.severity, message, file, line, diff, related)


def file_lines(texts: Mapping[str, str]) -> dict[str, tuple[str, ...]]:
    """Each config file's lines by path, as the diff builders read them (``{path: lines}``).

    Every proxy's config keeps the text of each file it read (``texts``, or one ``path`` and
    ``text``); a fix's diff is written against those lines, so this is done once here."""
    return {path: tuple(text.splitlines()) for path, text in texts.items()}


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
