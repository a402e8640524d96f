"""The person on call at 3 a.m., on an 80x24 terminal (issue 31): the commands exactly as the
README prints them (``why502 diagnose``, then ``why502 diagnose -v``), run in a real ``tmux``
pane of 80x24 against real proxies on loopback, and what the screen shows is asserted -- the
verdict without scrolling, which config was read, no line over 80 columns, the fix's command.

The scan of running proxies is limited to each test's own PIDs (``WHY502_PROC_PIDS``), so other
proxies on the machine are not seen.  Clients count their own answers (``Stack.request``), and
the report's counts are checked against them.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from tests.support.clirun import why502
from tests.support.screen import HEIGHT, WIDTH, have_tmux, pane
from why502.lab.runtime import Stack, find_nginx
from why502.lab.runtime.machine import find_haproxy, free_port
from why502.lab.runtime.processes import can_connect
from why502.proxies.haproxy.lab import haproxy_paths

pytestmark = [pytest.mark.real,
              pytest.mark.skipif(not have_tmux(), reason="needs tmux"),
              pytest.mark.skipif(find_nginx() is None, reason="needs nginx")]


def _proxy_to(port: int) -> str:
    return f"location / {{ proxy_pass http://127.0.0.1:{port}; }}"


def _fits(screen: str) -> list[str]:
    """The screen's lines, each checked to fit the pane's width."""
    lines = screen.rstrip("\n").splitlines()
    assert len(lines) <= HEIGHT
    assert all(len(line) <= WIDTH for line in lines), screen
    return lines


def test_nginx_started_with_c_first_screen_fits_80x24(tmp_path: Path) -> None:
    with Stack() as web:
        gone = free_port()
        web.start_nginx(f"server {{ listen {web.listen}; {_proxy_to(gone)} }}")
        got = [web.request("/").status for _ in range(20)]
        assert got == [502] * 20  # the client's own count
        assert web.nginx is not None
        env = {"WHY502_PROC_PIDS": str(web.nginx.pid)}
        with pane(tmp_path, env) as term:
            code = term.run("why502 diagnose")
            screen = term.screen()
        lines = _fits(screen)
        assert code == 1, screen
        # nothing scrolled off: the command is still the first line, the verdict under it
        assert lines[0].startswith("$ why502 diagnose"), screen
        assert lines[1].startswith("✘ The backend is not running"), screen
        assert f"read: {web.p.nginx_conf}" in screen.replace("\n     ", " ")
        assert f"$ ss -ltnp 'sport = :{gone}'" in screen
        assert "more with -v" in screen
        assert sum(1 for line in lines if line.lstrip().startswith("• ")) == 3  # three strongest
        assert "502 × 20" in screen  # the count the client saw
        # -v: the whole report (it scrolls: that is what -v asks for), still 80 columns wide
        res = why502("diagnose", "-v", env=env)
        assert res.returncode == 1
        assert all(len(line) <= WIDTH for line in res.stdout.splitlines())  # piped: 80
        assert "Evidence" in res.stdout and "connect() failed" in res.stdout
        data = json.loads(why502("diagnose", "--format", "json", env=env).stdout)
        top = data["findings"][0]
        assert top["cause"] == "backend-not-running" and top["count"] == got.count(502)


def _chosen_port() -> int:
    """A free port a person would choose, below the ephemeral range (net.ipv4.ip_local_port_range,
    32768 up by default): near a kernel-chosen port why502 claims nothing moved, because its
    neighbours are other programs' random ports (analyzers.backend_down._ephemeral)."""
    import random
    import socket

    for _ in range(200):
        port = random.randrange(20000, 32000)
        try:
            for p in (port, port + 1):
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return port
    pytest.skip("no free pair of ports below the ephemeral range")


def test_backend_moved_one_port_up_is_said_and_commands_name_c_and_p(tmp_path: Path) -> None:
    with Stack() as web:
        old = _chosen_port()
        web.start_nginx(f"server {{ listen {web.listen}; {_proxy_to(old)} }}")
        assert [web.request("/").status for _ in range(3)] == [502] * 3
        moved = old + 1
        if not can_connect(f"127.0.0.1:{moved}"):
            web.add_backend("ok", port=moved)
        else:
            pytest.skip(f"port {moved} is taken on this machine")
        assert web.nginx is not None
        with pane(tmp_path, {"WHY502_PROC_PIDS": str(web.nginx.pid)}) as term:
            code = term.run("why502 diagnose")
            screen = term.screen()
        _fits(screen)
        flat = " ".join(screen.split())
        assert code == 1, screen
        assert f"listens near the old port, on 127.0.0.1:{moved}" in flat, screen
        assert "nothing similar listens elsewhere" not in flat
        # the lab's nginx runs as `nginx -p ROOT -c CONF`: the commands say both
        assert f"$ nginx -t -p {web.p.root} -c {web.p.nginx_conf}" in flat, screen
        assert "systemctl reload nginx" not in flat


def test_caddy_in_front_of_a_dead_backend_is_never_healthy(tmp_path: Path) -> None:
    caddy = shutil.which("caddy")
    if caddy is None:
        pytest.skip("needs caddy")
    with Stack() as web:
        gone = free_port()
        log = web.p.root / "caddy-access.log"
        web.write_file("Caddyfile", "{\n  admin off\n  auto_https off\n}\n"
                       f"http://:{web.listen.rsplit(':', 1)[1]} {{\n  bind 127.0.0.1\n"
                       f"  log {{\n    output file {log}\n    format json\n  }}\n"
                       f"  reverse_proxy 127.0.0.1:{gone}\n}}\n")
        proc = web.spawn("caddy", [caddy, "run", "--config", "Caddyfile", "--adapter", "caddyfile"],
                         cwd=web.p.root)
        deadline = time.monotonic() + 30
        while not can_connect(web.listen) and time.monotonic() < deadline:
            time.sleep(0.2)
        got = [web.request("/").status for _ in range(20)]
        assert got == [502] * 20
        env = {"WHY502_PROC_PIDS": str(proc.pid), "HOME": str(web.p.root)}
        with pane(tmp_path, env) as term:
            code = term.run("why502 diagnose")
            screen = term.screen()
        lines = _fits(screen)
        assert code == 1, screen  # was: "✔ healthy", exit 0, from /etc/nginx
        assert lines[1].startswith("✘ "), screen
        assert "healthy" not in screen
        assert f"read: {web.p.root}/Caddyfile" in screen.replace("\n     ", " ")
        assert "502 × 20" in screen


def test_live_haproxy_outage_ranks_above_a_recovered_nginx_incident(tmp_path: Path) -> None:
    if find_haproxy() is None:
        pytest.skip("needs haproxy")
    with Stack() as past, Stack() as live:
        port = free_port()
        past.start_nginx(f"server {{ listen {past.listen}; {_proxy_to(port)} }}")
        seen_past = [past.request("/").status for _ in range(30)]  # more failures than the live one
        past.add_backend("ok", port=port)  # it comes back: the past incident recovered
        assert past.request("/").status == 200
        gone = free_port()
        # health checks mark it DOWN: HAProxy then logs "backend app has no server available!"
        # once, besides each request's 503 line (it was counted as one more 503)
        hap = live.start_haproxy(f"  server s1 127.0.0.1:{gone} check inter 200ms fall 1",
                                 master_worker=True)
        time.sleep(1.0)
        seen_live = [live.request("/").status for _ in range(10)]
        assert seen_past == [502] * 30 and seen_live == [503] * 10
        assert past.nginx is not None
        both = {"WHY502_PROC_PIDS": f"{past.nginx.pid},{hap.pid}"}
        data = json.loads(why502("diagnose", "--format", "json", env=both).stdout)
        kinds = [(f["proxy"], f.get("recovered", False)) for f in data["findings"]]
        assert kinds[0] == ("haproxy", False), kinds  # the live outage first
        assert kinds[-1] == ("nginx", True), kinds
        recovered = data["findings"][-1]
        assert recovered["count"] == 30  # what the client counted
        # the recovered incident alone: exit 0, no "start the backend" command
        alone = {"WHY502_PROC_PIDS": str(past.nginx.pid)}
        with pane(tmp_path, alone) as term:
            code = term.run("why502 diagnose")
            screen = term.screen()
        _fits(screen)
        assert code == 0, screen
        assert "✔ recovered:" in screen
        assert "start the backend" not in screen and "systemctl start" not in screen
        # HAProxy's log (its httplog lines) read with the config: the counts match the client's
        conf, log, _sock = haproxy_paths(live)
        res = why502("diagnose", "--config", str(conf), "--error-log", str(log), "--format", "json",
                     env={"WHY502_PROC_PIDS": str(hap.pid)})
        counted = sum(f["count"] for f in json.loads(res.stdout)["findings"] if 503 in f["status_codes"])
        assert counted == seen_live.count(503), res.stdout[:2000]
