"""``why502 lint``: 502/504 pitfalls found in a proxy's config (nginx, HAProxy, Apache httpd)
before they bite.

Pure: ``run_lint(LintInput) -> list[LintFinding]``.  Rule knowledge (code, name, severity, the
docs text) is data in ``catalog/data/lint_rules.toml``; each check registers next to its code
(``checks/*.py``, ``@rule(code, directives=...)``, see ``registry``).  Inputs that only the
host can tell (FPM pools, ``net.core.somaxconn``, MemTotal, the backend's own timeouts, observed
header sizes) are optional; a rule that needs a missing input stays silent.  Findings can be
silenced per run (``ignore``) or in the config with a ``# why502: ignore`` comment (``suppress``).

Each proxy has its input type (``LintInput`` for nginx, ``HaproxyLintInput``,
``ApacheLintInput``, ``EnvoyLintInput``); its ``proxy`` picks the rules registered for that proxy.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import ClassVar, Union

from why502.analyzers.lint.registry import registered
from why502.analyzers.lint.suppress import Suppressions
from why502.catalog.lint_rules import SEVERITIES, LintRule, load_rules, severity_rank
from why502.facts.fpm import FpmPool
from why502.findings.lint import LintFinding
from why502.parsers.nginx.model import NginxConfig
from why502.proxies.apache.config import ApacheConfig
from why502.proxies.envoy.config import EnvoyConfig
from why502.proxies.haproxy.config import HaproxyConfig

__all__ = [
    "LINT_INPUTS",
    "SEVERITIES",
    "AnyLintInput",
    "ApacheLintInput",
    "EnvoyLintInput",
    "HaproxyLintInput",
    "LintFinding",
    "LintInput",
    "LintRule",
    "load_rules",
    "run_lint",
    "severity_rank",
]


@dataclass(frozen=True)
class LintInput:
    """The config plus optional facts about the host and the backends."""

    config: NginxConfig
    pools: tuple[FpmPool, ...] = ()
    header_bytes: int | None = None  # largest response header seen from the backend
    backend_timeout: float | None = None  # gunicorn --timeout, max_execution_time, harakiri
    backend_keepalive: float | None = None  # backend idle keep-alive timeout (seconds)
    somaxconn: int | None = None
    mem_total: int | None = None  # bytes
    nofile: int | None = None  # soft RLIMIT_NOFILE nginx runs with (when worker_rlimit_nofile unset)
    nginx_groups: tuple[str, ...] = ()  # supplementary groups of nginx's worker user
    proxy: ClassVar[str] = "nginx"

    def directive_names(self) -> frozenset[str]:
        return self.config.directive_names()

    def file_text(self, path: str) -> str | None:
        return self.config.file_text(path)


@dataclass(frozen=True)
class HaproxyLintInput:
    """A ``haproxy.cfg`` plus what only the backend can tell (its own request timeout)."""

    config: HaproxyConfig
    backend_timeout: float | None = None  # seconds the backend may take (gunicorn --timeout, ...)
    proxy: ClassVar[str] = "haproxy"

    def directive_names(self) -> frozenset[str]:
        """Every keyword in the file (``timeout server`` and ``option redispatch`` count whole)."""
        return frozenset(ln.keyword.lower() for sec in self.config.sections for ln in sec.lines)

    def file_text(self, path: str) -> str | None:
        return self.config.texts.get(path)


@dataclass(frozen=True)
class ApacheLintInput:
    """An Apache httpd config (includes read) plus the PHP-FPM pools and the backend's timeout."""

    config: ApacheConfig
    pools: tuple[FpmPool, ...] = ()
    backend_timeout: float | None = None
    proxy: ClassVar[str] = "apache"

    def directive_names(self) -> frozenset[str]:
        """Directive names in lower case (httpd matches them case-insensitively)."""
        return frozenset(d.name.lower() for d in self.config.directives)

    def file_text(self, path: str) -> str | None:
        return self.config.texts.get(path)


@dataclass(frozen=True)
class EnvoyLintInput:
    """An Envoy bootstrap or ``/config_dump`` plus what only the backend can tell (its own
    request timeout and idle keep-alive timeout)."""

    config: EnvoyConfig
    backend_timeout: float | None = None
    backend_keepalive: float | None = None
    proxy: ClassVar[str] = "envoy"

    def directive_names(self) -> frozenset[str]:
        """Envoy's checks fire on defaults (an unset field): none declares keys."""
        return frozenset()

    def file_text(self, path: str) -> str | None:
        return self.config.texts.get(path)


AnyLintInput = Union[LintInput, HaproxyLintInput, ApacheLintInput, EnvoyLintInput]


LINT_INPUTS: dict[str, type[HaproxyLintInput] | type[ApacheLintInput] | type[EnvoyLintInput]] = {
    cls.proxy: cls for cls in (HaproxyLintInput, ApacheLintInput, EnvoyLintInput)}
"""The input type of each proxy that is not nginx, by its name (``proxy``)."""


def run_lint(inp: AnyLintInput, only: Collection[str] | None = None, *, ignore: Collection[str] = (),
             inline: bool = True, enable: Collection[str] = ()) -> list[LintFinding]:
    """Run the rules on by default plus ``enable`` (or ``only`` these codes/names, off-by-default
    ones included; never the ``ignore`` ones); findings sorted by file:line.  With ``inline``, a
    ``# why502: ignore`` comment on a finding's line or the line above silences it
    (``suppress``)."""
    rules = load_rules()
    present = inp.directive_names()
    out: list[LintFinding] = []
    seen: set[tuple[str, str | None, int | None, str]] = set()
    for code, check in registered().items():
        rule = rules[code]
        if only and code not in only and rule.name not in only:
            continue
        if not only and rule.off_by_default and code not in enable and rule.name not in enable:
            continue
        if check.proxy != inp.proxy:
            continue
        if code in ignore or rule.name in ignore or not check.applies(present):
            continue
        for f in check.func(inp, rule):
            key = (f.code, f.file, f.line, f.message)
            if key not in seen:
                seen.add(key)
                out.append(f)
    if inline:
        quiet = Suppressions(inp.file_text)
        out = [f for f in out if not quiet.silences(f)]
    out.sort(key=lambda f: (f.file or "", f.line or 0, f.code))
    return out
