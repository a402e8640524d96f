"""HAProxy's one log given alone, as a user names it: ``--access-log``, ``--error-log`` or a
plain ``LOG``, with or without ``--proxy``/``--config``.

HAProxy writes one log: a session line is the request's access line and, in its termination
state, why it failed (configuration.txt 8.2.3, 8.5).  Before, named as ``--access-log`` its
statuses only were read ("nothing read says why", 39 %) -- with a note to pass it again as
``--error-log``; named alone with no ``--proxy``, its lines were judged in nginx's words
(``proxy_read_timeout (60s)``), its packaged ``/etc/haproxy/haproxy.cfg`` read for a log that
may come from another machine, and the capacity analyzer failed on the unknown timeout
(``TypeError``: its finding lost).  ``watch`` and ``stats`` read such a log as nginx's too.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import RunMain
from tests.support.paths import FIXTURES_DIR

HAP = FIXTURES_DIR / "recorded-proxies" / "haproxy"
LOG = str(HAP / "sh-timeout.log")  # two sH 504s of app/web1, recorded from HAProxy
CFG = str(HAP / "sh-timeout.cfg")


@pytest.mark.parametrize("args", [
    ["--access-log", LOG],
    ["--error-log", LOG],
    ["--proxy", "haproxy", "--access-log", LOG],
    ["--config", CFG, "--access-log", LOG],
    ["--config", CFG, "--error-log", LOG],
    ["--config", CFG, "--error-log", LOG, "--access-log", LOG],
])
def test_the_one_log_is_read_for_its_termination_states(run_main: RunMain, args: list[str]) -> None:
    code, out, err = run_main("diagnose", "--offline", "--format", "json", *args)
    assert code == 1 and "Traceback" not in err
    report = json.loads(out)
    top = report["findings"][0]
    assert top["cause"] == "backend-too-slow" and top["confidence"] >= 0.9
    assert "timeout server" in top["explanation"] and "HAProxy" in top["explanation"]
    assert "proxy_read_timeout" not in out and "(0s)" not in out
    assert not [d for d in report["diagnostics"] if "failed" in d["message"]]  # no analyzer lost
    assert report["inputs"]["access_logs"] == [LOG]  # its requests counted, from the one read
    if "--config" not in args and "--proxy" not in args:  # logs alone: no host config read
        assert "config" not in report["inputs"]
        assert any("only the logs named were read" in d["message"] for d in report["diagnostics"])


def test_an_nginx_error_log_alone_is_still_nginx(run_main: RunMain) -> None:
    log = FIXTURES_DIR / "recorded" / "backend-down-tcp" / "error.log"
    code, out, _err = run_main("diagnose", "--offline", "--format", "json", "--error-log", str(log))
    assert code == 1 and json.loads(out)["findings"][0]["proxy"] == "nginx"


@pytest.mark.parametrize("flag", ["--access-log", "--error-log"])
def test_watch_follows_the_one_log_alone_as_haproxy(flag: str, tmp_path: Path) -> None:
    log = tmp_path / "haproxy.log"
    log.write_bytes(Path(LOG).read_bytes())
    argv = [sys.executable, "-m", "why502", "watch", "--format", "jsonl", "--listen", "127.0.0.1:0",
            "--offline", "--min-failures", "1", "--min-requests", "1", "--no-page", "--from-start",
            "--max-events", "1", "--duration", "60", flag, str(log)]
    done = subprocess.run(argv, capture_output=True, timeout=120, check=False, stdin=subprocess.DEVNULL,
                          text=True)
    events = [json.loads(x) for x in done.stdout.splitlines() if x.startswith("{")]
    assert events, done.stderr
    incident = events[0]["incident"]
    assert incident["cause"] == "backend-too-slow" and "timeout server" in incident["summary"]
    assert "proxy_read_timeout" not in done.stdout
