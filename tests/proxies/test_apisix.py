"""Apache APISIX as a registered proxy, through the CLI and its folder: APISIX's own configs (its
standalone example, its ``t/config-center-yaml`` tests, its Admin API docs;
tests/fixtures/public/apisix/README.md) detected, read into facts the way ``init.lua`` and
``balancer.lua`` resolve them, linted (W502-043..046); a real APISIX error line
(apache/apisix#7934) joined by ``diagnose`` to the upstream's ``timeout.read`` with a diff that
``patch`` applies.  No APISIX binary is installed here: configs are read as files, nothing is run."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.clirun import why502
from why502.proxies import PROXIES, detect_file, detect_text
from why502.proxies.apisix.config import load_apisix, parse_apisix_text
from why502.proxies.apisix.facts import apisix_facts, edge_facts

FIX = Path(__file__).parents[1] / "fixtures"
PUBLIC = FIX / "public" / "apisix"

# apache/apisix#7934 (https://github.com/apache/apisix/issues/7934), as the edge corpus holds it
TIMEOUT_LINE = ('2022/09/16 11:35:34 [error] 45#45: *1889867 upstream timed out (110: Operation timed out) '
                'while sending to client, client: 181.39.123.98, server: _, request: "POST /xxx HTTP/1.1", '
                'upstream: "http://192.168.3.5:8106//xxx", host: "xxx.test.com"')

# t/config-center-yaml/route-upstream.t's $yaml_config: the node config of a standalone data plane
NODE_CONFIG = ("apisix:\n    node_listen: 1984\ndeployment:\n    role: data_plane\n    role_data_plane:\n"
               "        config_provider: yaml\n")


def test_apisix_is_one_proxy_of_the_registry() -> None:
    apisix = PROXIES["apisix"]
    assert apisix.vocabulary.response_timeout == "timeout.read"
    assert apisix.reload_commands(str(PUBLIC / "conf-apisix.yaml"))[0] == "apisix test"
    dump = apisix.reload_commands(str(PUBLIC / "admin-3x-routes-upstreams.json"))
    assert len(dump) == 1 and "PATCH" in dump[0] and "/apisix/admin/routes/" in dump[0]
    assert not apisix.hooks.fix_service and not apisix.hooks.lab_runtime  # no apisix binary here
    assert apisix.timeout_seconds(None) == 60.0


@pytest.mark.parametrize("path", sorted(p for p in PUBLIC.iterdir() if p.suffix in (".yaml", ".json")),
                         ids=lambda p: p.name)
def test_every_public_apisix_file_is_detected_as_apisix(path: Path) -> None:
    assert detect_file(str(path)) == "apisix"


def test_detection_does_not_steal_other_yaml(tmp_path: Path) -> None:
    """Kong's, Envoy's and Traefik's files stay theirs; an APISIX key in a comment or a string is no
    mark; a node config is APISIX's; a file of routes without #END still is by its keys."""
    for kong in sorted((FIX / "public" / "kong").glob("*.y*ml")):
        assert detect_file(str(kong)) == "kong", kong.name
    assert detect_file(str(FIX / "envoy" / "front.yaml")) == "envoy"
    assert detect_file(str(FIX / "public" / "traefik" / "sticky-docs.yml")) == "traefik"
    assert detect_text("# upstream_id: 1\n# uri: /a\nroutes: []\n") is None
    assert detect_text('routes:\n  - note: "uri: upstream_id: nodes:"\n') is None
    assert detect_text(NODE_CONFIG) == "apisix"
    no_end = (PUBLIC / "t-route-upstream-2-not-found.yaml").read_text().replace("#END\n", "")
    assert detect_text(no_end) == "apisix"


def test_routes_resolve_as_init_lua_does() -> None:
    """The route's upstream_id wins over its own upstream and its service's (route-service.t TEST
    5); an upstream_id or service_id naming nothing is APISIX's 502 / 404, with its log line."""
    cfg = load_apisix(str(PUBLIC / "t-route-service-5-priority.yaml"))
    targets, _groups, _files = apisix_facts(cfg)
    assert [(t.key, t.group, t.location) for t in targets] == [("127.0.0.1:1980", "1", "/hello")]
    missing = load_apisix(str(PUBLIC / "t-route-upstream-2-not-found.yaml"))
    res = missing.resolve(missing.routes[0])
    assert (res.status, res.error) == (502, "failed to find upstream by id: 1111")
    no_service = load_apisix(str(PUBLIC / "t-route-service-2-not-found.yaml"))
    assert no_service.resolve(no_service.routes[0]).status == 404
    *_rest, notes = edge_facts(no_service)
    assert any("APISIX answers 404" in n for n in notes)


def test_timeouts_are_the_routes_then_the_upstreams_then_nginxs() -> None:
    dump = load_apisix(str(PUBLIC / "admin-3x-routes-upstreams.json"))
    assert dump.admin_api and [r.id for r in dump.routes] == ["1"] and list(dump.upstreams) == ["1"]
    targets, _groups, _files = apisix_facts(dump)
    t = targets[0]
    assert (t.key, t.group) == ("host:80", "upstream-for-test")
    assert t.settings["timeout.read"].value == "3" and t.settings["timeout.read"].line == 18  # the route's
    assert t.settings["retries"].value == "1" and not t.settings["retries"].is_default
    example = load_apisix(str(PUBLIC / "conf-apisix.yaml"))
    (only,), _g, _f = apisix_facts(example)
    assert only.settings["timeout.read"].is_default and only.settings["timeout.read"].value == "60"
    assert only.settings["retries"].value == "0" and only.settings["retries"].is_default  # 1 node - 1
    v2 = load_apisix(str(PUBLIC / "admin-2x-upstream-set.json"))
    assert [n.key for n in v2.upstreams["100"].nodes] == ["127.0.0.1:80", "foo.com:80", "127.0.0.2:80"]


def test_a_node_config_leads_to_the_apisix_yaml_beside_it(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(NODE_CONFIG)
    (tmp_path / "apisix.yaml").write_text((PUBLIC / "t-route-upstream-7-chash.yaml").read_text())
    cfg = load_apisix(str(tmp_path / "config.yaml"))
    assert cfg.path == str(tmp_path / "apisix.yaml") and cfg.node_config == str(tmp_path / "config.yaml")
    res = why502("lint", str(tmp_path / "config.yaml"), "--format", "json")
    assert [f["code"] for f in json.loads(res.stdout)["findings"]] == ["W502-043"], res.stderr
    etcd = tmp_path / "etcd" / "config.yaml"
    etcd.parent.mkdir()
    etcd.write_text("deployment:\n    role: traditional\n    role_traditional:\n"
                    "        config_provider: etcd\n")
    res = why502("lint", str(etcd))
    assert res.returncode != 0 and "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_lint_on_apisixs_own_files() -> None:
    want = {"t-route-upstream-7-chash.yaml": [("W502-043", 8)],
            "t-route-upstream-4-healthcheck.yaml": [("W502-045", 12)],
            "t-route-upstream-2-not-found.yaml": [("W502-046", 5)],
            "t-route-service-2-not-found.yaml": [("W502-046", 5)],
            "admin-2x-upstream-set.json": [("W502-043", 1)],
            "admin-3x-routes-upstreams.json": [("W502-045", 31)],
            "conf-apisix.yaml": [], "t-route-service-5-priority.yaml": []}
    for name, expected in want.items():
        res = why502("lint", str(PUBLIC / name), "--format", "json")
        errors = any(code == "W502-046" for code, _line in expected)  # an error: exit 1
        assert res.returncode == (1 if errors else 0) and not res.stderr, res.stderr
        found = json.loads(res.stdout)["findings"]
        assert [(f["code"], f["line"]) for f in found] == expected, name
    res = why502("lint", str(PUBLIC / "admin-3x-routes-upstreams.json"), "--backend-timeout", "30",
                 "--format", "json")
    found = {f["code"]: f for f in json.loads(res.stdout)["findings"]}
    assert "route 1's" in found["W502-044"]["message"] and found["W502-044"]["line"] == 18
    assert not found["W502-044"]["diff"]  # etcd's config: no diff on a dump


@pytest.mark.parametrize("with_timeout", [True, False])
def test_diagnose_joins_an_apisix_timeout_to_the_upstream_and_raises_timeout_read(
        tmp_path: Path, with_timeout: bool) -> None:
    conf = tmp_path / "apisix.yaml"
    timeout = "    timeout:\n      connect: 3\n      send: 5\n      read: 5\n" if with_timeout else ""
    conf.write_text("routes:\n  -\n    id: 1\n    uri: /xxx\n    upstream_id: 1\nupstreams:\n  -\n"
                    "    id: 1\n    name: app\n    nodes:\n      \"192.168.3.5:8106\": 1\n"
                    "      \"192.168.3.6:8106\": 1\n" + timeout + "    type: roundrobin\n#END\n")
    log = tmp_path / "error.log"
    log.write_text(TIMEOUT_LINE + "\n")
    res = why502("diagnose", "--offline", "--format", "json", "--config", str(conf), "--error-log", str(log))
    assert res.returncode == 1, res.stderr
    found = json.loads(res.stdout)["findings"][0]
    assert (found["cause"], found["upstream"], found["target"]) == (
        "backend-too-slow", "app", "192.168.3.5:8106")
    config = [(e["summary"], e["line"]) for e in found["evidence"] if e["kind"] == "config"]
    assert config == ([("timeout.read 5", 16)] if with_timeout else
                      [(s, n) for s, n in config if "timeout.read" in s])
    assert found["fix"]["commands"][0] == "apisix test"
    subprocess.run(["patch", "-s", str(conf)], input=found["fix"]["diff"], text=True, check=True,
                   cwd=tmp_path)
    targets, _g, _f = apisix_facts(load_apisix(str(conf)))
    raised = targets[0].settings["timeout.read"]
    assert (raised.value, raised.is_default) == ("30" if with_timeout else "120", False)
    assert conf.read_text().endswith("#END\n")


def test_bad_files_and_fix_are_one_line_errors(tmp_path: Path) -> None:
    bad = tmp_path / "apisix.yaml"
    bad.write_text("routes:\n  - uri: [unclosed\n#END\n")
    for argv in (["lint", str(bad)], ["lint", "--proxy", "apisix", str(bad)],
                 ["diagnose", "--offline", "--config", str(bad), "--error-log", str(bad)]):
        res = why502(*argv)
        assert res.returncode != 0, argv
        assert "not a readable APISIX config" in res.stderr and "Traceback" not in res.stderr, argv
        assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    broken = tmp_path / "dump.json"
    broken.write_text('{"list": [{"key": "/apisix/routes/1", "value": {"uri": "/a"}}], "total": 1}\n'
                      '{"list": [')
    res = why502("lint", "--proxy", "apisix", str(broken))
    assert res.returncode != 0 and "not a readable APISIX config (JSON)" in res.stderr, res.stderr
    res = why502("fix", "--lint", str(PUBLIC / "t-route-upstream-7-chash.yaml"))
    assert res.returncode == 3 and "fix does not change APISIX configs" in res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_a_file_without_end_is_said_not_loaded() -> None:
    text = (PUBLIC / "conf-apisix.yaml").read_text().replace("#END\n", "")
    cfg = parse_apisix_text(text, "apisix.yaml")
    assert any("does not end with #END" in p for p in cfg.problems)
    assert not parse_apisix_text((PUBLIC / "conf-apisix.yaml").read_text()).problems


def test_apisix_log_format_is_its_folders_and_still_a_name_of_stats(tmp_path: Path) -> None:
    """``--log-format apisix`` (moved into proxies/apisix/log_formats.toml) still reads APISIX's
    default access-log line."""
    from why502.parsers.log_format import PREDEFINED

    assert list(PREDEFINED)[-1] == "apisix"
    log = tmp_path / "access.log"
    log.write_text('10.0.0.1 - - [16/Sep/2022:11:35:34 +0000] xxx.test.com "POST /xxx HTTP/1.1" 504 160 '
                   '60.001 "-" "curl/7.68.0" 192.168.3.5:8106 504 60.000 "http://xxx.test.com/xxx"\n')
    res = why502("stats", str(log), "--log-format", "apisix", "--format", "json", "--no-progress")
    report = json.loads(res.stdout)
    assert (report["format_name"], report["requests"], report["unparsed"]) == ("apisix", 1, 0), res.stderr
    assert report["by_status"] == {"504": 1}


def test_a_default_timeout_below_the_backend_is_said_per_route(tmp_path: Path) -> None:
    """Two routes on nginx's 60 s default: each gets its finding and its own diff (a ``timeout``
    added to that route), not one finding for the default they share."""
    conf = tmp_path / "apisix.yaml"
    conf.write_text('routes:\n  - id: 1\n    uri: /a\n    upstream_id: 1\n  - id: 2\n    uri: /b\n'
                    '    upstream_id: 1\nupstreams:\n  - id: 1\n    nodes:\n      "10.0.0.1:80": 1\n#END\n')
    res = why502("lint", str(conf), "--backend-timeout", "90", "--format", "json")
    found = json.loads(res.stdout)["findings"]
    assert [(f["code"], f["line"]) for f in found] == [("W502-044", 2), ("W502-044", 5)], res.stderr
    assert all("read: 95" in f["diff"] and "nginx's default" in f["message"] for f in found)
