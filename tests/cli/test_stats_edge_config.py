"""``stats --config`` of an edge proxy without a stats plug-in (Envoy, Caddy, Traefik: no
``Hooks.stats``) reads its access log as its log family, as without ``--config`` (it was an
internal error, ``Empty module name``: issue 23's read-once matrix found it)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import RunMain
from tests.support.paths import FIXTURES_DIR

REC = FIXTURES_DIR / "recorded"
TRAEFIK = FIXTURES_DIR / "cloud" / "recorded" / "traefik-json"


@pytest.mark.parametrize(("config", "log", "family"), [
    (REC / "envoy-too-slow" / "envoy.yaml", REC / "envoy-too-slow" / "envoy-access.log", "envoy"),
    (REC / "caddy-too-slow" / "Caddyfile", REC / "caddy-too-slow" / "caddy-access.log", "caddy"),
    (TRAEFIK / "dynamic-json.yml", TRAEFIK / "traefik-access-json.log", "traefik"),
], ids=["envoy", "caddy", "traefik"])
def test_an_edge_proxys_config_and_log(config: Path, log: Path, family: str, run_main: RunMain) -> None:
    code, out, err = run_main("stats", "--config", str(config), str(log), "--format", "json")
    assert code in (0, 1), err
    doc = json.loads(out)
    assert doc["log_type"] == family and doc["files"], doc.get("files")
    without, out2, _ = run_main("stats", str(log), "--format", "json")
    assert (without, json.loads(out2)["log_type"]) == (code, family)
