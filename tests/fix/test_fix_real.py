"""``why502 fix --apply`` against a real nginx on loopback (lab runtime, stopped by PID): a fix
that cures the 504s and is undone byte for byte, a fix ``nginx -t`` rejects, and a fix that
passes ``-t`` but does not cure."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from tests.fix.reports import journal_states, report_for
from tests.support.clirun import why502
from why502.app.fix.service import children
from why502.facts.probes import ProbeTarget
from why502.lab.runtime import Stack, find_nginx, find_php_fpm
from why502.lab.runtime.machine import free_port

pytestmark = [pytest.mark.real, pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed")]


def slow_site(stack: Stack, delay: float = 1.5) -> Path:
    """nginx waits 1 s for a backend that needs ``delay`` s: every request ends in 504."""
    app = stack.add_backend("slow", name="app", delay=delay)
    stack.start_nginx(f"""
        server {{
            listen {stack.listen};
            server_name lab.example;
            location / {{
                proxy_pass http://{app.address};
                proxy_read_timeout 1s;
            }}
        }}
    """, error_level="info")
    return stack.p.nginx_conf


def test_fix_cures_the_504s_and_undo_restores_the_exact_bytes(tmp_path: Path) -> None:
    with Stack() as stack:
        conf = slow_site(stack)
        conf.chmod(0o640)
        original, mode = conf.read_bytes(), conf.stat().st_mode
        assert stack.request("/r").status == 504
        report = tmp_path / "report.json"
        diag = why502("diagnose", "--offline", "--nginx-conf", str(conf), "--error-log",
                      str(stack.p.error_log), "--access-log", str(stack.p.access_log), "--format", "json",
                      "-o", str(report))
        assert diag.returncode == 1, diag.stderr
        finding = json.loads(report.read_text())["findings"][0]
        assert finding["cause"] == "backend-too-slow" and finding["fix"]["hashes"]
        state = tmp_path / "state"
        url = f"http://127.0.0.1:{stack.nginx_port}/again"
        res = why502("fix", str(report), "--apply", "--yes", "--state-dir", str(state),
                     "--verify-for", "1", "--verify-url", url)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "nginx -t: configuration test passed" in res.stdout and "verified" in res.stdout
        assert b"proxy_read_timeout 30s;" in conf.read_bytes()
        assert stack.request("/r").status == 200
        assert journal_states(state) == ["applied"]
        listing = why502("fix", "--list", "--state-dir", str(state))
        assert "applied" in listing.stdout and "backend-too-slow" in listing.stdout
        undo = why502("fix", "--undo", "--state-dir", str(state))
        assert undo.returncode == 0, undo.stdout + undo.stderr
        assert conf.read_bytes() == original and conf.stat().st_mode == mode
        assert journal_states(state) == ["undone"]
        assert stack.request("/r").status == 504  # the old config is live again


def test_a_fix_nginx_t_rejects_is_rolled_back_and_nginx_keeps_serving(tmp_path: Path) -> None:
    with Stack() as stack:
        app = stack.add_backend("ok", name="app")
        stack.start_nginx(f"server {{ listen {stack.listen}; "
                          f"location / {{ proxy_pass http://{app.address}; }} }}")
        conf = stack.p.nginx_conf
        broken = stack.p.root / "broken.conf"
        broken.write_text("proxy_read_timeout;\n")  # wrong number of arguments: nginx -t fails
        os.chown(conf, 65534, 0)  # owner and mode must survive the rollback
        conf.chmod(0o604)
        before = (conf.read_bytes(), conf.stat().st_mode, conf.stat().st_uid, conf.stat().st_gid)
        new = conf.read_text().replace("proxy_pass", f"include {broken}; proxy_pass")
        report = report_for(conf, new, tmp_path / "r.json")
        master = stack.nginx.pid if stack.nginx else 0
        answered: list[int | None] = []
        stop = threading.Event()

        def traffic() -> None:
            while not stop.is_set():
                answered.append(stack.request("/t", timeout=5).status)

        t = threading.Thread(target=traffic)
        t.start()
        try:
            res = why502("fix", str(report), "--apply", "--yes", "--state-dir", str(tmp_path / "s"))
        finally:
            stop.set()
            t.join()
        assert res.returncode == 1, res.stdout + res.stderr
        assert "nginx -t rejected the change" in res.stdout and "restored from backup" in res.stdout
        assert (conf.read_bytes(), conf.stat().st_mode, conf.stat().st_uid, conf.stat().st_gid) == before
        assert answered and all(s == 200 for s in answered)
        assert stack.nginx is not None and stack.nginx.pid == master and stack.nginx.alive()
        assert journal_states(tmp_path / "s") == ["rolled-back"]


def test_a_fix_that_passes_t_but_does_not_cure_is_rolled_back(tmp_path: Path) -> None:
    with Stack() as stack:
        conf = slow_site(stack)
        original = conf.read_bytes()
        new = conf.read_text().replace("proxy_read_timeout 1s;", "proxy_read_timeout 1100ms;")
        report = report_for(conf, new, tmp_path / "r.json")
        url = f"http://127.0.0.1:{stack.nginx_port}/still-slow"
        res = why502("fix", str(report), "--apply", "--yes", "--state-dir", str(tmp_path / "s"),
                     "--verify-for", "1", "--verify-url", url)
        assert res.returncode == 1, res.stdout + res.stderr
        assert "verification failed" in res.stdout and "answered 504" in res.stdout
        assert "reloaded the old configuration" in res.stdout
        assert conf.read_bytes() == original
        assert journal_states(tmp_path / "s") == ["rolled-back"]


def test_a_fix_whose_backend_still_refuses_is_rolled_back(tmp_path: Path) -> None:
    """No --verify-url and no new error line: the finding's backend, probed again after the
    reload, still refuses connections, so the change did not cure anything."""
    with Stack() as stack:
        port = free_port()  # nothing listens here
        stack.start_nginx(f"server {{ listen {stack.listen}; "
                          f"location / {{ proxy_pass http://127.0.0.1:{port}; }} }}")
        conf = stack.p.nginx_conf
        original = conf.read_bytes()
        new = conf.read_text().replace("proxy_pass", "proxy_connect_timeout 2s; proxy_pass")
        report = report_for(conf, new, tmp_path / "r.json", cause="backend-down",
                            probed=ProbeTarget(host="127.0.0.1", port=port))
        res = why502("fix", str(report), "--apply", "--yes", "--state-dir", str(tmp_path / "s"),
                     "--verify-for", "0.2")
        assert res.returncode == 1, res.stdout + res.stderr
        assert "verification failed: probe after the reload" in res.stdout
        assert "refused" in res.stdout.lower()
        assert conf.read_bytes() == original
        assert journal_states(tmp_path / "s") == ["rolled-back"]


@pytest.mark.skipif(find_php_fpm() is None, reason="php-fpm is not installed")
def test_fpm_pool_change_is_tested_with_php_fpm_t_reloaded_or_rolled_back(tmp_path: Path) -> None:
    """A pool change goes through ``php-fpm -t`` and a graceful reload (SIGUSR2: every worker is
    replaced); one ``php-fpm -t`` rejects is rolled back to the same bytes."""
    with Stack() as stack:
        pool = stack.add_php_fpm({"pm.max_children": "2"}, scripts={"index.php": "<?php echo 'ok';"})
        stack.start_nginx(f"""
            server {{
                listen {stack.listen};
                location ~ \\.php$ {{
                    fastcgi_pass {pool.fastcgi_pass};
                    {stack.fastcgi_params()}
                }}
            }}
        """)
        assert stack.request("/index.php").status == 200
        assert stack.fpm is not None
        workers = sorted(children(stack.fpm.pid))
        text = pool.conf.read_text()
        url = f"http://127.0.0.1:{stack.nginx_port}/index.php"
        common = ["--apply", "--yes", "--state-dir", str(tmp_path / "s"), "--fpm-conf", str(stack.p.fpm_conf),
                  "--nginx-conf", str(stack.p.nginx_conf), "--verify-for", "0.5", "--verify-url", url]
        bad = report_for(pool.conf, text.replace("pm.max_children = 2", "pm.max_children = 0"),
                         tmp_path / "bad.json", cause="workers-exhausted")
        res = why502("fix", str(bad), *common)
        assert res.returncode == 1 and "php-fpm -t rejected the change" in res.stdout, res.stdout
        assert pool.conf.read_text() == text and sorted(children(stack.fpm.pid)) == workers
        good = report_for(pool.conf, text.replace("pm.max_children = 2", "pm.max_children = 4"),
                          tmp_path / "good.json", cause="workers-exhausted")
        res = why502("fix", str(good), *common)
        assert res.returncode == 0, res.stdout + res.stderr
        assert "php-fpm reloaded" in res.stdout
        now = children(stack.fpm.pid)
        assert len(now) == 4 and not now & set(workers)  # pm static: 4 new workers
        assert stack.request("/index.php").status == 200
        assert journal_states(tmp_path / "s") == ["rolled-back", "applied"]
