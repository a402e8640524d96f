"""``why502 lint``: 502/504 pitfalls found in a proxy's config before they bite.

Pure: ``run_lint(input) -> list[LintFinding]``.  Rule knowledge (code, name, severity, the docs
text, the proxy whose config it reads) is data in ``catalog/data/lint_rules.toml``; each check
registers next to its code (``@rule(code, directives=...)``, see ``registry``) in its proxy's lint
plug-in, ``why502/proxies/<name>/lint.py`` (or a ``lint`` package), which the proxy's
``Hooks.lint_rules`` names.  Inputs that only the host can tell (FPM pools,
``net.core.somaxconn``, MemTotal, the backend's own timeouts, observed header sizes) are optional
(:class:`LintFacts`); a rule that needs a missing input stays silent.  Findings can be silenced
per run (``ignore``) or in the config with a ``# why502: ignore`` comment (``suppress``).

Each proxy has its own input type, defined in its plug-in (:class:`Input` is what they share: the
proxy's name, the directive names present, the files' text); its ``proxy`` picks the rules
registered for that proxy.  How ``app.lint`` builds one is the plug-in's :class:`LintSpec`, named
by ``Hooks.lint_input``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from why502.analyzers.lint.registry import registered
from why502.analyzers.lint.suppress import Suppressions
from why502.catalog.lint_rules import SEVERITIES, LintRule, load_rules, severity_rank
from why502.facts.fpm import FpmPool
from why502.findings.lint import LintFinding, LintNote

__all__ = [
    "SEVERITIES",
    "Input",
    "LintFacts",
    "LintFinding",
    "LintRule",
    "LintSpec",
    "load_rules",
    "run_lint",
    "severity_rank",
]


class Input(Protocol):
    """What ``run_lint`` reads of any proxy's lint input (each plug-in defines its dataclass)."""

    proxy: ClassVar[str]  # the registered proxy's name: the rules registered for it run

    def directive_names(self) -> frozenset[str]:
        """The config's directive (keyword) names, in the form its checks' ``directives`` use."""
        ...

    def file_text(self, path: str) -> str | None:
        """A file's text, for the ``# why502: ignore`` comments (``suppress``)."""
        ...


@dataclass(frozen=True)
class LintFacts:
    """What the config does not say, gathered by ``app.lint`` from the flags and, for a proxy
    with ``Hooks.lint_config`` linted on this host, from the host; each proxy's input
    keeps the ones its rules read (:attr:`LintSpec.build`)."""

    pools: tuple[FpmPool, ...] = ()
    header_bytes: int | None = None  # largest response header seen from the backend
    backend_timeout: float | None = None  # gunicorn --timeout, max_execution_time, harakiri
    backend_keepalive: float | None = None  # backend idle keep-alive timeout (seconds)
    somaxconn: int | None = None
    mem_total: int | None = None  # bytes
    nofile: int | None = None  # soft RLIMIT_NOFILE the proxy runs with
    groups: tuple[str, ...] = ()  # supplementary groups of the proxy's worker user
    concurrency: int | None = None  # requests in flight at once the site expects (--concurrency)


def _no_notes(config: Any) -> list[LintNote]:
    return []


def _readable(config: Any) -> str | None:
    return None


@dataclass(frozen=True)
class LintSpec:
    """How ``app.lint`` lints a proxy's config: a proxy's lint plug-in defines one and its
    ``Hooks.lint_input`` names it.  The config itself is read by ``Hooks.load_config`` (or by
    the proxy's own reader, ``Hooks.lint_config``, which says what reading it said itself:
    :attr:`notes` and :attr:`unreadable` are then not asked)."""

    #: the config read and the facts gathered -> the input its rules read
    build: Callable[[Any, LintFacts], Input]
    #: what reading the config said, as the report's diagnostics (before any FPM pool's)
    notes: Callable[[Any], list[LintNote]] = _no_notes
    #: why a config that was read is no config of this proxy (``"not a readable haproxy.cfg:
    #: ..."``; the report names the path before it), None when it is one
    unreadable: Callable[[Any], str | None] = _readable
    #: its rules read PHP-FPM pools (``--fpm-conf``, or this host's with ``--host``)
    pools: bool = False
    #: the ``LintFacts`` the report's ``inputs`` list after ``host_facts``, as the flags gave them
    inputs: tuple[str, ...] = ("backend_timeout",)
    #: the report's ``host_facts`` echoes ``--host`` (False: always False, as Caddy's says)
    echo_host: bool = True
    #: the ``LintFacts`` the report's ``inputs`` list after :attr:`inputs` only when given
    optional_inputs: tuple[str, ...] = ()


def run_lint(inp: Input, only: Collection[str] | None = None, *, ignore: Collection[str] = (),
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
