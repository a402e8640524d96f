"""haproxy.cfg parsing, proxy detection and the runtime API's answer, on recorded real inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.paths import FIXTURES_DIR
from why502.proxies import detect_text as detect_kind
from why502.proxies.haproxy.config import parse_haproxy_text, split_words, time_ms
from why502.proxies.haproxy.edit import set_keyword, set_server_param
from why502.proxies.haproxy.facts import haproxy_facts
from why502.proxies.haproxy.runtime import parse_show_stat

PROXIES = FIXTURES_DIR / "recorded-proxies"
RECORDED = FIXTURES_DIR / "recorded"

CFG = """\
global
    log /dev/log local0
    stats socket /run/haproxy/admin.sock mode 660 level admin
    user haproxy
    group haproxy

defaults base
    mode http
    timeout connect 5s
    timeout server 50000   # milliseconds when no unit
    retries 2
    option redispatch

defaults other
    mode http
    timeout connect 2s

frontend www
    bind :80
    default_backend app

backend app from base
    no option redispatch
    server a 10.0.0.1:8080 check inter 2s fall 5 maxconn 30
    server b [::1]:8081 backup
    server c unix@/run/app.sock

listen legacy
    bind 127.0.0.1:8000
    server l1 127.0.0.1:9000
"""


def test_sections_defaults_inheritance_and_servers() -> None:
    cfg = parse_haproxy_text(CFG, "/etc/haproxy/haproxy.cfg")
    app = cfg.backend("app")
    assert app is not None and app.defaults is not None and app.defaults.name == "base"
    server = app.effective("timeout server")
    assert (server.value, server.line, server.is_default) == ("50000", 10, False)
    assert time_ms(server.value) == 50000
    # unset timeout queue is timeout connect (configuration.txt 4.2), marked as a default
    queue = app.effective("timeout queue")
    assert (queue.value, queue.is_default, queue.line) == ("5s", True, 9)
    assert app.effective("retries").value == "2"
    assert not app.option("redispatch")  # "no option" in the section beats the defaults
    a, b, c = app.servers
    assert (a.host, a.port, a.check, a.param("maxconn"), a.setting("fall").value) == \
        ("10.0.0.1", 8080, True, "30", "5")
    assert a.setting("rise") .value == "2" and a.setting("rise").is_default
    assert (b.host, b.port, b.backup) == ("::1", 8081, True)
    assert c.unix_path == "/run/app.sock"
    legacy = cfg.backend("legacy")  # listen sections hold servers too; they use the last defaults
    assert legacy is not None and legacy.defaults is not None and legacy.defaults.name == "other"
    assert legacy.effective("timeout server").value == ""  # infinite: HAProxy warns at start
    assert legacy.effective("retries").value == "3" and legacy.effective("retries").is_default
    assert cfg.stats_sockets == ["/run/haproxy/admin.sock"]
    assert (cfg.user, cfg.group) == ("haproxy", "haproxy")


def test_facts_join_servers_to_backends_and_log_names() -> None:
    targets, groups, files, aliases = haproxy_facts(parse_haproxy_text(CFG, "h.cfg"))
    assert groups["app"].servers == ("10.0.0.1:8080", "[::1]:8081", "unix:/run/app.sock")
    assert aliases["app/a"] == "10.0.0.1:8080" and aliases["app/<NOSRV>"] == "app"
    first = next(t for t in targets if t.key == "10.0.0.1:8080")
    assert first.server == "www" and first.settings["maxconn"].value == "30"
    assert first.settings["option redispatch"].value == "off"
    assert files["h.cfg"][0] == "global"


def test_words_quotes_and_comments() -> None:
    assert split_words('  http-request deny if { path "/a b" } # no') == \
        ["http-request", "deny", "if", "{", "path", "/a b", "}"]
    assert split_words(r"log-format %ci\ %b") == ["log-format", "%ci %b"]


def test_edits_are_diffs_against_the_real_file() -> None:
    cfg = parse_haproxy_text(CFG, "h.cfg")
    files = {"h.cfg": tuple(CFG.splitlines())}
    app = cfg.backend("app")
    assert app is not None
    diff = set_keyword(files, "timeout server", "100s", setting=app.effective("timeout server"),
                       section_file="h.cfg", section_line=app.line)
    assert diff and "-    timeout server 50000" in diff and "+    timeout server 100s" in diff
    legacy = cfg.backend("legacy")
    assert legacy is not None
    diff = set_keyword(files, "timeout server", "30s", setting=legacy.effective("timeout server"),
                       section_file="h.cfg", section_line=legacy.line)
    assert diff and "+    timeout server 30s" in diff
    diff = set_server_param(files, "h.cfg", app.servers[0].line, "maxconn", "60")
    assert diff and "+    server a 10.0.0.1:8080 check inter 2s fall 5 maxconn 60" in diff


@pytest.mark.parametrize("path", sorted(PROXIES.glob("*/*.c*")) + sorted(RECORDED.glob("*/nginx.conf"))[:8]
                         + sorted(RECORDED.glob("*/haproxy.cfg")), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_proxy_kind_is_detected_from_the_content(path: Path) -> None:
    want = {"haproxy": "haproxy", "apache": "apache"}.get(path.parent.name)
    if path.name == "nginx.conf":
        want = "nginx"
    elif path.name == "haproxy.cfg":
        want = "haproxy"
    assert detect_kind(path.read_text()) == want


def test_anonymous_acls_are_haproxy_braces_not_nginx_blocks() -> None:
    """``use_backend x if { path_beg /x/ }`` (configuration.txt 7.2, braces delimited by spaces)
    is common in real configs; it once made a HAProxy config "not a config why502 recognises"."""
    cfg = ("frontend fe\n    bind :80\n    use_backend static if { path_beg /static/ }\n"
           "    http-request deny if { src 10.0.0.0/8 } !{ path /health }\n"
           "    default_backend app\n\nbackend app\n    server a 127.0.0.1:8080\n")
    assert detect_kind(cfg) == "haproxy"
    assert detect_kind("events {}\nhttp {\n  server {\n    listen 80;\n  }\n}\n") == "nginx"


def test_show_stat_recorded_from_a_real_haproxy() -> None:
    states = parse_show_stat((PROXIES / "haproxy" / "runtime" / "show-stat.csv").read_text())
    assert [(s.name, s.status, s.check_status, s.backup) for s in states] == [
        ("app/web1", "DOWN", "L4CON", False), ("app/web2", "DOWN", "L4CON", True)]
    assert states[0].reason == "Layer4 connection problem: Connection refused (L4CON)"
    assert states[0].limit == 3 and states[0].down
    assert parse_show_stat("Unknown command\n") == []
