"""Where lint checks register: ``@rule(code, directives=...)`` next to each check's code.

As gixy's plugins declare the directives they audit, a check declares the directives at least
one of which must be in the config for it to find anything (``directives=("keepalive",)``: no
upstream ``keepalive``, no W502-001); the run skips a check whose directives the config does not
have, and a test makes sure every fixture that fires has one of them.  A check that can fire on
the proxy's defaults alone, or on inputs other than the config (PHP-FPM pools), declares none and
always runs.  The rule's text (title, severity, docs) is data in ``catalog/data/lint_rules.toml``;
a test keeps the registered codes and that file equal.

A check reads one proxy's config: the proxy whose lint plug-in defines it (the module, or a
module of the package, that its ``Hooks.lint_rules`` names: ``why502/proxies/<name>/lint.py``).
It is given that proxy's lint input and runs only when the config linted is of that kind; its
``directives`` are then that grammar's keywords (HAProxy's ``timeout server`` counts as one
keyword, Apache's directive names compare in lower case).  :func:`registered` imports every
registered proxy's plug-in, so a new proxy's rules need no line outside its folder, and checks
that the rule's ``proxy`` in the TOML is the proxy whose plug-in implements it (the catalog,
below the registry in the layer order, does not know the proxies).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from why502.catalog.lint_rules import CODE_RE
from why502.findings.lint import LintFinding

if TYPE_CHECKING:
    from why502.catalog.lint_rules import LintRule

# The first argument is the lint input of the check's proxy (its plug-in's dataclass): typed
# ``Any`` here because a Callable over their union would reject a function that accepts one
# member only; each check annotates its own.
CheckFunc = Callable[[Any, "LintRule"], list[LintFinding]]


@dataclass(frozen=True)
class Check:
    """A registered check: its rule code, the function, the directives it needs, and the proxy
    whose plug-in defines it (set by :func:`registered`)."""

    code: str
    func: CheckFunc
    directives: frozenset[str] = frozenset()
    proxy: str = ""

    def applies(self, present: frozenset[str]) -> bool:
        """Can this check find anything in a config whose directive names are ``present``?"""
        return not self.directives or bool(self.directives & present)


_REGISTRY: dict[str, Check] = {}


def rule(code: str, *, directives: tuple[str, ...] = ()) -> Callable[[CheckFunc], CheckFunc]:
    """Register the decorated function as the check of lint rule ``code`` (for the proxy whose
    lint plug-in defines it)."""
    if not CODE_RE.match(code) or code != code.upper():
        raise ValueError(f"bad lint rule code {code!r}")

    def register(func: CheckFunc) -> CheckFunc:
        if code in _REGISTRY:
            raise ValueError(f"lint rule {code} registered twice ({_REGISTRY[code].func.__name__}, "
                             f"{func.__name__})")
        _REGISTRY[code] = Check(code, func, frozenset(directives))
        return func

    return register


def _owner(module: str, plugins: dict[str, str]) -> str | None:
    """The proxy whose plug-in (``plugins``: module -> proxy) is ``module`` or its package."""
    return next((proxy for plugin, proxy in plugins.items()
                 if module == plugin or module.startswith(plugin + ".")), None)


def registered() -> dict[str, Check]:
    """Every registered check, by code in code order, each with its proxy: importing each
    registered proxy's ``Hooks.lint_rules`` registers its checks.  ``ValueError`` for a check
    outside every proxy's plug-in, or whose rule's ``proxy`` in the TOML is another."""
    from why502.catalog.lint_rules import load_rules
    from why502.proxies import PROXIES
    from why502.proxies.base import resolve

    plugins: dict[str, str] = {}
    for proxy in PROXIES.values():
        if proxy.hooks.lint_rules:
            resolve(proxy.hooks.lint_rules)  # importing the plug-in registers its checks
            plugins[proxy.hooks.lint_rules.partition(":")[0]] = proxy.name
    rules = load_rules()
    out: dict[str, Check] = {}
    for code, check in sorted(_REGISTRY.items()):
        owner = _owner(check.func.__module__, plugins)
        if owner is None:
            raise ValueError(f"lint rule {code}: {check.func.__module__} is no proxy's Hooks.lint_rules")
        said = rules[code].proxy if code in rules else owner
        if said != owner:
            raise ValueError(f"lint rule {code}: lint_rules.toml says proxy {said!r}, "
                             f"its check is {owner!r}'s")
        out[code] = replace(check, proxy=owner)
    return out
