"""No evidence is no verdict (docs/guide/diagnose.md): ``diagnose`` whose every log held no line
and that read nothing else never says "healthy".

Each test runs the real CLI on real files: an empty log (just rotated), an empty ``.gz``, an empty
pipe, a config read alone, one empty log next to one with lines, a live probe of a backend that
answers.  Before the fix the first three said ``✔ healthy`` / ``"healthy": true``, exit 0.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.conftest import RunMain
from tests.support.backends import http_backend

ACCESS_200 = '127.0.0.1 - - [01/May/2026:08:00:00 +0000] "GET / HTTP/1.1" 200 12 "-" "curl/8"\n'


def diagnose(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``why502 diagnose ARGS`` as a user runs it (a pipe on stdin when ``stdin`` is given)."""
    return subprocess.run([sys.executable, "-m", "why502", "diagnose", *args], capture_output=True,
                          text=True, input=stdin if stdin is not None else "", timeout=120, check=False,
                          env=_env())


def _env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.pop("WHY502_DEBUG", None)
    env["COLUMNS"] = "400"  # the read: line whole, however long the temporary paths
    return env


def as_json(res: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(res.stdout)
    schema = json.loads(resources.files("why502").joinpath("schemas/report.schema.json").read_text())
    jsonschema.validate(doc, schema)
    return doc


@pytest.fixture
def empty(tmp_path: Path) -> Path:
    log = tmp_path / "error.log"
    log.write_bytes(b"")
    return log


def test_empty_logs_offline_are_no_evidence_not_healthy(tmp_path: Path, empty: Path) -> None:
    access = tmp_path / "access.log"
    access.write_bytes(b"")
    args = ["--offline", "--error-log", str(empty), "--access-log", str(access)]
    text = diagnose(*args)
    assert text.returncode == 3, text.stdout + text.stderr
    first = text.stdout.splitlines()[0]
    assert first.startswith("? no evidence: the logs hold no line; nothing was probed (--offline)")
    assert "healthy" not in text.stdout
    # the read: line says the logs held nothing; the next says what would decide
    assert "(0 lines in all)" in text.stdout
    assert "to decide:" in text.stdout and "--offline" in text.stdout and "--config FILE" in text.stdout
    assert text.stderr.startswith("why502: no evidence: the logs hold no line (")
    doc = as_json(diagnose(*args, "--format", "json"))
    assert doc["healthy"] is False and doc["no_evidence"] is True and doc["judged"] == []
    assert doc["findings"] == [] and doc["schema_version"] == "1.6"
    assert doc["inputs"]["empty_logs"] == [str(empty), str(access)]


def test_one_empty_log_alone_says_0_lines(empty: Path) -> None:
    res = diagnose("--offline", "--error-log", str(empty))
    assert res.returncode == 3
    assert f"logs {empty} (0 lines)" in res.stdout


def test_empty_gz_is_no_evidence(tmp_path: Path) -> None:
    log = tmp_path / "error.log.1.gz"
    log.write_bytes(gzip.compress(b""))
    assert log.stat().st_size > 0  # the gzip header: bytes, no line
    res = diagnose("--offline", "--error-log", str(log), "--format", "json")
    assert res.returncode == 3, res.stderr
    doc = as_json(res)
    assert doc["no_evidence"] is True and doc["inputs"]["empty_logs"] == [str(log)]


@pytest.mark.parametrize("flag", ["--error-log", "--access-log"])
def test_empty_stdin_is_no_evidence(flag: str) -> None:
    res = diagnose("--offline", flag, "-", "--format", "json", stdin="")
    assert res.returncode == 3, res.stderr
    doc = as_json(res)
    assert doc["healthy"] is False and doc["no_evidence"] is True and doc["inputs"]["empty_logs"] == ["-"]
    assert "no evidence" in res.stderr


def test_empty_gz_piped_is_no_evidence() -> None:
    """``cat error.log.1.gz | why502 diagnose --error-log -``: bytes, but no line once inflated."""
    res = subprocess.run([sys.executable, "-m", "why502", "diagnose", "--offline", "--error-log", "-",
                          "--format", "json"], capture_output=True, input=gzip.compress(b""), timeout=120,
                         check=False, env=_env())
    assert res.returncode == 3, res.stderr
    doc = json.loads(res.stdout)
    assert doc["no_evidence"] is True and doc["inputs"]["empty_logs"] == ["-"]


def test_stdin_with_lines_is_judged() -> None:
    res = diagnose("--offline", "--access-log", "-", "--format", "json", stdin=ACCESS_200)
    doc = as_json(res)
    assert res.returncode == 0 and doc["healthy"] is True and doc["judged"] == ["logs"], res.stderr
    assert "empty_logs" not in doc["inputs"]


def test_no_evidence_in_markdown_html_and_a_saved_report(tmp_path: Path, empty: Path) -> None:
    md = diagnose("--offline", "--error-log", str(empty), "--format", "markdown")
    assert md.returncode == 3
    assert md.stdout.startswith("# why502: no evidence\n") and "no root cause found" not in md.stdout
    assert "(0 lines)" in md.stdout
    page = tmp_path / "report.html"
    html = diagnose("--offline", "--error-log", str(empty), "-o", str(page))
    assert html.returncode == 3 and "(no evidence)" in html.stderr
    body = page.read_text()
    assert "<h1>No evidence</h1>" in body and "<title>why502: no evidence" in body
    assert 'class="verdict healthy"' not in body
    saved = tmp_path / "report.json"
    assert diagnose("--offline", "--error-log", str(empty), "-o", str(saved)).returncode == 3
    rendered = subprocess.run([sys.executable, "-m", "why502", "render", str(saved)], capture_output=True,
                              text=True, timeout=120, check=False, env=_env())
    assert rendered.returncode == 3 and rendered.stdout.startswith("? no evidence")


def _config(tmp_path: Path, target: str) -> Path:
    logs = tmp_path / "logs"
    logs.mkdir()
    (logs / "error.log").write_bytes(b"")
    (logs / "access.log").write_bytes(b"")
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"""
events {{}}
http {{
    error_log {logs}/error.log;
    access_log {logs}/access.log;
    server {{
        listen 127.0.0.1:8099;
        location / {{ proxy_pass http://{target}; }}
    }}
}}
""")
    return conf


def test_config_read_alone_is_no_config_pitfall_not_healthy(tmp_path: Path) -> None:
    """Offline, the config's logs empty: the config was judged (no pitfall in it), nothing that
    would show the proxy failing: no finding, exit 0, never "healthy"."""
    conf = _config(tmp_path, "127.0.0.1:8098")
    text = diagnose("--offline", "--nginx-conf", str(conf))
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("✔ no config pitfall found; no log line to judge, nothing probed.")
    assert "healthy" not in text.stdout and "(0 lines in all)" in text.stdout
    doc = as_json(diagnose("--offline", "--nginx-conf", str(conf), "--format", "json"))
    assert doc["findings"] == [] and doc["healthy"] is False and doc["no_evidence"] is False
    assert doc["judged"] == ["config"]
    md = diagnose("--offline", "--nginx-conf", str(conf), "--format", "markdown")
    assert md.returncode == 0 and md.stdout.startswith("# why502: no config pitfall found\n")


def test_one_empty_log_and_one_with_lines_is_a_verdict(tmp_path: Path, empty: Path) -> None:
    access = tmp_path / "access.log"
    access.write_text(ACCESS_200)
    args = ["--offline", "--error-log", str(empty), "--access-log", str(access)]
    text = diagnose(*args)
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("✔ healthy")
    read = text.stdout
    assert f"{empty} (0 lines), {access}" in read and "0 lines in all" not in read
    doc = as_json(diagnose(*args, "--format", "json"))
    assert doc["healthy"] is True and doc["judged"] == ["logs"]
    assert doc["inputs"]["empty_logs"] == [str(empty)]


def test_live_probe_with_empty_logs_is_evidence(tmp_path: Path) -> None:
    """The probe answered: that is evidence of what the proxy's target does now, so "healthy"
    stands with empty logs; the read: line still says the logs held nothing."""
    with http_backend() as port:
        conf = _config(tmp_path, f"127.0.0.1:{port}")
        res = diagnose("--nginx-conf", str(conf), "--format", "json")
    doc = as_json(res)
    assert res.returncode == 0 and doc["findings"] == [], (res.stderr, doc["findings"])
    assert "live" in doc["judged"] and "logs" not in doc["judged"] and doc["healthy"] is True
    logs = tmp_path / "logs"
    assert doc["inputs"]["empty_logs"] == [str(logs / "error.log"), str(logs / "access.log")]


def test_since_after_every_line_is_no_evidence(tmp_path: Path) -> None:
    """A log last written before ``--since`` is not read: no line of the window is no evidence."""
    import os

    log = tmp_path / "error.log"
    log.write_text('2020/01/01 00:00:00 [error] 1#1: *1 connect() failed (111: Connection refused) while '
                   'connecting to upstream, client: 1.2.3.4, server: x, request: "GET / HTTP/1.1", '
                   'upstream: "http://127.0.0.1:9000/", host: "x"\n')
    os.utime(log, (1_577_836_800, 1_577_836_800))  # 2020
    assert diagnose("--offline", "--error-log", str(log)).returncode == 1  # the line is a finding
    res = diagnose("--offline", "--error-log", str(log), "--since", "30m")
    assert res.returncode == 3 and res.stdout.startswith("? no evidence: no log line since "), res.stdout
    assert "widen --since" in res.stdout


def test_an_empty_gz_after_a_full_one_in_one_process_is_no_evidence(tmp_path: Path,
                                                                    run_main: RunMain) -> None:
    """The MCP server runs many diagnoses in one process: what a ``.gz`` inflated to in an
    earlier run is not this run's (the same name, rotated since to an empty one)."""
    log = tmp_path / "error.log.1.gz"
    log.write_bytes(gzip.compress(ACCESS_200.replace("200", "502").encode()))
    code, _out, err = run_main("diagnose", "--offline", "--error-log", str(log), "--format", "json")
    assert code != 3, err
    log.write_bytes(gzip.compress(b""))
    code, out, err = run_main("diagnose", "--offline", "--error-log", str(log), "--format", "json")
    assert code == 3, err
    assert json.loads(out)["no_evidence"] is True
