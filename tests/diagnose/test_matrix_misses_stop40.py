"""The fault matrix's known misses of stop 40 (docs/dev/fault-matrix.md "Stop 40"), each from a
recorded cell (tests/fixtures/matrix-cells/, see each README):

- Envoy's ``UPE`` on a port that speaks HTTP badly: live, with ``--config``, the target the log
  blames is probed (``app.diagnose.probes.edge_probes``), so the app's bad answer
  (backend-invalid-response) is told from another protocol; offline it stays protocol-mismatch;
- Caddy's keep-alive race: its access lines name no upstream, but the config's only upstream is
  every line's, and it answered before and after the resets (keepalive-race, the crash named as
  the competing reading);
- Apache + PHP-FPM relayed 5xx: with a LogLevel that hides Apache's own failures nothing read
  names the maker; the last resort says which two readings fit and what decides (calibrated
  doubt, issue 25 item 3).  At a level that records them, stop 42 names the pool.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.support.clirun import why502
from tests.support.paths import ROOT_DIR, matrix_cell
from why502.catalog.calibration import MOST

BACKEND = ROOT_DIR / "src" / "why502" / "lab" / "assets" / "backend.py"


def _report(*argv: str) -> dict[str, object]:
    res = why502("diagnose", "--format", "json", *argv)
    assert res.returncode == 1, res.stdout + res.stderr
    report: dict[str, object] = json.loads(res.stdout)
    return report


def _findings(report: dict[str, object]) -> list[dict[str, object]]:
    findings = report["findings"]
    assert isinstance(findings, list)
    return findings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _envoy_cell(tmp_path: Path, port: int) -> Path:
    work = matrix_cell("envoy-upe-bad-status-line", tmp_path)
    for name in ("envoy.yaml", "envoy-access.log"):
        path = work / name
        path.write_text(path.read_text().replace("@PORT@", str(port)))
    return work


def test_envoy_upe_on_a_port_that_answers_http_badly_is_the_apps_bad_response(tmp_path: Path) -> None:
    port = _free_port()
    work = _envoy_cell(tmp_path, port)
    ready = tmp_path / "ready"
    # the lab's own backend in the mode the cell ran it in: "HTTP/1.1 OK" (no status code)
    proc = subprocess.Popen([sys.executable, str(BACKEND), "--mode", "bad-status-line", "--port",
                             str(port), "--ready", str(ready)], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not ready.exists():
            assert proc.poll() is None and time.monotonic() < deadline, "the backend did not start"
            time.sleep(0.05)
        live = _findings(_report("--proxy", "envoy", "--config", str(work / "envoy.yaml"),
                                 "--access-log", str(work / "envoy-access.log")))
    finally:
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    top = live[0]
    assert top["cause"] == "backend-invalid-response", [f["cause"] for f in live]
    assert top["target"] == f"127.0.0.1:{port}"
    assert any(e["kind"] == "probe" and "speaks the right protocol" in e["summary"]
               for e in top["evidence"])  # type: ignore[union-attr]
    # offline nothing asks the port: Envoy's UPE alone stays the commoner reading
    offline = _findings(_report("--offline", "--proxy", "envoy", "--config", str(work / "envoy.yaml"),
                                "--access-log", str(work / "envoy-access.log")))
    assert offline[0]["cause"] == "protocol-mismatch"


def test_watch_hands_an_edge_proxys_config_to_its_diagnosis(tmp_path: Path) -> None:
    """``watch --config envoy.yaml --log-type envoy --access-log A``: the config is the incident
    diagnosis' (it names the cluster), the log is followed by its family; it was refused."""
    work = _envoy_cell(tmp_path, _free_port())
    res = why502("watch", "--format", "jsonl", "--listen", "off", "--from-start", "--duration", "90",
                 "--max-events", "1", "--min-failures", "1", "--min-requests", "1", "--ratio", "0.01",
                 "--offline", "--proxy", "envoy", "--config", str(work / "envoy.yaml"),
                 "--log-type", "envoy", "--access-log", str(work / "envoy-access.log"))
    assert res.returncode == 0, res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines() if line.startswith("{")]
    opened = [e["incident"] for e in events if e.get("event") == "incident-opened"]
    assert opened and opened[0]["cause"] == "protocol-mismatch" and opened[0]["upstream"] == "app"


def test_watch_still_refuses_an_edge_config_without_its_log_family(tmp_path: Path) -> None:
    work = _envoy_cell(tmp_path, _free_port())
    res = why502("watch", "--duration", "1", "--proxy", "envoy", "--config", str(work / "envoy.yaml"),
                 "--access-log", str(work / "envoy-access.log"))
    assert res.returncode != 0 and "watch does not follow envoy's logs" in res.stderr
    assert "Traceback" not in res.stderr


def test_caddy_reset_between_answers_of_its_only_upstream_is_the_keepalive_race(tmp_path: Path) -> None:
    work = matrix_cell("caddy-keepalive-race", tmp_path)
    findings = _findings(_report("--offline", "--proxy", "caddy", "--config", str(work / "Caddyfile"),
                                 "--error-log", str(work / "caddy.out"),
                                 "--access-log", str(work / "caddy-access.log")))
    top = findings[0]
    assert top["cause"] == "keepalive-race", [f["cause"] for f in findings]
    assert top["target"] == "127.0.0.1:48819"
    assert any("the config's only upstream, answered 2 requests, also after these failures"
               in str(e["summary"]) for e in top["evidence"])  # type: ignore[union-attr]
    # what is not known is said: the competing reading and what decides
    assert "Competing reading: a backend that crashed and was restarted" in str(top["explanation"])
    # below the strongest readings' 0.99 (the map fitted on the whole matrix: this evidence was
    # right in all 12 keep-alive cells, so it reads ~0.9, not the 0.6-0.7 of before)
    assert 0.6 <= float(top["confidence"]) < MOST  # type: ignore[arg-type]


def test_caddy_drops_with_no_answer_after_them_stay_a_crash(tmp_path: Path) -> None:
    """The same cell with the access log's last 200 removed: the upstream did not answer after
    its first failure, nothing shows it alive between them: not read as the race."""
    work = matrix_cell("caddy-keepalive-race", tmp_path)
    access = work / "caddy-access.log"
    lines = access.read_text().splitlines(keepends=True)
    access.write_text("".join(line for line in lines if '"status":200' not in line or line is lines[0]))
    findings = _findings(_report("--offline", "--proxy", "caddy", "--config", str(work / "Caddyfile"),
                                 "--error-log", str(work / "caddy.out"), "--access-log", str(access)))
    assert findings[0]["cause"] == "backend-crashed", [f["cause"] for f in findings]


def test_apache_fcgi_relayed_5xx_names_both_readings_and_what_decides(tmp_path: Path) -> None:
    """With a LogLevel that hides Apache's own failures (crit), the error log's silence decides
    nothing: the doubt is stated.  At the cell's own ``LogLevel warn`` the silence names the pool
    (stop 42, tests/diagnose/test_diagnose_fastcgi_relayed.py)."""
    work = matrix_cell("apache-fcgi-5xx-quiet", tmp_path)
    conf = work / "apache2.conf"
    conf.write_text(conf.read_text().replace("LogLevel warn", "LogLevel crit"))
    findings = _findings(_report("--offline", "--proxy", "apache", "--config", str(work / "apache2.conf"),
                                 "--access-log", str(work / "apache-access.log"),
                                 "--error-log", str(work / "apache-error.log"),
                                 "--fpm-log", str(work / "php-fpm.log")))
    top = findings[0]
    assert top["cause"] == "unexplained-5xx" and top["count"] == 4
    text = str(top["explanation"])
    assert "every backend of the config is a FastCGI server (127.0.0.1:34669)" in text
    assert "upstream-returned-5xx" in text and "What decides: the pool's own record" in text
    notes = top["fix"]["notes"]  # type: ignore[index]
    assert any("access.format" in n and "%s" in n for n in notes)
    assert any("cgi-fcgi -bind -connect 127.0.0.1:34669" in n for n in notes)
    assert not any("$upstream_addr" in n for n in notes)  # nginx's words are not Apache's fix
