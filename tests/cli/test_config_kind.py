"""Every way a config reaches a command goes through the registry's one check
(``why502.proxies.choose``): a config of a kind the command cannot read is exit 3, one line on
stderr naming what it is and the flags to use, nothing on stdout.  Issue 31, item 1 (``why502
lint /path/Caddyfile`` was read as nginx: "no findings", exit 0)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.clirun import why502

CADDYFILE = ":8080 {\n\treverse_proxy 127.0.0.1:9000\n}\n"
HAPROXY_CFG = "global\n  maxconn 100\ndefaults\n  mode http\nbackend app\n  server a 127.0.0.1:9\n"

# every command and every flag (or positional) a config file arrives by
WAYS = [
    ("diagnose", "--config", "--offline"),
    ("diagnose", "--nginx-conf", "--offline"),
    ("stats", "--config"),
    ("stats", "--nginx-conf"),
    ("lint", ""),  # the positional NGINX_CONF
    ("lint", "--config"),
    ("lint", "--nginx-conf"),
    ("fix", "--lint"),
    ("fix", "--config", "--lint"),
    ("mitigate", "--config"),
    ("watch", "--config", "--offline", "--duration", "1"),
    ("watch", "--nginx-conf", "--offline", "--duration", "1"),
]


def _argv(way: tuple[str, ...], path: Path) -> list[str]:
    command, flag, *rest = way
    return [command, *([flag] if flag else []), str(path), *rest]


@pytest.mark.parametrize("way", WAYS, ids=[" ".join(w[:2]) or w[0] for w in WAYS])
def test_a_caddyfile_is_exit_3_naming_what_it_is_and_the_flags(tmp_path: Path, way: tuple[str, ...]) -> None:
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(CADDYFILE)
    res = why502(*_argv(way, caddyfile))
    assert res.returncode == 3, (res.returncode, res.stdout, res.stderr)
    assert res.stdout == ""
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert "Caddy's config (a Caddyfile)" in res.stderr
    assert "--access-log FILE --log-type caddy" in res.stderr
    # the flag it came by (lint's --nginx-conf is an alias of its --config, which reads any kind)
    named = {"": "NGINX_CONF"}.get(way[1], way[1]) if way[:2] != ("lint", "--nginx-conf") else "--config"
    assert f"({named})" in res.stderr, res.stderr


@pytest.mark.parametrize("way", [w for w in WAYS if w[1] == "--nginx-conf"],
                         ids=[w[0] for w in WAYS if w[1] == "--nginx-conf" and w[0] != "lint"] + ["lint"])
def test_a_haproxy_cfg_given_as_nginx_conf_is_exit_3_naming_config(tmp_path: Path,
                                                                    way: tuple[str, ...]) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(HAPROXY_CFG)
    res = why502(*_argv(way, cfg))
    if way[0] == "lint":  # lint's --nginx-conf is an alias of its --config, which reads HAProxy
        assert res.returncode in (0, 1) and "W502-" in res.stdout, res.stderr
        return
    assert res.returncode == 3, (res.returncode, res.stdout, res.stderr)
    assert f"HAProxy config, not nginx's: pass it as --config {cfg}" in res.stderr


def test_lint_positional_still_reads_haproxy_and_nginx(tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(HAPROXY_CFG)
    res = why502("lint", str(cfg))
    assert "W502-025" in res.stdout, res.stdout + res.stderr
    conf = tmp_path / "nginx.conf"
    conf.write_text("events {}\nhttp { server { listen 127.0.0.1:1; location / { return 200; } } }\n")
    res = why502("lint", str(conf))
    assert res.returncode == 0 and "no findings" in res.stdout, res.stdout + res.stderr
