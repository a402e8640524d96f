"""Caddy through the proxy interface: detection (Caddyfile and JSON, robust to comments and
quoted strings), the config read through the real ``caddy adapt`` with its lines joined back to
the Caddyfile, Caddy's defaults, routing a request to its upstream, and the Caddyfile diffs
checked by the real ``caddy adapt`` (skipped where caddy is not installed)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from why502.proxies import PROXIES, detect_text
from why502.proxies.caddy.caddyfile import dial, proxy_directives
from why502.proxies.caddy.config import duration_seconds, from_json, json_lines
from why502.proxies.caddy.edit import set_subdirective

CADDY = shutil.which("caddy")
needs_caddy = pytest.mark.skipif(CADDY is None, reason="caddy is not installed (apt-get install caddy)")

CADDYFILE = """{
	admin 127.0.0.1:2999
}
# a comment naming reverse_proxy "{" and proxy_pass x;
example.com, http://127.0.0.1:8080 {
	header X-Note "a } brace; and # hash"
	handle /api/* {
		reverse_proxy 127.0.0.1:9001 127.0.0.1:9002 {
			lb_try_duration 5s
			transport http {
				dial_timeout 2s
				response_header_timeout 30s
			}
		}
	}
	reverse_proxy unix//run/app.sock
}
:9090 {
	reverse_proxy /x* localhost:7000
}
"""


def test_detection_of_a_caddyfile_and_of_caddy_json() -> None:
    assert detect_text(CADDYFILE) == "caddy"
    assert detect_text("localhost\n\nreverse_proxy 127.0.0.1:9000\n") == "caddy"  # one site, no braces
    adapted = {"apps": {"http": {"servers": {"srv0": {"listen": [":80"], "routes": []}}}}}
    assert detect_text(json.dumps(adapted, indent=2)) == "caddy"
    # an nginx config whose comments and strings name Caddy's directives stays nginx
    nginx = ('# reverse_proxy 127.0.0.1:1\nhttp {\n server {\n  listen 80;\n'
             '  add_header X "reverse_proxy {";\n  location / {\n'
             '   proxy_pass http://127.0.0.1:9000;\n  }\n }\n}\n')
    assert detect_text(nginx) == "nginx"
    assert detect_text("global\n  maxconn 10\nbackend app\n  server a 127.0.0.1:9\n") == "haproxy"


def test_upstream_addresses_become_caddy_dial_addresses() -> None:
    """As ``caddy adapt`` writes them (checked against Caddy 2.6.2's output)."""
    assert dial("backend") == "backend:80"
    assert dial("http://b") == "b:80"
    assert dial("https://c") == "c:443"
    assert dial("localhost:7000") == "localhost:7000"
    assert dial("unix//run/app.sock") == "unix//run/app.sock"
    assert dial("[::1]:8080") == "[::1]:8080"
    ds = proxy_directives(CADDYFILE, "Caddyfile")
    assert [(d.line, d.dials) for d in ds] == [
        (8, ("127.0.0.1:9001", "127.0.0.1:9002")), (16, ("unix//run/app.sock",)), (19, ("localhost:7000",))]
    assert ds[0].settings["response_header_timeout"] == ("30s", 12)


def test_go_durations() -> None:
    assert duration_seconds(30_000_000_000) == 30.0
    assert duration_seconds("1m30s") == 90.0
    assert duration_seconds("500ms") == 0.5
    assert duration_seconds("1d") == 86400.0
    assert duration_seconds("soon") is None


def test_a_json_config_read_directly_with_caddy_defaults() -> None:
    doc = {"admin": {"disabled": True}, "apps": {"http": {"servers": {"web": {"listen": [":8443"], "routes": [
        {"match": [{"host": ["api.example.com"]}], "handle": [{"handler": "subroute", "routes": [
            {"match": [{"path": ["/v1/*"]}], "handle": [{
                "handler": "reverse_proxy", "transport": {"protocol": "http", "read_timeout": "10s"},
                "upstreams": [{"dial": "10.0.0.5:8000"}]}]}]}]}]}}}}}
    text = json.dumps(doc, indent=1)
    cfg = from_json(doc, "caddy.json", "json", {"caddy.json": text})
    json_lines(cfg, text, "caddy.json")
    (h,) = cfg.handlers
    assert cfg.admin is None and h.name == "api.example.com/v1/*"
    assert h.upstreams[0].line == text.splitlines().index(next(
        ln for ln in text.splitlines() if "10.0.0.5:8000" in ln)) + 1
    s = h.settings
    assert (s["dial_timeout"].value, s["dial_timeout"].is_default) == ("3s", True)  # httptransport.go
    assert "response_header_timeout" not in s  # no default: no limit
    assert s["read_timeout"].value == "10s" and not s["read_timeout"].is_default
    assert s["keepalive"].value == "2m" and s["lb_try_duration"].value == "0s"
    assert cfg.route("api.example.com:8443", "/v1/users") is h
    assert cfg.route("other.example.com:8443", "/v1/users") is None
    assert cfg.route("api.example.com:8443", "/v2") is None


@needs_caddy
def test_a_caddyfile_through_caddy_adapt_keeps_its_lines(tmp_path: Path) -> None:
    from why502.proxies.caddy.source import caddy_config

    path = tmp_path / "Caddyfile"
    path.write_text(CADDYFILE)
    cfg = caddy_config(str(path))
    assert cfg.source == "caddyfile" and cfg.admin == "127.0.0.1:2999"
    names = [h.name for h in cfg.handlers]
    # one site of two addresses is one server each (Caddy's adapter): the same directive's line
    assert names == ["example.com/api/*", "example.com", "127.0.0.1/api/*", "127.0.0.1", ":9090/x*"]
    api = cfg.handlers[0]
    assert (api.file, api.line) == (str(path), 8)
    assert api.settings["response_header_timeout"].line == 12
    assert api.settings["dial_timeout"].value == "2s"
    assert api.settings["lb_try_interval"].value == "250ms"  # reverseproxy.go Provision, with try_duration
    assert cfg.route("127.0.0.1:8080", "/api/x") is cfg.handlers[2]
    assert cfg.route("127.0.0.1:8080", "/other") is cfg.handlers[3]
    assert cfg.route("localhost:9090", "/x1") is cfg.handlers[4]
    assert cfg.handlers[1].upstreams[0].key == "unix:/run/app.sock"


def _adapts(path: Path) -> None:
    assert CADDY is not None
    res = subprocess.run([CADDY, "adapt", "--config", str(path), "--adapter", "caddyfile"],
                         capture_output=True, text=True, timeout=30, check=False)
    assert res.returncode == 0, res.stderr


@needs_caddy
@pytest.mark.skipif(shutil.which("patch") is None, reason="needs patch")
@pytest.mark.parametrize(("line", "name", "want"), [
    (8, "response_header_timeout", "\t\t\t\tresponse_header_timeout 60s"),  # set: replaced in place
    (8, "lb_retries", "\t\t\tlb_retries 60s"),  # a new line of the block
    (16, "response_header_timeout", "\t\ttransport http {"),  # one line: its block opened
    (19, "lb_try_duration", "\t\tlb_try_duration 60s"),
])
def test_caddyfile_diffs_apply_and_caddy_adapts_them(tmp_path: Path, line: int, name: str, want: str) -> None:
    path = tmp_path / "Caddyfile"
    path.write_text(CADDYFILE)
    files = {str(path): tuple(CADDYFILE.splitlines())}
    value = "60s"
    diff = set_subdirective(files, str(path), line, name, value)
    assert diff
    res = subprocess.run(["patch", "--quiet", str(path)], input=diff, capture_output=True, text=True,
                         timeout=30, check=False)  # the real patch, as a user applies it
    assert res.returncode == 0, res.stdout + res.stderr
    new = path.read_text()
    assert want in new.splitlines()
    if name != "lb_retries":  # lb_retries takes a count: only the placement is checked
        _adapts(path)


def test_caddy_is_one_proxy_of_the_registry() -> None:
    caddy = PROXIES["caddy"]
    assert caddy.reload_commands("/etc/caddy/Caddyfile") == [
        "caddy validate --config /etc/caddy/Caddyfile", "caddy reload --config /etc/caddy/Caddyfile"]
    assert caddy.timeout_seconds(None) is None  # no response_header_timeout: no limit


def test_the_admin_api_is_asked_on_loopback_only() -> None:
    from why502.proxies.caddy.config import CaddyConfig
    from why502.proxies.caddy.source import _loopback_url, upstream_states

    assert _loopback_url("localhost:2019") == "http://127.0.0.1:2019/reverse_proxy/upstreams"
    assert _loopback_url("[::1]:2019") == "http://[::1]:2019/reverse_proxy/upstreams"
    assert _loopback_url("10.0.0.5:2019") is None and _loopback_url("example.com:2019") is None
    assert _loopback_url("unix//run/caddy-admin.sock") is None
    cfg = CaddyConfig("Caddyfile", "json", [], {}, {}, admin="0.0.0.0:2019")
    assert upstream_states(cfg) == (
        [], ["Caddy's admin API 0.0.0.0:2019 is not a loopback TCP address: not asked"])
    cfg.admin = None
    assert upstream_states(cfg)[0] == []


@needs_caddy
@pytest.mark.skipif(shutil.which("patch") is None, reason="needs patch")
def test_lint_fix_diff_applies_and_caddy_adapts_it(tmp_path: Path) -> None:
    from why502.app.lint import LintOptions, gather

    path = tmp_path / "Caddyfile"
    path.write_text("example.com {\n\treverse_proxy 10.0.0.11:8080 10.0.0.12:8080\n}\n")
    (f,) = [f for f in gather(LintOptions(config=str(path))).findings if f.code == "W502-037"]
    assert f.diff and f.line == 2
    res = subprocess.run(["patch", "--quiet", str(path)], input=f.diff, capture_output=True, text=True,
                         timeout=30, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "\t\tlb_try_duration 5s" in path.read_text().splitlines()
    _adapts(path)
    # fixed: the rule is silent on the patched file
    assert not [f for f in gather(LintOptions(config=str(path))).findings if f.code == "W502-037"]
