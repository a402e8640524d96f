"""An edge proxy's refused connects during a supervisor's restarts are the crash loop (stop 47).

Recorded from the matrix's crash-loop cells (``tests/fixtures/stop47``): a real supervisord
restarts an app that exits at start-up until it gives up (``exited: app (exit status 1; not
expected)``, ``gave up: app entered FATAL state``, supervisor/process.py), and the proxy meanwhile
gets connection refused.  nginx's, HAProxy's and Apache's refusals were read as the crash loop
(``analyzers.backend_down``); Envoy's ``UF`` flags and Caddy's log read by its family (what
``watch`` follows) were read as backend-not-running by the edge's own finding, which never asked
the supervisor's log.  Offline: the files alone decide."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "stop47"


def _causes(*args: str) -> list[str]:
    res = subprocess.run([sys.executable, "-m", "why502", "diagnose", "--format", "json", "--offline",
                          *args], capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 1, res.stderr
    return [f["cause"] for f in json.loads(res.stdout)["findings"]]


@pytest.mark.parametrize("edge", ["envoy", "caddy"])
def test_an_edges_refused_connects_while_supervisord_restarts_the_app_are_the_crash_loop(edge: str) -> None:
    d = FIXTURES / f"{edge}-crash-loop"
    if edge == "envoy":  # its config and its access log (the flags), as diagnose reads Envoy
        args = ["--proxy", "envoy", "--config", str(d / "envoy.yaml"),
                "--access-log", str(d / "envoy-access.log")]
    else:  # Caddy's logs by their family, as watch follows them
        args = ["--log-type", "caddy", "--access-log", str(d / "caddy-access.log"),
                "--access-log", str(d / "caddy.out")]
    causes = _causes(*args, "--app-log", str(d / "supervisord.log"))
    assert causes[0] == "backend-crash-loop", causes
    # without the supervisor's log nothing says it restarts: nothing runs there
    assert _causes(*args)[0] == "backend-not-running"


def test_an_edge_log_read_alone_sees_the_app_listening_on_the_other_loopback_family(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """Envoy's ``UF`` on 127.0.0.1:P while the app listens on [::1]:P only (recorded from the
    matrix's wrong-target cell): live, an edge log read alone reads what listens where too
    (``app.diagnose.live.read_listeners``), so the refusals are the wrong target, as behind
    nginx; before, the edge-alone evidence had no listener table and said backend-not-running.
    The listener table is this test's (the recorded app's socket), not the machine's."""
    from why502.cli.main import main
    from why502.facts.net import Listener, ListenerTable
    from why502.sources import listeners

    table = ListenerTable(listeners=[Listener("tcp6", "::1", 35613, pid=4242, process="python3")])
    monkeypatch.setattr(listeners, "read_listener_table", lambda *a, **k: table)
    d = FIXTURES / "envoy-wrong-target"
    main(["diagnose", "--format", "json", "--proxy", "envoy", "--config", str(d / "envoy.yaml"),
          "--access-log", str(d / "envoy-access.log")])
    top = json.loads(capsys.readouterr().out)["findings"][0]
    assert top["cause"] == "wrong-target", top["cause"]
    assert top["target"] == "127.0.0.1:35613" and "[::1]:35613" in top["explanation"]
