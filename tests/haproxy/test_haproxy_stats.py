"""``why502 stats --config haproxy.cfg haproxy.log``: httplog lines as access-log statistics."""

from __future__ import annotations

import json
import time

import pytest

from tests.conftest import RunMain
from tests.support.paths import FIXTURES_DIR
from why502.lab.runtime import Stack
from why502.lab.runtime.machine import find_haproxy, free_port
from why502.proxies.haproxy.lab import haproxy_paths
from why502.proxies.haproxy.log import to_nginx_line

HAP = FIXTURES_DIR / "recorded-proxies" / "haproxy"


def test_timers_keep_nginx_meanings() -> None:
    sh, ok = (HAP / "sh-timeout.log").read_text().splitlines()[:2], None
    row = to_nginx_line(sh[0], {"app/web1": "127.0.0.1:9"}, zone="+0000")
    # sH: connected (Tc 0), no header (Tr -1) -> uht "-" like nginx's timeout, Ta 1001 ms
    assert row is not None and 'ua="127.0.0.1:9" us="504" uct="0.000" uht="-" urt="1.001"' in row
    assert "rt=1.001" in row and "[21/Nov/2026:21:37:15 +0000]" in row
    nosrv = next(ln for ln in (HAP / "server-down-nosrv.log").read_text().splitlines() if "<NOSRV>" in ln)
    row = to_nginx_line(nosrv, zone="+0000")
    assert row is not None and 'ua="app" us="503" uct="-" uht="-" urt="-"' in row
    assert to_nginx_line("Server app/web1 is DOWN, reason: x") is None and ok is None


def test_stats_reads_a_real_haproxy_log(run_main: RunMain) -> None:
    code, out, err = run_main("stats", "--config", str(HAP / "sq-queue-timeout.cfg"), "--format",
                              "json", str(HAP / "sq-queue-timeout.log"))
    assert code == 1, err  # 1: the log holds 5xx
    data = json.loads(out)
    assert data["requests"] == 3 and data["by_status"]["503"] == 2
    assert data["files"] == [str(HAP / "sq-queue-timeout.log")]
    ups = {u["address"] for u in data["upstreams"]}
    assert "127.0.0.1:34539" in ups  # the server's address from the config, as diagnose names it


def test_stats_text_names_haproxy_and_its_timeout_server(
    run_main: RunMain, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The 504s of timeout server 1s: made by haproxy (not "nginx"), each server next to its
    backend's timeout server (the JSON says which proxy wrote the log)."""
    monkeypatch.setenv("COLUMNS", "400")  # content, not layout: a wide terminal
    cfg, log = str(HAP / "sh-timeout.cfg"), str(HAP / "sh-timeout.log")
    code, out, _err = run_main("stats", "--config", cfg, log)
    assert code == 1
    assert "made by haproxy itself 2" in out and "Who made the 5xx: haproxy: 2" in out
    assert "nginx" not in out.lower()
    assert "timeout server" in out and f"timeout server of backend app: 1s ({cfg}:13)" in out
    code, out, _err = run_main("stats", "--config", cfg, "--format", "json", log)
    data = json.loads(out)
    assert data["proxy"] == "haproxy"
    (up,) = data["upstreams"]
    assert up["timeout"] == 1.0 and up["timeout_source"] == f"{cfg}:13" and up["locations"] == ["app"]


def test_apache_stats_say_apache_or_unknown(run_main: RunMain, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # content, not layout: a wide terminal
    d = FIXTURES_DIR / "recorded" / "apache-too-slow"
    code, out, _err = run_main("stats", "--config", str(d / "apache2.conf"), str(d / "apache-access.log"))
    assert code == 1 and "made by unknown 1" in out and "whether Apache or the backend" in out
    assert "nginx" not in out.lower()


def test_servers_state_is_parsed_from_a_recorded_answer() -> None:
    from why502.proxies.haproxy.runtime import parse_servers_state

    rows = parse_servers_state((HAP / "runtime" / "show-servers-state.txt").read_text())
    assert [(r.name, r.status, r.check_status, r.address) for r in rows] == [
        ("app/web1", "DOWN", "L4CON", "127.0.0.1:38112"), ("app/web2", "DOWN", "L4CON", "127.0.0.1:38113")]


@pytest.mark.real
@pytest.mark.skipif(find_haproxy() is None, reason="haproxy is not installed")
def test_stats_reads_show_servers_state_from_a_live_haproxy(run_main: RunMain) -> None:
    """With a ``stats socket`` that answers, stats adds each server's state now (``show servers
    state``): the server whose checks fail is DOWN with its last check, the other UP."""
    with Stack() as stack:
        app = stack.add_backend("ok", name="app")
        dead = free_port()
        stack.start_haproxy(f"server up1 {app.address} check inter 100ms\n"
                            f"server gone 127.0.0.1:{dead} check inter 100ms fall 1")
        conf, log, _sock = haproxy_paths(stack)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "is DOWN" not in log.read_text():
            time.sleep(0.1)
        assert stack.request("/").status == 200
        code, out, err = run_main("stats", "--config", str(conf), "--format", "json", str(log))
        assert code == 0, err
        now = {s["server"]: (s["state"], s["check"], s["address"]) for s in json.loads(out)["servers_now"]}
        assert now["app/gone"] == ("DOWN", "L4CON", f"127.0.0.1:{dead}")
        assert now["app/up1"][0] == "UP"
        code, out, _err = run_main("stats", "--config", str(conf), str(log))
        assert "Servers now" in out and "L4CON" in out  # the table (its title wraps to the table)
