"""Real app servers behind a real nginx: the fault is made, proved from nginx's own log, then
``why502 diagnose`` (the CLI, as a user runs it) must name the right cause and the app server's
own setting -- with ``--app-log``/``--app-conf``, and found by discovery (the process table,
limited to this test's PIDs with ``WHY502_PROC_PIDS``).

Before app servers were inputs, the first three read as "the backend crashed" or as a keep-alive
race with a generic fix (``keepalive_timeout 1s``, which is not below a 1 s app keep-alive); the
numbers are in tests/fixtures/appservers/README.md.
"""

from __future__ import annotations

import json
import shutil
from typing import Any

import pytest

from tests.support.appservers import (
    bin_of,
    bursty_posts,
    proxy_to,
    start_gunicorn,
    start_node,
    start_uwsgi,
)
from tests.support.clirun import why502
from why502.lab.runtime import Stack, find_nginx
from why502.lab.runtime.processes import read_text, wait_for_log

pytestmark = [pytest.mark.real, pytest.mark.skipif(find_nginx() is None, reason="needs nginx")]


def _diagnose(stack: Stack, *extra: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    res = why502("diagnose", "--nginx-conf", str(stack.p.nginx_conf), "--error-log",
                 str(stack.p.error_log), "--access-log", str(stack.p.access_log), "--format", "json",
                 *extra, env=env)
    assert res.returncode == 1, res.stderr + res.stdout
    report: dict[str, Any] = json.loads(res.stdout)
    return report


def _evidence(finding: dict[str, Any]) -> str:
    return "\n".join(f"{e['summary']} {e.get('source')}:{e.get('line')} {e.get('text') or ''}"
                     for e in finding["evidence"])


@pytest.mark.skipif(bin_of("gunicorn") is None, reason="needs gunicorn (the dev extra)")
def test_gunicorn_worker_timeout_named_with_its_timeout_setting() -> None:
    with Stack() as st:
        gun, port, conf = start_gunicorn(st, "timeout = 2\nworkers = 1\n")
        proxy_to(st, port, extra="proxy_read_timeout 30s;")
        got = st.requests("/slow/6", count=2, concurrency=2, timeout=30)
        # gunicorn's sync worker answers 500 itself when --timeout kills it (handle_abort ->
        # SystemExit, caught by sync.handle -> handle_error): nginx logs nothing and relays it
        assert [r.status for r in got] == [500, 500]
        log = st.root / "logs" / "gunicorn.log"
        assert wait_for_log(log, "WORKER TIMEOUT", timeout=10)
        assert 'upstream_status="500"' in read_text(st.p.access_log)  # the fault, from nginx's log

        for how in (("--offline", "--app-log", str(log), "--app-conf", str(conf)), ()):
            env = {"WHY502_PROC_PIDS": str(gun.pid)} if not how else None
            report = _diagnose(st, *how, env=env)
            top = report["findings"][0]
            assert top["cause"] == "backend-too-slow", (how, top)
            ev = _evidence(top)
            assert "WORKER TIMEOUT" in ev
            assert "gunicorn: --timeout 2s [gunicorn" in ev and f"{conf}:2" in ev, ev
            assert "answered 500 itself" in top["explanation"]
            assert f"{conf}:2: timeout = 35" in " ".join(top["fix"]["notes"]), top["fix"]
            if not how:  # found by discovery: the master, its -c file and its --error-logfile
                assert str(log) in report["inputs"]["app_logs"]
                assert any(f"pid {gun.pid}" in s for s in report["inputs"]["app_servers"])


@pytest.mark.skipif(bin_of("gunicorn") is None, reason="needs gunicorn (the dev extra)")
def test_gunicorn_keepalive_shorter_than_nginx_reuse_is_the_race_with_its_setting() -> None:
    with Stack() as st:
        gun, port, conf = start_gunicorn(st, "keepalive = 1\nworker_class = 'gthread'\nthreads = 8\n"
                                             "workers = 1\n")
        proxy_to(st, port, keepalive=True)
        failed = bursty_posts(st)
        nginx_log = read_text(st.p.error_log)
        assert failed and ("Connection reset by peer" in nginx_log or "prematurely closed" in nginx_log), (
            "harness: the keep-alive race did not reproduce in the bounded traffic")

        report = _diagnose(st, "--offline", "--app-log", str(st.root / "logs" / "gunicorn.log"),
                           "--app-conf", str(conf))
        top = report["findings"][0]
        assert top["cause"] == "keepalive-race", top
        assert "gunicorn --keep-alive 1s < nginx keepalive_timeout 60s" in _evidence(top)
        assert f"{conf}:2: keepalive = 75" in top["fix"]["summary"]
        assert "keepalive_timeout 500ms;" in (top["fix"]["diff"] or "")

        # discovery: the running master's -c file, no flags about the app server
        report = _diagnose(st, env={"WHY502_PROC_PIDS": str(gun.pid)})
        top = report["findings"][0]
        assert top["cause"] == "keepalive-race", top
        assert f"{conf}:2: keepalive = 75" in top["fix"]["summary"]


@pytest.mark.skipif(shutil.which("uwsgi") is None, reason="needs uwsgi (Debian uwsgi-core, "
                    "uwsgi-plugin-python3)")
def test_uwsgi_harakiri_named_with_its_harakiri_setting() -> None:
    with Stack() as st:
        _, port, ini = start_uwsgi(st, "processes = 1\nharakiri = 2\n")
        proxy_to(st, port, extra="proxy_read_timeout 30s;")
        got = st.requests("/slow/8", count=1, timeout=30)
        assert got[0].status == 502
        log = st.root / "logs" / "uwsgi.log"
        assert wait_for_log(log, "HARAKIRI ON WORKER", timeout=10)
        report = _diagnose(st, "--offline", "--app-log", str(log), "--app-conf", str(ini))
        top = report["findings"][0]
        assert top["cause"] == "backend-too-slow", top
        ev = _evidence(top)
        assert "HARAKIRI ON WORKER" in ev and "uwsgi: harakiri = 2s" in ev and f"{ini}:" in ev, ev
        assert f"{ini}:" in " ".join(top["fix"]["notes"]) and "harakiri = 35" in " ".join(top["fix"]["notes"])


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node")
def test_node_keepalive_timeout_shorter_than_nginx_reuse_is_the_race() -> None:
    with Stack() as st:
        _, port, script = start_node(st)
        proxy_to(st, port, keepalive=True)
        failed = bursty_posts(st, seconds=60, want=1)
        nginx_log = read_text(st.p.error_log)
        assert failed and ("Connection reset by peer" in nginx_log or "prematurely closed" in nginx_log), (
            "harness: the keep-alive race did not reproduce in the bounded traffic")
        report = _diagnose(st, "--offline", "--app-conf", str(script))
        top = report["findings"][0]
        assert top["cause"] == "keepalive-race", top
        assert "node server.keepAliveTimeout = 1000 ms < nginx keepalive_timeout 60s" in _evidence(top)
        # the fix names the script's own line that sets the timer (read from the script itself)
        line = next(i for i, text in enumerate(script.read_text().splitlines(), 1)
                    if "keepAliveTimeout" in text)
        assert f"{script}:{line}: server.keepAliveTimeout = 75000;" in top["fix"]["summary"]


@pytest.mark.skipif(shutil.which("uwsgi") is None, reason="needs uwsgi")
def test_reset_with_no_app_evidence_says_what_it_could_not_see() -> None:
    """The default reading of a reset (backend-crashed) names what would decide it; given the
    app server's log and config, the same run is the time limit's (evidence over default)."""
    with Stack() as st:
        _, port, _ = start_uwsgi(st, "processes = 1\nharakiri = 2\n")
        proxy_to(st, port, extra="proxy_read_timeout 30s;")
        assert st.requests("/slow/8", count=1, timeout=30)[0].status == 502
        log = st.root / "logs" / "uwsgi.log"
        assert wait_for_log(log, "HARAKIRI ON WORKER", timeout=10)
        top = _diagnose(st, "--offline")["findings"][0]
        assert top["cause"] == "backend-crashed", top
        assert "--app-log FILE" in top["explanation"], top["explanation"]
        top = _diagnose(st, "--offline", "--app-log", str(log))["findings"][0]
        assert top["cause"] == "backend-too-slow", top
