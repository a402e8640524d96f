"""Each proxy's lint rules are its folder's plug-in (issue 23), found through its Hooks alone.

``analyzers.lint.registry.registered`` imports every registered proxy's ``Hooks.lint_rules`` and
gives each check the proxy whose plug-in defines it; ``app.lint`` builds the input through
``Hooks.lint_input``.  These tests keep that the only way: a plug-in outside its proxy's folder,
or a check no proxy's plug-in defines, is refused.
"""

from __future__ import annotations

import pytest

from why502.analyzers.lint import LintSpec
from why502.analyzers.lint.registry import _REGISTRY, registered, rule
from why502.proxies import PROXIES
from why502.proxies.base import resolve


def test_every_proxys_lint_plugin_is_in_its_folder() -> None:
    for name, proxy in PROXIES.items():
        assert proxy.hooks.lint_rules.startswith(f"why502.proxies.{name}.lint"), proxy.hooks.lint_rules
        assert isinstance(resolve(proxy.hooks.lint_input), LintSpec), proxy.hooks.lint_input
    owners = {check.func.__module__: check.proxy for check in registered().values()}
    assert all(module.startswith(f"why502.proxies.{proxy}.lint") for module, proxy in owners.items()), owners


def test_a_check_outside_every_proxys_plugin_is_refused() -> None:
    @rule("W502-999")
    def stray(inp: object, rule: object) -> list[object]:  # defined here, in no proxy's folder
        return []

    try:
        with pytest.raises(ValueError, match=rf"W502-999: {__name__} is no proxy's Hooks\.lint_rules"):
            registered()
    finally:
        del _REGISTRY["W502-999"]
    assert "W502-999" not in registered()
