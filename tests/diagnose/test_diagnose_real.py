"""End to end: a real nginx (lab runtime) fails for real, `why502 diagnose` runs live on it.

Live means everything the host offers: the listener table of /proc, probes of every target of the
config, socket permissions, PHP-FPM config.  Each lab scenario's cause must come out first, and
for config fixes the diff is applied with `patch` and nginx reloaded: the failing request must
then succeed (the fix really fixes).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from typing import Any

import pytest

from tests.support.labrun import run_or_skip
from why502.lab.runtime import Backend, Stack, find_nginx
from why502.lab.scenarios import RECORDINGS, SCENARIOS, ScenarioRun

pytestmark = [pytest.mark.real,
              pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed")]

# nginx scenarios through the CLI; the HAProxy and Apache scenarios are diagnosed live in
# tests/lab/test_lab_scenarios.py and through `diagnose --config` in test_diagnose_proxies.py
CASES = sorted(name for name, s in SCENARIOS.items() if s.cause and s.proxy == "nginx")
EXTRA = [name for name in ("protocol-http-to-tls", "backend-crashed-exit") if name in RECORDINGS]


def diagnose_live(run: ScenarioRun, *extra: str, stack: Stack | None = None) -> tuple[int, dict[str, Any]]:
    args = ["--nginx-conf", str(run.nginx_conf), "--error-log", str(run.error_log),
            "--access-log", str(run.access_log), "--format", "json", *extra]
    if run.fpm_conf:
        args += ["--fpm-conf", str(run.fpm_conf)]
    if run.fpm_log:
        args += ["--fpm-log", str(run.fpm_log)]
    # the scenario's own kernel lines (or none: the machine's dmesg holds other runs' OOM kills)
    if stack is not None:
        args += ["--kernel-log", str(run.kernel_log or stack.write_file("logs/kernel.log", ""))]
    for app_log in run.app_logs:
        args += ["--app-log", str(app_log)]
    # a stack in its own network namespace is diagnosed (probed) from inside it, never the host's
    prefix = stack.netns.prefix() if stack is not None and stack.netns is not None else []
    res = subprocess.run([*prefix, sys.executable, "-m", "why502", "diagnose", *args],
                         capture_output=True, text=True, timeout=120)
    assert "Traceback" not in res.stderr, res.stderr
    return res.returncode, json.loads(res.stdout)


@pytest.mark.parametrize("name", CASES + EXTRA)
def test_live_diagnosis_names_the_scenario_cause(name: str) -> None:
    scenario = SCENARIOS.get(name) or RECORDINGS[name]
    with Stack() as stack:
        run = run_or_skip(scenario, stack)
        code, doc = diagnose_live(run, stack=stack)
    causes = [(f["cause"], f["confidence"]) for f in doc["findings"]]
    # a recovered incident alone is the past: exit 0 (issue 31), the cause still named
    assert code == (0 if all(f.get("recovered") for f in doc["findings"]) else 1), causes
    assert (name == "past-incident-recovered") == all(f.get("recovered") for f in doc["findings"])
    assert doc["findings"][0]["cause"] == scenario.cause, causes
    assert doc["inputs"]["offline"] is False


def _apply(diff: str, path: str) -> None:
    res = subprocess.run(["patch", "--forward", "--batch", path], input=diff, text=True,
                         capture_output=True, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.skipif(shutil.which("patch") is None, reason="needs patch(1)")
@pytest.mark.parametrize("name,path", [("wrong-target-ipv6", "/api/items"),
                                       ("buffer-too-small", "/login")])
def test_the_fix_diff_fixes_the_real_failure(name: str, path: str) -> None:
    scenario = SCENARIOS[name]
    with Stack() as stack:
        run = run_or_skip(scenario, stack)
        before = stack.request(path)
        assert before.status == 502
        _, doc = diagnose_live(run)
        top = doc["findings"][0]
        assert top["cause"] == scenario.cause
        assert top["fix"]["diff"] and top["fix"]["file"] == str(run.nginx_conf)
        _apply(top["fix"]["diff"], str(run.nginx_conf))
        test = subprocess.run([find_nginx() or "nginx", "-t", "-c", str(run.nginx_conf)],
                              capture_output=True, text=True, timeout=30)
        assert test.returncode == 0, test.stderr
        stack.reload_nginx()
        after = stack.request(path)
        assert after.status == 200, (after.status, top["fix"]["diff"])


def _one_app(stack: Stack) -> tuple[Backend, ScenarioRun]:
    """nginx proxying ``/`` to one lab backend; the run that names the stack's nginx files."""
    app = stack.add_backend("ok", name="app")
    stack.start_nginx(f"""
        server {{
            listen {stack.listen};
            location / {{ proxy_pass http://{app.address}; }}
        }}
    """)
    return app, ScenarioRun(nginx_conf=stack.p.nginx_conf, error_log=stack.p.error_log,
                            access_log=stack.p.access_log)


def test_healthy_live_stack_exits_0() -> None:
    with Stack() as stack:
        _app, run = _one_app(stack)
        assert stack.request("/").status == 200
        code, doc = diagnose_live(run)
    assert code == 0 and doc["healthy"] is True, doc["findings"]
    probes = [p for u in doc["upstreams"] for p in u["probes"]]
    assert probes and all(p["ok"] for p in probes)  # the target was probed live


def test_backend_stopped_before_any_request_is_found_by_the_probe() -> None:
    with Stack() as stack:
        app, run = _one_app(stack)
        assert app.process is not None
        stack.stop_process(app.process)
        code, doc = diagnose_live(run)
        offline_code, offline = diagnose_live(run, "--offline")
    assert code == 1 and doc["findings"][0]["cause"] == "backend-not-running"
    # offline: no probe, nothing in the logs -- the config alone was judged, which is no finding
    # (exit 0) but not "healthy" (it said so, while the backend was down: a false all-clear)
    assert offline_code == 0 and not offline["findings"] and not offline["healthy"]
    assert offline["judged"] == ["config"] and not offline["no_evidence"]


@pytest.mark.skipif(shutil.which("patch") is None, reason="needs patch(1)")
def test_socket_permissions_fix_lets_the_worker_connect() -> None:
    """The pool diff (listen.owner/group/mode for nginx's worker user), applied and PHP-FPM
    restarted, makes the PHP page answer 200."""
    scenario = SCENARIOS["socket-permissions"]
    with Stack() as stack:
        run = run_or_skip(scenario, stack)
        assert stack.request("/index.php").status == 502
        _, doc = diagnose_live(run)
        top = doc["findings"][0]
        assert top["cause"] == "socket-permissions"
        assert any("may not connect" in e["summary"] for e in top["evidence"]), top["evidence"]
        assert top["fix"]["diff"] and "listen.owner = nobody" in top["fix"]["diff"]
        _apply(top["fix"]["diff"], top["fix"]["file"])
        stack.start_php_fpm()
        assert stack.request("/index.php").status == 200, top["fix"]["diff"]
