"""The app server's own start-up line decides TLS-to-plain-HTTP offline (issue 25 item 2).

Envoy's default access line writes ``UF`` alike for a refused connection and for a failed TLS
handshake, so a log read alone (no live probe) left ``backend-not-running`` first.  gunicorn says
where it listens and in which scheme (``Listening at: http://127.0.0.1:40969``, gunicorn/arbiter.py
``Arbiter.start`` with ``sock.TCPSocket.__str__``); when that address is the target the cluster
speaks TLS to, the app was running in plain HTTP: ``upstream-tls-mismatch``.  The recording is
the real run of the edge lab's ``envoy-upstream-tls-mismatch`` (tests/fixtures/recorded); the
variants change only the gunicorn lines, to check that the line counts by identity (the address)
and by time (before the failures, not superseded by an ``https`` restart).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import RunMain
from tests.support.paths import FIXTURES_DIR

RECORDING = FIXTURES_DIR / "recorded" / "envoy-upstream-tls-mismatch"
LISTENING = "[2026-11-24 12:04:31 +0000] [513] [INFO] Listening at: http://127.0.0.1:40969 (513)"


def _diagnose(tmp_path: Path, run_main: RunMain, gunicorn_log: str | None = None) -> list[dict[str, object]]:
    root = tmp_path / "rec"
    shutil.copytree(RECORDING, root)
    for path in root.iterdir():
        path.write_text(path.read_text().replace("/lab", str(root)))
    if gunicorn_log is not None:
        (root / "gunicorn.log").write_text(gunicorn_log)
    code, out, err = run_main("diagnose", "--offline", "--format", "json", "--proxy", "envoy",
                              "--config", str(root / "envoy.yaml"),
                              "--access-log", str(root / "envoy-access.log"),
                              "--app-log", str(root / "gunicorn.log"))
    assert code == 1, err
    findings: list[dict[str, object]] = json.loads(out)["findings"]
    return findings


def _recorded_log() -> str:
    return (RECORDING / "gunicorn.log").read_text()


def test_gunicorn_listening_in_plain_http_on_the_tls_target_is_the_mismatch(
        tmp_path: Path, run_main: RunMain) -> None:
    findings = _diagnose(tmp_path, run_main)
    top = findings[0]
    assert top["cause"] == "upstream-tls-mismatch", [f["cause"] for f in findings]
    assert top["target"] == "127.0.0.1:40969"
    lines = [(e.get("source"), e.get("line")) for e in top["evidence"]  # type: ignore[attr-defined]
             if e.get("kind") == "log"]
    assert any(str(src).endswith("gunicorn.log") and line == 2 for src, line in lines), lines
    # the invalid requests at the moments of the failures back it
    assert any(str(src).endswith("gunicorn.log") and line == 5 for src, line in lines), lines


@pytest.mark.parametrize("variant", ["https", "other-port", "after-the-failures", "restarted-with-tls",
                                     "no-listen-line"])
def test_the_line_counts_only_by_address_scheme_and_time(variant: str, tmp_path: Path,
                                                           run_main: RunMain) -> None:
    log = _recorded_log()
    assert LISTENING in log
    if variant == "https":
        log = log.replace("Listening at: http://", "Listening at: https://")
    elif variant == "other-port":
        log = log.replace("127.0.0.1:40969", "127.0.0.1:40970")
    elif variant == "after-the-failures":
        log = log.replace(LISTENING + "\n", "") + LISTENING.replace("12:04:31", "12:09:31") + "\n"
    elif variant == "restarted-with-tls":
        log = log + LISTENING.replace("http://", "https://") + "\n"
    else:
        log = log.replace(LISTENING + "\n", "")
    findings = _diagnose(tmp_path, run_main, log)
    top = findings[0]
    if variant == "no-listen-line":
        # the invalid requests alone do not say which scheme the port serves: the competing
        # reading is said, not decided
        assert top["cause"] == "backend-not-running", [f["cause"] for f in findings]
        assert "upstream-tls-mismatch" in str(top["explanation"])
        return
    assert top["cause"] == "backend-not-running", (variant, [f["cause"] for f in findings])
