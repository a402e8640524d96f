"""App servers read as text (never run), tied to the proxy by identity, weighed by the analyzers.

Pure tests on files in a temp dir and typed evidence; the real programs behind a real nginx are
in test_appservers_real.py.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from tests.support.clirun import why502
from tests.support.evidence import evidence, with_host_listeners
from why502.analyzers.rank import run_all
from why502.evidence.appservers import app_server_evidence
from why502.evidence.model import Evidence, GroupFact, LogEvent, Sample, SymptomGroup, TargetFact
from why502.facts.appserver import AppServer
from why502.facts.net import Listener
from why502.facts.setting import Setting
from why502.parsers.appserver_config import from_argv, from_conf_file, kind_of_argv

T0 = datetime(2026, 11, 23, 23, 2, 34)
PEER = "127.0.0.1:8000"


def test_gunicorn_conf_is_parsed_not_run_and_the_command_line_wins(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text("import multiprocessing\n"
                    f"open({str(marker)!r}, 'w')\n"  # would run if the file were executed
                    "bind = ['127.0.0.1:8000', 'unix:/run/app.sock']\n"
                    "workers = multiprocessing.cpu_count() * 2 + 1\n"
                    "keepalive = 2\ntimeout = 30\n")
    s = from_argv(["/srv/venv/bin/gunicorn", "-c", str(conf), "--timeout=90", "app:app"],
                  origin="process 7", pid=7)
    assert not marker.exists()
    assert s is not None and s.kind == "gunicorn"
    assert s.binds == ("127.0.0.1:8000", "unix:/run/app.sock")
    assert s.settings["keepalive"] == Setting("2", file=str(conf), line=5)
    assert s.settings["workers"].value == "multiprocessing.cpu_count() * 2 + 1"
    assert s.settings["timeout"] == Setting("90", file="/proc/7/cmdline")  # CLI over the file
    assert s.seconds("request") == 90 and s.seconds("idle") == 2
    assert not s.keeps_idle_connections()  # the sync worker closes every connection
    assert s.serves("127.0.0.1:8000") and s.serves("unix:/run/app.sock")
    assert not s.serves("127.0.0.1:8001")


def test_uvicorn_uwsgi_puma_node_are_read(tmp_path: Path) -> None:
    u = from_argv(["python3", "-m", "uvicorn", "main:app", "--host", "0.0.0.0", "--port", "9000",
                   "--timeout-keep-alive", "3"], origin="process 9")
    assert u is not None and u.kind == "uvicorn" and u.seconds("idle") == 3
    assert u.serves("127.0.0.1:9000") and u.seconds("backlog") == 2048  # default

    ini = tmp_path / "app.ini"
    ini.write_text("[uwsgi]\nsocket = /run/uwsgi/app.sock\nprocesses = 4\nharakiri = 20\n"
                   "listen = 128\nlogto = /var/log/uwsgi/app.log\n")
    w = from_conf_file(ini)
    assert w is not None and w.kind == "uwsgi" and w.binds == ("unix:/run/uwsgi/app.sock",)
    assert w.settings["harakiri"] == Setting("20", file=str(ini), line=4)
    assert w.seconds("backlog") == 128 and w.logs == ("/var/log/uwsgi/app.log",)

    rb = tmp_path / "puma.rb"
    rb.write_text('workers ENV.fetch("WEB_CONCURRENCY") { 2 }\nthreads 1, 5\n'
                  "persistent_timeout 30\nworker_timeout 90\nbind 'tcp://127.0.0.1:3000'\n")
    p = from_conf_file(rb)
    assert p is not None and p.kind == "puma" and p.binds == ("127.0.0.1:3000",)
    assert p.seconds("idle") == 30 and p.seconds("request") == 90 and p.settings["workers"].value == "2"

    js = tmp_path / "server.js"
    js.write_text("const s = http.createServer(app);\ns.keepAliveTimeout = 65 * 1000;\n"
                  "s.listen(3000, '127.0.0.1');\n")
    n = from_conf_file(js)
    assert n is not None and n.kind == "node" and n.seconds("idle") == 65
    assert n.binds == ("127.0.0.1:3000",)
    assert AppServer("node").seconds("idle") == 5  # Node's default keepAliveTimeout, 5000 ms


def test_kind_of_argv() -> None:
    assert kind_of_argv(["gunicorn: master [app:app]"]) == "gunicorn"
    assert kind_of_argv(["/usr/bin/uwsgi", "--ini", "a.ini"]) == "uwsgi"
    assert kind_of_argv(["puma 6.4.0 (tcp://0.0.0.0:9292) [app]"]) == "puma"
    assert kind_of_argv(["/usr/bin/python3", "-m", "pytest"]) is None
    assert kind_of_argv(["nginx: master process /usr/sbin/nginx"]) is None


def test_only_app_servers_listening_where_the_proxy_sends_count(tmp_path: Path) -> None:
    here = AppServer("gunicorn", binds=("0.0.0.0:8000",), logs=("/var/log/gunicorn/a.log",))
    elsewhere = AppServer("gunicorn", binds=("127.0.0.1:9999",), logs=("/var/log/gunicorn/b.log",))
    apps = app_server_evidence([here, elsewhere], [PEER])
    assert apps.servers == (here,) and apps.others == (elsewhere,)
    assert apps.other_servers_log("/var/log/gunicorn/b.log", PEER)
    assert not apps.other_servers_log("/var/log/gunicorn/a.log", PEER)


def _drops(count: int = 5) -> SymptomGroup:
    times = tuple(T0 + timedelta(seconds=9 * i) for i in range(count))
    return SymptomGroup("connection-reset", PEER, count, first=times[0], last=times[-1],
                        statuses={502: count}, times=times,
                        samples=(Sample("recv() failed (104: Connection reset by peer)", "error.log", 1,
                                        times[0]),))


def _ev(*servers: AppServer, events: tuple[LogEvent, ...] = (), keepalive: bool = True,
        logs: tuple[str, ...] = ()) -> Evidence:
    group = GroupFact("app", servers=(PEER,), keepalive=16 if keepalive else None, file="n.conf", line=3)
    target = TargetFact(PEER, host="127.0.0.1", port=8000, group="app", file="n.conf", line=5,
                        settings={"proxy_http_version": Setting("1.1"),
                                  "proxy_set_header:Connection": Setting('""')})
    return replace(evidence(targets=(target,), groups={"app": group}, symptoms=(_drops(),),
                            events=events, offline=True),
                   apps=app_server_evidence(servers, [PEER], logs, looked=True))


GTHREAD = {"worker_class": Setting("gthread"), "keepalive": Setting("2", file="g.conf.py", line=4)}


def test_keepalive_shorter_than_the_proxys_is_the_race_named_in_gunicorns_terms() -> None:
    findings, _ = run_all(_ev(AppServer("gunicorn", binds=(PEER,), settings=GTHREAD)))
    top = findings[0]
    assert top.cause == "keepalive-race" and top.confidence >= 0.8
    assert "g.conf.py:4: keepalive = 75" in top.fix.summary
    assert any(e.source == "g.conf.py" and e.line == 4 for e in top.evidence)


def test_an_app_server_keeping_idle_connections_longer_refutes_the_race() -> None:
    """Guard: the app server's own keep-alive (longer than nginx's) lowers the race below 0.5."""
    longer = {"worker_class": Setting("gthread"), "keepalive": Setting("75", file="g.conf.py", line=4)}
    findings, _ = run_all(_ev(AppServer("gunicorn", binds=(PEER,), settings=longer)))
    race = [f for f in findings if f.cause == "keepalive-race"]
    assert not race or race[0].confidence < 0.5
    sync = run_all(_ev(AppServer("gunicorn", binds=(PEER,))))[0]
    assert all(f.cause != "keepalive-race" or f.confidence < 0.5 for f in sync)


def test_another_app_servers_keepalive_is_not_evidence() -> None:
    other = AppServer("gunicorn", binds=("127.0.0.1:9000",), settings=GTHREAD)
    top = run_all(_ev(other))[0][0]
    assert "keepalive = 75" not in top.fix.summary


def test_a_reset_with_no_app_evidence_says_what_was_not_read() -> None:
    findings, _ = run_all(_ev(keepalive=False))
    top = findings[0]
    assert top.cause == "backend-crashed"
    assert "--app-log FILE" in top.explanation and "--app-conf FILE" in top.explanation


def test_a_worker_timeout_in_another_app_servers_log_does_not_count() -> None:
    """Guard (analyzers.identity.could_be_backend): a line from the log of an app server that
    listens elsewhere is never this backend's, even at the same second."""
    line = "[2026-11-23 23:02:34 +0000] [7] [CRITICAL] WORKER TIMEOUT (pid:12)"
    kill = LogEvent("worker-timeout", line, source="gunicorn", time=T0, file="/var/log/b.log", pid=12)
    other = AppServer("gunicorn", binds=("127.0.0.1:9999",), logs=("/var/log/b.log",))
    mine = AppServer("gunicorn", binds=(PEER,), logs=("/var/log/a.log",))
    causes = [f.cause for f in run_all(_ev(other, mine, events=(kill,), keepalive=False))[0]]
    assert causes[0] == "backend-crashed"
    kill_here = LogEvent("worker-timeout", line, source="gunicorn", time=T0, file="/var/log/a.log", pid=12)
    causes = [f.cause for f in run_all(_ev(other, mine, events=(kill_here,), keepalive=False))[0]]
    assert causes[0] == "backend-too-slow"


def test_a_kill_in_a_log_that_says_it_listens_on_the_target_is_this_backends() -> None:
    """uWSGI's master holds the listening socket while its ``HARAKIRI ON WORKER 1 (pid: N)`` names
    the worker, so the pids never match (analyzers.identity.could_be_backend); only knowing
    whose log it is ties the kill.  A window copy that watch hands to diagnose (another path, no
    app config, no process found: the matrix's app-timeout uwsgi cells in the suite) is known
    by its own start-up line, ``uwsgi socket 0 bound to TCP address HOST:PORT fd 3``."""
    line = "Tue Nov 24 23:42:07 2026 - *** HARAKIRI ON WORKER 1 (pid: 15385, try: 1) ***"
    window = "/tmp/why502-watch-window-x/1/uwsgi.log"
    kill = LogEvent("worker-timeout", line, source="uwsgi", time=T0, file=window, pid=15385)
    master = Listener("tcp", "127.0.0.1", 8000, pid=15380, process="uwsgi")
    unknown = with_host_listeners(_ev(events=(kill,), keepalive=False, logs=(window,)), (master,))
    assert run_all(unknown)[0][0].cause == "backend-crashed"  # whose log? the worker's pid says no
    said = replace(unknown, apps=app_server_evidence([], [PEER], (window,), looked=True,
                                                     said=[(window, PEER)]))
    assert run_all(said)[0][0].cause == "backend-too-slow"
    elsewhere = replace(unknown, apps=app_server_evidence([], [PEER], (window,), looked=True,
                                                          said=[(window, "127.0.0.1:9999")]))
    assert elsewhere.apps.other_servers_log(window, PEER)
    assert run_all(elsewhere)[0][0].cause == "backend-crashed"


def test_app_conf_that_configures_no_app_server_is_one_line_exit_3(tmp_path: Path) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("hello\n")
    log = tmp_path / "error.log"
    log.write_text("")
    res = why502("diagnose", "--error-log", str(log), "--app-conf", str(bad), "--offline")
    assert res.returncode == 3 and "--app-conf" in res.stderr and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1
    res = why502("diagnose", "--error-log", str(log), "--app-conf", str(tmp_path / "missing.py"))
    assert res.returncode == 3 and "--app-conf" in res.stderr


@pytest.mark.parametrize("name", ["gunicorn.conf.py", "app.ini"])
def test_unparsable_configs_give_no_settings_not_a_crash(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\xff\xfe[uwsgi\x00\nbind = (\n")
    server = from_conf_file(path)
    assert server is None or not server.settings


def test_systemd_units_that_run_an_app_server_are_read(tmp_path: Path) -> None:
    from why502.sources.appservers import from_units

    (tmp_path / "app.service").write_text(
        "[Service]\nWorkingDirectory=/srv/app\n"
        "ExecStart=-/srv/venv/bin/gunicorn --bind unix:/run/app.sock --keep-alive 5 app:app\n")
    (tmp_path / "other.service").write_text("[Service]\nExecStart=/usr/sbin/cron -f\n")
    found = from_units((str(tmp_path),))
    assert [(s.kind, s.binds, s.origin) for s in found] == [
        ("gunicorn", ("unix:/run/app.sock",), "unit app.service")]
    assert found[0].seconds("idle") == 5


def test_an_app_server_found_without_a_listen_address_is_never_tied_to_the_target(tmp_path: Path) -> None:
    """Guard (evidence.appservers): a discovered server whose bind is unknown (Debian's
    uwsgi-app@.service template: ``--ini /etc/uwsgi/apps-available/%i.ini``) once refuted the
    keep-alive race of a lab backend it had nothing to do with; templates are skipped too."""
    from why502.sources.appservers import from_units

    (tmp_path / "uwsgi-app@.service").write_text(
        "[Service]\nExecStart=/usr/bin/uwsgi --ini /etc/uwsgi/apps-available/%i.ini\n")
    assert from_units((str(tmp_path),)) == []
    unknown = AppServer("uwsgi", origin="unit uwsgi-app.service")
    assert app_server_evidence([unknown], [PEER]).servers == ()
    named = AppServer("node", origin="--app-conf /srv/app/server.js")
    assert app_server_evidence([named], [PEER]).servers[0].binds == (PEER,)
