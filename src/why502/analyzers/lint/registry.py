"""Where lint checks register: ``@rule(code, directives=...)`` next to each check's code.

As gixy's plugins declare the directives they audit, a check declares the directives at least
one of which must be in the config for it to find anything (``directives=("keepalive",)``: no
upstream ``keepalive``, no W502-001); the run skips a check whose directives the config does not
have, and a test makes sure every fixture that fires has one of them.  A check that can fire on
nginx's defaults alone, or on inputs other than the config (PHP-FPM pools), declares none and
always runs.  The rule's text (title, severity, docs) is data in ``catalog/data/lint_rules.toml``;
a test keeps the registered codes and that file equal.

A check reads one proxy's config (``proxy="nginx"``, ``"haproxy"``, ``"apache"``): it is given
that proxy's ``LintInput`` and runs only when the config linted is of that kind; its
``directives`` are then that grammar's keywords (HAProxy's ``timeout server`` counts as one
keyword, Apache's directive names compare in lower case).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from why502.catalog.lint_rules import CODE_RE, PROXIES
from why502.findings.lint import LintFinding

if TYPE_CHECKING:
    from why502.catalog.lint_rules import LintRule

# The first argument is the LintInput of the check's proxy (``LintInput``, ``HaproxyLintInput``
# or ``ApacheLintInput``): typed ``Any`` here because a Callable over the union would reject a
# function that accepts one member only; each check annotates its own.
CheckFunc = Callable[[Any, "LintRule"], list[LintFinding]]


@dataclass(frozen=True)
class Check:
    """A registered check: its rule code, the function, and the directives it needs."""

    code: str
    func: CheckFunc
    directives: frozenset[str] = frozenset()
    proxy: str = "nginx"

    def applies(self, present: frozenset[str]) -> bool:
        """Can this check find anything in a config whose directive names are ``present``?"""
        return not self.directives or bool(self.directives & present)


_REGISTRY: dict[str, Check] = {}


def rule(code: str, *, directives: tuple[str, ...] = (),
         proxy: str = "nginx") -> Callable[[CheckFunc], CheckFunc]:
    """Register the decorated function as the check of lint rule ``code`` for ``proxy``."""
    if not CODE_RE.match(code) or code != code.upper():
        raise ValueError(f"bad lint rule code {code!r}")
    if proxy not in PROXIES:
        raise ValueError(f"lint rule {code}: unknown proxy {proxy!r}")

    def register(func: CheckFunc) -> CheckFunc:
        if code in _REGISTRY:
            raise ValueError(f"lint rule {code} registered twice ({_REGISTRY[code].func.__name__}, "
                             f"{func.__name__})")
        _REGISTRY[code] = Check(code, func, frozenset(directives), proxy)
        return func

    return register


def registered() -> dict[str, Check]:
    """Every registered check, by code in code order (importing the check modules registers
    them)."""
    import why502.analyzers.lint.checks  # noqa: F401  (registers every check)

    return dict(sorted(_REGISTRY.items()))
