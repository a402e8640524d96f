"""Kong as a registered proxy, through the CLI and its folder: public declarative configs (decK's
test data, the file ``kong config init`` writes; tests/fixtures/public/kong/README.md) detected,
read into facts with Kong's defaults, linted (W502-042); a real Kong error line (Kong/kong#5550)
joined by ``diagnose`` to the service's ``read_timeout`` with a diff that ``patch`` applies.  No
Kong binary is installed here: configs are read as files, nothing is run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.clirun import why502
from why502.proxies import PROXIES, detect_file, detect_text
from why502.proxies.kong.config import load_kong, parse_kong_text
from why502.proxies.kong.facts import kong_facts

FIX = Path(__file__).parents[1] / "fixtures"
PUBLIC = FIX / "public" / "kong"

# Kong/kong#5550 (https://github.com/Kong/kong/issues/5550), verbatim as the edge corpus holds it
TIMEOUT_LINE = ('2020/02/09 22:45:57 [error] 31#0: *25854631 upstream timed out (110: Operation timed '
                'out) while reading response header from upstream, client: 172.31.44.180, server: kong, '
                'request: "GET /v1/health/ HTTP/1.1", upstream: "http://172.31.57.159:42956/v1/health/", '
                'host: "<redacted>.com" ')


def test_kong_is_one_proxy_of_the_registry() -> None:
    kong = PROXIES["kong"]
    assert kong.vocabulary.response_timeout == "read_timeout"
    assert kong.reload_commands("kong.yml") == [
        "kong config parse kong.yml", "kong reload   # DB-less; with a database: deck gateway sync kong.yml"]
    assert not kong.hooks.fix_service and not kong.hooks.lab_runtime  # no kong binary here
    assert kong.timeout_seconds(None) == 60.0


@pytest.mark.parametrize("path", sorted(PUBLIC.glob("*.y*ml")), ids=lambda p: p.name)
def test_every_public_kong_file_is_detected_as_kong(path: Path) -> None:
    assert detect_file(str(path)) == "kong"


def test_detection_does_not_steal_other_yaml() -> None:
    """Envoy's and Traefik's YAML stay theirs; a ``_format_version`` in a comment or a quoted
    string is no mark; a compose file's ``services:`` with one ``target:`` is nobody's."""
    assert detect_file(str(FIX / "envoy" / "front.yaml")) == "envoy"
    assert detect_file(str(FIX / "public" / "traefik" / "sticky-docs.yml")) == "traefik"
    envoy = (FIX / "envoy" / "front.yaml").read_text()
    assert detect_text('# _format_version: "3.0"\n' + envoy) == "envoy"
    assert detect_text(json.dumps({"note": "_format_version: 3.0", "services": []})) is None
    compose = "services:\n  web:\n    image: nginx\n    volumes:\n      - type: bind\n        target: /srv\n"
    assert detect_text(compose) is None
    as_json = json.dumps({"_format_version": "3.0", "services": [{"name": "a", "url": "http://b:81"}]})
    assert detect_text(as_json) == "kong"
    cfg = parse_kong_text(as_json, "kong.json")
    assert [(s.name, s.host, s.port) for s in cfg.services] == [("a", "b", 81)]


def test_facts_carry_kongs_defaults_and_the_file_lines() -> None:
    cfg = load_kong(str(PUBLIC / "deck-kong2kic-service-route-upstream.yaml"))
    svc = cfg.services[0]
    assert (svc.name, svc.host, svc.port, svc.line) == ("example-service", "example-api.com", 80, 2)
    assert svc.settings["connect_timeout"].value == "5000" and svc.settings["connect_timeout"].line == 9
    assert cfg.upstream_of(svc) is not None and cfg.upstream_of(svc).targets == ()  # type: ignore[union-attr]
    dump = load_kong(str(PUBLIC / "deck-dump-001-entities.yaml"))
    targets, groups, _files = kong_facts(dump)
    assert groups["upstream1"].servers == ("198.51.100.11:80", "198.51.100.12:80", "198.51.100.13:80")
    # svc1..3 send to mockbin.org:80 (no upstream of that name): one target each, Kong's defaults
    assert [t.key for t in targets] == ["mockbin.org:80"] * 3
    assert targets[0].settings["read_timeout"].value == "60000"
    simple = load_kong(str(PUBLIC / "deck-008-simple-entities.yaml"))
    assert simple.services[0].settings["read_timeout"].is_default
    assert simple.services[0].routes[0].paths == ("/r1",)


def test_lint_fires_on_public_upstreams_without_health_checks() -> None:
    for name, line in (("deck-convert-2-input.yaml", 29), ("deck-dump-001-entities.yaml", 109)):
        res = why502("lint", str(PUBLIC / name), "--format", "json")
        assert res.returncode == 0, res.stderr
        found = json.loads(res.stdout)["findings"]
        assert [(f["code"], f["line"]) for f in found] == [("W502-042", line)]
        assert "upstream1 has 3 targets" in found[0]["message"] and found[0]["diff"]
    for name in ("deck-004-upstream-and-target.yaml", "kong-config-init.yml"):
        res = why502("lint", str(PUBLIC / name), "--format", "json")
        assert res.returncode == 0 and json.loads(res.stdout)["findings"] == [], res.stdout


@pytest.mark.parametrize("with_timeout", [True, False])
def test_diagnose_joins_a_kong_timeout_to_the_service_and_raises_read_timeout(
        tmp_path: Path, with_timeout: bool) -> None:
    conf = tmp_path / "kong.yml"
    conf.write_text('_format_version: "3.0"\nservices:\n- name: health-api\n  host: health-upstream\n'
                    + ("  read_timeout: 5000\n" if with_timeout else "")
                    + "  routes:\n  - name: health\n    paths:\n    - /v1/health\nupstreams:\n"
                    "- name: health-upstream\n  targets:\n  - target: 172.31.57.159:42956\n"
                    "  - target: 172.31.57.160:42956\n")
    log = tmp_path / "error.log"
    log.write_text(TIMEOUT_LINE + "\n")
    res = why502("diagnose", "--offline", "--format", "json", "--config", str(conf), "--error-log", str(log))
    assert res.returncode == 1, res.stderr
    report = json.loads(res.stdout)
    found = report["findings"][0]
    assert (found["cause"], found["upstream"], found["target"]) == (
        "backend-too-slow", "health-upstream", "172.31.57.159:42956")
    config = [(e["summary"], e["line"]) for e in found["evidence"] if e["kind"] == "config"]
    assert config == ([("read_timeout 5000", 5)] if with_timeout else
                      [(s, n) for s, n in config if "read_timeout" in s])
    diff = found["fix"]["diff"]
    assert found["fix"]["commands"][0] == f"kong config parse {conf}"
    subprocess.run(["patch", "-s", str(conf)], input=diff, text=True, check=True, cwd=tmp_path)
    raised = load_kong(str(conf)).services[0].settings["read_timeout"]
    assert (raised.value, raised.is_default) == ("30000" if with_timeout else "120000", False)


def test_a_broken_kong_file_and_fix_are_one_line_errors(tmp_path: Path) -> None:
    bad = tmp_path / "kong.yml"
    bad.write_text('_format_version: "3.0"\nservices:\n- name: [unclosed\n')
    res = why502("lint", "--proxy", "kong", str(bad))
    assert res.returncode != 0
    assert "not a readable Kong declarative config" in res.stderr and "Traceback" not in res.stderr
    res = why502("fix", "--lint", str(PUBLIC / "deck-convert-2-input.yaml"))
    assert res.returncode == 3, res.stderr
    assert "fix does not change Kong configs" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("proxy", ["kong", "traefik", "envoy", "caddy"])
def test_stats_of_a_proxy_without_a_stats_plugin_is_a_one_line_usage_error(proxy: str,
                                                                          tmp_path: Path) -> None:
    """``stats --proxy NAME`` of a proxy with no ``Hooks.stats`` said "internal error: ValueError:
    Empty module name" (exit 4) for Traefik, Envoy and Caddy before Kong joined.  A log of an
    edge family is read as that family (below); a log of none is one line naming how its log is
    read (its ``--log-type``, or nginx's format for Kong's access log)."""
    log = tmp_path / "plain.log"
    log.write_text("nothing any proxy writes\n")
    res = why502("stats", "--proxy", proxy, str(log))
    assert res.returncode == 2, res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and "internal error" not in res.stderr
    assert ("--log-type" in res.stderr) == (proxy != "kong")


def test_stats_of_an_edge_proxys_own_log_reads_it_as_its_family() -> None:
    res = why502("stats", "--proxy", "envoy", str(FIX / "cloud" / "recorded" / "envoy" / "envoy-default.log"))
    assert res.returncode in (0, 1), res.stderr
    assert "internal error" not in res.stderr and res.stdout.strip()
