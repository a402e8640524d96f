"""An app server's log names its own server: the same window, the same cause in ``diagnose`` and
``watch`` (issue 25 item 4), whether or not the app server's config or process was found.

The matrix cell ``app-timeout-apache-gunicorn-*-noisy`` failed in the suite: ``diagnose`` was
given gunicorn's config (``--app-conf``) and named backend-too-slow, while ``watch``, which takes
no app config and whose process scan sees nothing in the suite (``WHY502_PROC_PIDS=0``, as in a
container), handed its window to ``diagnose`` without it: with two targets in Apache's config
and no app server known to listen on either, the relayed 500s were credited to no target, and
gunicorn's ``WORKER TIMEOUT`` lines were never joined to them.  The window
(tests/fixtures/matrix-cells/apache-gunicorn-timeout-window, see its README) holds gunicorn's own
start-up line ``Listening at: http://127.0.0.1:58985``: the log says which target its server
serves (``evidence.appservers``: ``said``), so both commands name backend-too-slow.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.support.clirun import WHY502, why502
from tests.support.paths import matrix_cell

RULES = ("--min-failures", "1", "--min-requests", "1", "--ratio", "0.01")


def _copy(tmp_path: Path) -> Path:
    return matrix_cell("apache-gunicorn-timeout-window", tmp_path)


def _logs(work: Path) -> list[str]:
    return ["--proxy", "apache", "--config", str(work / "apache2.conf"),
            "--access-log", str(work / "apache-access.log"),
            "--error-log", str(work / "apache-error.log"), "--app-log", str(work / "gunicorn.log")]


def _diagnosed(*args: str) -> list[str]:
    done = why502("diagnose", "--offline", "--format", "json", *args)
    assert done.returncode == 1, done.stdout + done.stderr
    return [str(f["cause"]) for f in json.loads(done.stdout)["findings"]]


def _watched(*args: str) -> str:
    done = subprocess.run([WHY502, "watch", "--offline", "--format", "jsonl", "--listen", "off",
                           "--duration", "120", "--max-events", "1", *RULES, "--from-start", *args],
                          capture_output=True, timeout=180, check=False, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    events: list[dict[str, Any]] = [json.loads(ln) for ln in done.stdout.decode().splitlines()
                                    if ln.startswith("{")]
    assert events and events[0]["event"] == "incident-opened", (events, done.stderr.decode())
    return str(events[0]["incident"]["cause"])


def test_the_window_gives_diagnoses_cause_without_the_app_config(tmp_path: Path) -> None:
    work = _copy(tmp_path)
    with_conf = _diagnosed(*_logs(work), "--app-conf", str(work / "gunicorn.conf.py"))
    assert with_conf[0] == "backend-too-slow", with_conf
    # what watch hands over: the same lines, no app config, no process found
    assert _diagnosed(*_logs(work))[0] == "backend-too-slow"
    assert _watched(*_logs(work)) == "backend-too-slow"


def test_an_app_log_saying_it_listens_elsewhere_is_not_this_backends(tmp_path: Path) -> None:
    """Guard: the same log, its server listening on a port the proxy sends nothing to, is
    another program's log: its kills explain none of these 500s."""
    work = _copy(tmp_path)
    log = work / "gunicorn.log"
    log.write_text(log.read_text().replace("Listening at: http://127.0.0.1:58985",
                                           "Listening at: http://127.0.0.1:9999"))
    causes = _diagnosed(*_logs(work))
    assert "backend-too-slow" not in causes, causes
