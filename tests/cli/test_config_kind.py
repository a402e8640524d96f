"""Every way a config reaches a command goes through the registry's one check
(``why502.proxies.choose``): a config of a kind the command cannot read is exit 3, one line on
stderr naming what it is and the flags to use, nothing on stdout.  Issue 31, item 1 (``why502
lint /path/Caddyfile`` was read as nginx: "no findings", exit 0; since Caddy joined the registry
it is read as Caddy's, and refused only where nginx's config alone is taken)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.support.clirun import why502

CADDYFILE = ":8080 {\n\treverse_proxy 127.0.0.1:9000 127.0.0.1:9001\n}\n"
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


# Caddy is a proxy of the registry (proxies/caddy): a Caddyfile is read as Caddy's wherever a
# config of any kind is taken, and refused, naming --config, where only nginx's is.
NGINX_ONLY = [w for w in WAYS if w[1] == "--nginx-conf" and w[0] != "lint"]


@pytest.mark.parametrize("way", NGINX_ONLY, ids=[w[0] for w in NGINX_ONLY])
def test_a_caddyfile_given_as_nginx_conf_is_exit_3_naming_config(tmp_path: Path,
                                                                   way: tuple[str, ...]) -> None:
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(CADDYFILE)
    res = why502(*_argv(way, caddyfile))
    assert res.returncode == 3, (res.returncode, res.stdout, res.stderr)
    assert res.stdout == "" and len(res.stderr.strip().splitlines()) == 1, res.stderr
    said = f"(--nginx-conf): this is a Caddy config, not nginx's: pass it as --config {caddyfile}"
    assert said in res.stderr, res.stderr


@pytest.mark.parametrize("flag", ["", "--config", "--nginx-conf"])
def test_lint_reads_a_caddyfile_as_caddys_never_as_nginx(tmp_path: Path, flag: str) -> None:
    """Before Caddy joined the registry, `lint Caddyfile` read it as nginx: "no findings", exit 0."""
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(CADDYFILE)
    res = why502("lint", *([flag] if flag else []), str(caddyfile), "--format", "json")
    codes = [f["code"] for f in json.loads(res.stdout)["findings"]]
    assert codes == ["W502-037"], (codes, res.stderr)  # Caddy's rule: two upstreams, no check


def test_fix_validates_a_caddyfile_and_reloads_only_the_caddy_that_runs_it(tmp_path: Path) -> None:
    """fix drives Caddy (``caddy validate``, ``caddy reload``): with no Caddy running this
    Caddyfile the change passes the test but is not reloaded -- never sent to whatever admin API
    answers on localhost:2019 -- so it is rolled back, exit 1, the file's bytes as before."""
    if shutil.which("caddy") is None:
        pytest.skip("caddy is not installed")
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(CADDYFILE)
    res = why502("fix", "--lint", str(caddyfile), "--apply", "--yes", "--state-dir", str(tmp_path / "s"))
    assert res.returncode == 1, (res.returncode, res.stdout, res.stderr)
    said = " ".join(res.stdout.split())  # as wrapped to the terminal's width
    assert "caddy validate: configuration test passed" in said
    assert f"no running caddy was started with --config {caddyfile}: not reloaded" in said
    assert "restored from backup" in said
    assert caddyfile.read_text() == CADDYFILE


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
