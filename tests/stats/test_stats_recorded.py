"""`why502 stats` on access/error logs recorded from a real nginx by the lab
(tests/fixtures/recorded/<scenario>/, written by scripts/record-fixtures)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import FIXTURES_DIR
from why502.app.stats import StatsOptions, run_stats
from why502.cli.main import main

RECORDED = FIXTURES_DIR / "recorded"
SCENARIOS = (
    sorted(p.name for p in RECORDED.iterdir() if (p / "access.log").is_file()) if RECORDED.is_dir() else []
)


def _stats(name: str, **kw: Any) -> dict[str, Any]:
    d = RECORDED / name
    st, _ = run_stats(
        StatsOptions(
            paths=[str(d / "access.log")],
            config_file=str(d / "nginx.conf"),
            error_logs=[str(d / "error.log")],
            workers=1,
            **kw,
        )
    )
    return st.to_dict()


@pytest.mark.parametrize("name", SCENARIOS)
def test_every_recorded_log_parses_and_every_nginx_5xx_has_its_error_line(name: str) -> None:
    d = _stats(name)
    lines = [ln for ln in (RECORDED / name / "access.log").read_text().splitlines() if ln.strip()]
    assert d["unparsed"] == 0 and d["requests"] == len(lines)
    fmt = json.loads((RECORDED / name / "meta.json").read_text())["log_format"]["name"]
    assert d["notes"][0].startswith(f"log format: log_format {fmt}")
    statuses = [ln.split('"')[2].split()[0] for ln in lines]
    assert d["by_status"] == {s: statuses.count(s) for s in set(statuses)}
    made = d["made_by"]
    if d["total_5xx"]:
        # nginx-made 5xx are exactly those the error log explains
        assert d["errorlog"]["matched_5xx"] == made.get("nginx", 0)
        # without upstream fields (combined) a 5xx no error line explains is of unknown make
        assert d["errorlog"]["unmatched_5xx"] == made.get("backend", 0) + made.get("unknown", 0)


def test_combined_log_without_error_lines_does_not_say_nginx_made_the_5xx() -> None:
    """``combined`` has no ``$upstream_addr``: its absence proves nothing (before, every such
    5xx was counted as nginx-made and diagnose called the host healthy)."""
    d = _stats("backend-5xx-combined-log")
    assert d["by_status"] == {"503": 4} and d["made_by"] == {"unknown": 4}
    assert d["by_location"][0]["by_proxy"] == 0


def test_backend_made_5xx_is_told_apart_from_nginx_made() -> None:
    d = _stats("upstream-returned-5xx")
    assert d["by_status"] == {"502": 4} and d["made_by"] == {"backend": 4}
    assert d["upstreams"][0]["made_by"] == {"backend": 4}
    d = _stats("backend-down-tcp")
    assert d["made_by"] == {"nginx": 3}
    assert d["errorlog"]["by_symptom"] == {"connection-refused": 3}


def test_slow_backend_timings_sit_at_the_configured_timeout() -> None:
    d = _stats("backend-too-slow")
    up = d["upstreams"][0]
    assert up["timeout"] == 1.0  # proxy_read_timeout 1s in the recorded config
    assert up["failed_attempts"] == 3 and d["errorlog"]["by_symptom"] == {"read-timeout": 3}
    assert up["response_time"]["max"] >= 1.0


def test_symptoms_recorded_by_the_lab_are_the_ones_joined() -> None:
    for name in ("socket-permissions", "buffer-too-small", "all-upstreams-down", "proxy-rate-limited"):
        meta = json.loads((RECORDED / name / "meta.json").read_text())
        d = _stats(name)
        assert set(d["errorlog"]["by_symptom"]) <= set(meta["symptoms"]) | {"rate-limited"}, name
        assert d["errorlog"]["matched_5xx"] > 0


def test_hostile_request_lines_are_inert_in_text_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # content, not layout: a wide terminal
    src = (RECORDED / "backend-down-tcp" / "access.log").read_text().splitlines()[0]
    evil = src.replace("GET /", "GET /\x1b]0;pwned\x07[bold red]x[/]", 1)
    log = tmp_path / "access.log"
    log.write_text(evil + "\n")
    assert main(["stats", str(log), "--log-format", "upstream_kv", "--no-error-log"]) == 1  # it has a 5xx
    out = capsys.readouterr().out
    assert "\x1b]0" not in out and "\x07" not in out
    assert "[bold red]x[/]" in out  # shown literally, not interpreted as markup


def test_stdin_plain_and_gzip_with_format_guessed(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import gzip
    import io

    raw = (RECORDED / "backend-down-tcp" / "access.log").read_bytes()
    for data in (raw, gzip.compress(raw)):
        monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))
        assert main(["stats", "-", "--format", "json"]) == 1  # the log has 5xx
        d = json.loads(capsys.readouterr().out)
        assert d["requests"] == 3 and d["by_status"] == {"502": 3}
        assert d["format_name"] == "upstream_kv"  # guessed from the (decompressed) first lines
