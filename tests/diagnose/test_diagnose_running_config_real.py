"""The config the RUNNING proxy uses: an nginx started with ``-c FILE`` (the only one, found in
``/proc`` with the scan limited to this test's PIDs by ``WHY502_PROC_PIDS``) is diagnosed from
that FILE, not from ``nginx -T`` (which reads the compiled-in /etc/nginx), and every verdict says
which config and logs it read.  Issue 31, item 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.clirun import why502
from why502.lab.runtime import Stack, find_nginx
from why502.lab.runtime.machine import free_port

pytestmark = [pytest.mark.real, pytest.mark.skipif(find_nginx() is None, reason="needs nginx")]


def test_lone_nginx_started_with_c_is_diagnosed_from_its_own_config() -> None:
    with Stack() as web:
        gone = free_port()  # nothing listens there
        web.start_nginx(f"server {{ listen {web.listen}; "
                        f"location / {{ proxy_pass http://127.0.0.1:{gone}; }} }}")
        for _ in range(3):
            assert web.request("/").status == 502
        assert web.nginx is not None
        env = {"WHY502_PROC_PIDS": str(web.nginx.pid)}
        res = why502("diagnose", "--format", "json", env=env)
        assert res.returncode == 1, res.stdout + res.stderr
        report = json.loads(res.stdout)
        assert report["inputs"]["configs"] == [str(web.p.nginx_conf)]
        assert any(f["cause"] == "backend-not-running" and f["target"] == f"127.0.0.1:{gone}"
                   for f in report["findings"])
        text = why502("diagnose", env=env)
        assert text.returncode == 1
        head = text.stdout.splitlines()[:6]
        assert any(f"read: {web.p.nginx_conf}" in line for line in head), text.stdout
        # item 5: no unit known (no systemd here for this backend): what listens on the port,
        # never "systemctl status <backend unit>"
        assert f"ss -ltnp 'sport = :{gone}'" in text.stdout
        assert "systemctl status" not in text.stdout and "<backend unit>" not in text.stdout


@pytest.mark.parametrize("flag", ["--config", "--nginx-conf"])
def test_a_caddyfile_is_never_read_as_nginx(tmp_path: Path, flag: str) -> None:
    caddyfile = tmp_path / "Caddyfile"
    caddyfile.write_text(":8080 {\n\treverse_proxy 127.0.0.1:9000\n}\n")
    res = why502("diagnose", flag, str(caddyfile), "--offline")
    assert res.returncode == 3 and res.stdout == ""
    # Caddy is a proxy of the registry now: --config reads it (and with no log to read offline
    # says where its error lines are), --nginx-conf points to --config
    want = "pass them with --error-log" if flag == "--config" else "this is a Caddy config, not nginx's"
    assert want in res.stderr and "Traceback" not in res.stderr


def test_a_haproxy_cfg_given_as_nginx_conf_names_config(tmp_path: Path) -> None:
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text("global\n  maxconn 100\ndefaults\n  mode http\nbackend app\n  server a 127.0.0.1:9\n")
    res = why502("diagnose", "--nginx-conf", str(cfg), "--offline")
    assert res.returncode == 3 and f"--config {cfg}" in res.stderr


def test_a_healthy_verdict_says_what_it_read(tmp_path: Path) -> None:
    conf = tmp_path / "n.conf"
    log = tmp_path / "e.log"
    log.write_text("")
    conf.write_text(f"events {{}}\nhttp {{ error_log {log}; access_log off; "
                    "server { listen 127.0.0.1:1; location / { return 200; } } }\n")
    res = why502("diagnose", "--config", str(conf), "--offline", env={"COLUMNS": "400"})
    assert res.returncode == 0, res.stderr
    # the log is empty: the read: line says so, and the verdict is the config's alone (no
    # finding, exit 0), not "healthy" (docs/guide/diagnose.md, "No evidence is no verdict")
    assert res.stdout.splitlines()[1].strip() == f"read: {conf} · logs {log} (0 lines)"
    assert res.stdout.startswith("✔ no config pitfall found; no log line to judge")


def test_watch_follows_the_running_nginx_own_config() -> None:
    with Stack() as web:
        web.start_nginx(f"server {{ listen {web.listen}; location / {{ return 200; }} }}")
        assert web.nginx is not None
        env = {"WHY502_PROC_PIDS": str(web.nginx.pid)}
        res = why502("watch", "--duration", "1", "--format", "jsonl", "--listen", "off",
                     env=env)
        assert res.returncode == 0, res.stderr
        # "following the running nginx (pid N): its config FILE" (h/oncall3 names the master)
        assert "following the running nginx (pid " in res.stderr, res.stderr
        assert f"its config {web.p.nginx_conf}" in res.stderr, res.stderr
