"""The scenario registry: every family module is collected, in a stable order, and a bad
``@scenario`` declaration fails at import instead of silently skipping a check."""

from __future__ import annotations

import importlib
import pkgutil
import types

import pytest

import why502.lab.scenarios as scenarios_pkg
from why502.catalog import load_catalog
from why502.lab.runtime import Stack
from why502.lab.scenarios import RECORDINGS, SCENARIOS, ScenarioRun, model, registry, scenario


def _nothing(stack: Stack, run: ScenarioRun) -> None:
    """A scenario body for declarations that are never run."""


def _in_module(module: str) -> types.FunctionType:
    """A fresh scenario function that looks defined in ``module`` (declarations are per module)."""
    func = types.FunctionType(_nothing.__code__, globals(), "_nothing")
    func.__module__ = module
    return func


def test_every_module_that_declares_scenarios_is_a_family() -> None:
    families = {m.__name__ for m in registry.FAMILIES}
    for info in pkgutil.iter_modules(scenarios_pkg.__path__, scenarios_pkg.__name__ + "."):
        module = importlib.import_module(info.name)
        if model.declared_in(module):
            assert info.name in families, f"{info.name} declares scenarios but is not in FAMILIES"


def test_registry_holds_every_declared_scenario_in_listing_order() -> None:
    declared = [s.name for family in registry.FAMILIES for s in model.declared_in(family)]
    assert sorted(declared) == sorted(RECORDINGS)
    assert list(RECORDINGS)[:len(registry.ORDER)] == list(registry.ORDER)
    assert list(SCENARIOS) == [name for name, s in RECORDINGS.items() if s.lab]


def test_causes_and_symptoms_are_catalog_entries() -> None:
    catalog = load_catalog()
    for s in RECORDINGS.values():
        if s.cause is not None:
            assert catalog.get(s.cause, "cause") is not None, (s.name, s.cause)
        for symptom in s.symptoms:
            kinds = {e.kind for e in catalog.find(symptom)}
            assert kinds & {"symptom", "event"}, (s.name, symptom)
        assert s.proxy in model.PROXIES


def test_a_new_scenario_follows_the_listed_ones_in_family_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model, "_DECLARED", dict(model._DECLARED))
    family = types.ModuleType("why502_test_family")
    scenario(name="zz-new-one", cause="wrong-target", title="t", description="d",
             symptoms=(), expect=(("error", "x"),))(_in_module(family.__name__))
    monkeypatch.setattr(registry, "FAMILIES", (family, *registry.FAMILIES))
    collected = registry.collect()
    # the listed ones first, then the unlisted ones family by family (the new family is first)
    assert [n for n in collected if n != "zz-new-one"] == list(RECORDINGS)
    assert list(collected).index("zz-new-one") == len(registry.ORDER)
    assert collected["zz-new-one"].proxy == "nginx" and collected["zz-new-one"].lab


@pytest.mark.parametrize(("change", "message"), [
    ({"name": "backend-down-tcp"}, "declared twice"),
    ({"name": "Not_Kebab"}, "lower-case-with-dashes"),
    ({"needs": ("php_fpm",)}, "unknown need 'php_fpm'"),
    ({"expect": (("errors", "x"),)}, "unknown log 'errors'"),
    ({"expect": (("error", "(unclosed"),)}, "does not compile"),
    ({"proxy": "lighttpd"}, "unknown proxy 'lighttpd'"),
])
def test_bad_declarations_fail_at_import(monkeypatch: pytest.MonkeyPatch, change: dict[str, object],
                                         message: str) -> None:
    monkeypatch.setattr(model, "_DECLARED", dict(model._DECLARED))
    fields: dict[str, object] = {"name": "fine-name", "cause": None, "title": "t", "description": "d",
                                 "symptoms": (), "expect": (("error", "x"),)}
    fields.update(change)
    with pytest.raises(ValueError, match=message):
        scenario(**fields)(_in_module("why502_test_family"))  # type: ignore[arg-type]


def test_an_order_entry_without_a_declaration_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "ORDER", (*registry.ORDER, "no-such-scenario"))
    with pytest.raises(ValueError, match="no-such-scenario"):
        registry.collect()
