"""Traefik as a registered proxy, through the CLI: its dynamic config (public examples of
Traefik's docs, YAML and TOML; the recorded lab's file-provider config) read into facts, joined to
the recorded access log by ``diagnose``, linted (W502-039); its log family from its folder.  No
Traefik binary is installed here: the configs are read as files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.clirun import why502
from why502.proxies import PROXIES, detect_file
from why502.proxies.logfamilies import families

FIX = Path(__file__).parents[1] / "fixtures"
PUBLIC = FIX / "public" / "traefik"
LAB = FIX / "cloud" / "recorded" / "traefik-json"


def test_traefik_is_one_proxy_of_the_registry_with_its_log_family() -> None:
    proxy = PROXIES["traefik"]
    assert proxy.vocabulary.response_timeout.endswith("responseHeaderTimeout")
    assert proxy.hooks.log_family.startswith("why502.proxies.traefik.")
    assert "traefik" in families().names


@pytest.mark.parametrize("name", ["sticky-docs.yml", "sticky-docs.toml"])
def test_a_public_dynamic_config_is_detected_and_linted(name: str) -> None:
    path = PUBLIC / name
    assert detect_file(str(path)) == "traefik"
    res = why502("lint", str(path), "--format", "json")
    assert res.returncode == 0, res.stderr
    found = json.loads(res.stdout)["findings"]
    # the service's own line (its key; its [http.services.NAME] header): the TOML lines were once the
    # blank line above the header, where a newline-crossing ``^\s*`` scan started its match
    want_lines = {"sticky-docs.yml": [15, 24], "sticky-docs.toml": [13, 22]}[name]
    assert [(f["code"], f["line"]) for f in found] == [("W502-039", n) for n in want_lines]
    assert "whoami1" in found[0]["message"] and "2 servers" in found[0]["message"]


def test_diagnose_names_the_service_the_server_and_the_config_lines() -> None:
    res = why502("diagnose", "--offline", "--format", "json", "--config", str(LAB / "dynamic-json.yml"),
                 "--access-log", str(LAB / "traefik-access-json.log"))
    assert res.returncode in (0, 1), res.stderr
    report = json.loads(res.stdout)
    crash = next(f for f in report["findings"] if f["upstream"] == "crash@file")
    assert crash["target"] == "127.0.0.1:47521"
    config = [(e["summary"], e["line"]) for e in crash["evidence"] if e["kind"] == "config"]
    assert ("service crash@file: 1 endpoint (127.0.0.1:47521)", 45) in config
    assert ("127.0.0.1:47521 is an endpoint of service crash@file", 48) in config
    assert any(s.startswith("router crash@file sends to service crash@file; its responseHeaderTimeout "
                            "is 0s (default)") and line == 11 for s, line in config)
    slow = next(f for f in report["findings"] if f["upstream"] == "slow@file")
    assert any("responseHeaderTimeout is 1s" in e["summary"] for e in slow["evidence"])


def test_a_broken_dynamic_config_is_one_line_error(tmp_path: Path) -> None:
    bad = tmp_path / "dynamic.yml"
    bad.write_text("http:\n  routers:\n    r: [unclosed\n")
    res = why502("lint", "--proxy", "traefik", str(bad))
    assert res.returncode != 0
    assert "not a readable Traefik dynamic config" in res.stderr and "Traceback" not in res.stderr


def test_fix_refuses_a_traefik_config_in_one_line() -> None:
    """Traefik has no fix service (no binary to test or reload with): ``fix`` says so, exit 3,
    instead of an internal error on the config it cannot apply to."""
    from tests.support.clirun import why502

    conf = next((Path(__file__).parents[1] / "fixtures" / "cloud" / "recorded" / "traefik-json")
                .glob("*.yml"))
    proc = why502("fix", "--lint", str(conf))
    assert proc.returncode == 3, proc.stderr
    assert "fix does not change Traefik configs" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
