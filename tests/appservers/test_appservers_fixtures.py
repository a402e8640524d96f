"""``why502 diagnose`` on what real app servers behind a real nginx wrote (tests/fixtures/appservers,
recorded by the runs of test_appservers_real.py; provenance in its README): the cause and the app
server's own setting, offline, in every quick loop."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.clirun import why502

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "appservers"

# name -> (app logs, app confs, cause, a text the finding must show, where)
CASES = {
    "gunicorn-keepalive-race": (["gunicorn.log"], ["gunicorn.conf.py"], "keepalive-race",
                                "gunicorn.conf.py:2: keepalive = 75", "fix"),
    "node-keepalive-race": ([], ["server.js"], "keepalive-race",
                            "server.js:13: server.keepAliveTimeout = 75000;", "fix"),
    "gunicorn-worker-timeout": (["gunicorn.log"], ["gunicorn.conf.py"], "backend-too-slow",
                                "gunicorn: --timeout 2s", "evidence"),
    "uwsgi-harakiri": (["uwsgi.log"], ["uwsgi.ini"], "backend-too-slow", "uwsgi: harakiri = 2s",
                       "evidence"),
}


def _run(name: str, logs: list[str], confs: list[str]) -> dict[str, Any]:
    d = FIXTURES / name
    args = ["diagnose", "--offline", "--format", "json", "--nginx-conf", str(d / "nginx.conf"),
            "--error-log", str(d / "error.log"), "--access-log", str(d / "access.log")]
    for f in logs:
        args += ["--app-log", str(d / f)]
    for f in confs:
        args += ["--app-conf", str(d / f)]
    res = why502(*args)
    assert res.returncode == 1, res.stderr
    report: dict[str, Any] = json.loads(res.stdout)
    return report


@pytest.mark.parametrize("name", sorted(CASES))
def test_recorded_fault_names_cause_and_the_app_servers_setting(name: str) -> None:
    logs, confs, cause, text, where = CASES[name]
    top = _run(name, logs, confs)["findings"][0]
    assert top["cause"] == cause, top
    shown = (top["fix"]["summary"] if where == "fix"
             else " ".join(e["summary"] for e in top["evidence"]))
    assert text in shown, shown


def test_without_the_app_servers_config_the_race_fix_stays_generic() -> None:
    top = _run("gunicorn-keepalive-race", ["gunicorn.log"], [])["findings"][0]
    assert top["cause"] == "keepalive-race" and "keepalive = 75" not in top["fix"]["summary"]
    assert "--app-conf FILE" in top["explanation"]


def test_gunicorns_500_without_its_log_is_the_backends_own_5xx() -> None:
    """The default reading stands when the deciding evidence (WORKER TIMEOUT) was not read."""
    top = _run("gunicorn-worker-timeout", [], [])["findings"][0]
    assert top["cause"] == "upstream-returned-5xx"
