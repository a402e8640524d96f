"""lint on real public Envoy bootstraps (tests/fixtures/corpus/held-out/envoy/README.md): the
judged findings, nothing more."""

from __future__ import annotations

import pytest

from tests.support.paths import FIXTURES_DIR
from why502.analyzers.lint import run_lint
from why502.proxies.envoy.config import load_envoy
from why502.proxies.envoy.lint import EnvoyLintInput

CORPUS = FIXTURES_DIR / "corpus" / "held-out" / "envoy"


@pytest.mark.parametrize(("name", "want"), [
    ("envoy-demo.yaml", []),  # its cluster is Envoy's own listener
    ("service-envoy-1.yaml", [("W502-033", 31)]),
    ("google-vrp-envoy-edge.yaml", [("W502-033", 78)]),  # clusters: written as one mapping
])
def test_held_out_envoy_configs(name: str, want: list[tuple[str, int]]) -> None:
    found = run_lint(EnvoyLintInput(load_envoy(str(CORPUS / name))))
    assert [(f.code, f.line) for f in found] == want
    assert all(f.diff for f in found)
