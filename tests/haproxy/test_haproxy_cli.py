"""``--config``/``--proxy`` as a user meets them: detection, forcing, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import RunMain
from tests.support.paths import FIXTURES_DIR

HAP = FIXTURES_DIR / "recorded-proxies" / "haproxy"


def test_config_is_detected_as_haproxy(run_main: RunMain, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "400")  # content, not layout: a wide terminal
    code, out, _err = run_main("diagnose", "--offline", "--config", str(HAP / "sh-timeout.cfg"),
                               "--error-log", str(HAP / "sh-timeout.log"))
    assert code == 1
    assert "timeout server" in out and "HAProxy" in out and "haproxy -c -f" in out
    assert out.splitlines()[1].strip() == f"HAProxy: {HAP / 'sh-timeout.cfg'}"  # which proxy


def test_proxy_forces_the_kind(run_main: RunMain, tmp_path: Path) -> None:
    odd = tmp_path / "lb.conf"
    odd.write_text("# no section keyword at all\n")
    code, _out, err = run_main("diagnose", "--offline", "--config", str(odd))
    assert code == 3 and "--proxy nginx|apache|haproxy" in err and "Traceback" not in err
    code, _out, err = run_main("diagnose", "--offline", "--config", str(odd), "--proxy", "haproxy")
    assert code == 3 and "not a readable haproxy.cfg" in err


def test_config_and_its_alias_together_is_a_usage_error(run_main: RunMain) -> None:
    cfg = str(HAP / "sh-timeout.cfg")
    code, _out, err = run_main("diagnose", "--offline", "--config", cfg, "--nginx-conf", cfg)
    assert code == 2 and "alias" in err


def test_missing_config_is_one_line_exit_3(run_main: RunMain, tmp_path: Path) -> None:
    code, _out, err = run_main("diagnose", "--offline", "--config", str(tmp_path / "nope.cfg"))
    assert code == 3 and len(err.strip().splitlines()) == 1 and "--config" in err


def test_without_nginx_the_packaged_haproxy_config_is_diagnosed(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No config named, no nginx on the host: with --discover, diagnose reads HAProxy's config
    at its packaged path; without it a log-only run reads the log named and no config."""
    from why502.app.diagnose import DiagnoseOptions, diagnose
    from why502.app.diagnose import proxies as which
    from why502.proxies.haproxy import source as haproxy_source

    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text((HAP / "sh-timeout.cfg").read_text())
    # this host as discovery sees it (proxies.found_on_host): no nginx, HAProxy's packaged config
    monkeypatch.setattr(which, "found_on_host",
                        lambda name: (None, str(cfg)) if name == "haproxy" else (None, None))
    monkeypatch.setattr(haproxy_source, "DEFAULT_CONF", str(cfg))
    report = diagnose(DiagnoseOptions(error_logs=[str(HAP / "sh-timeout.log")], offline=True,
                                      discover=True))
    assert report.inputs["proxy"] == "haproxy" and report.inputs["config"] == str(cfg)
    assert report.findings[0].cause == "backend-too-slow"
    logs_only = diagnose(DiagnoseOptions(error_logs=[str(HAP / "sh-timeout.log")], offline=True))
    # its lines are HAProxy's: read in its words (the proxy sniffed), still no config of this host
    assert "config" not in logs_only.inputs and logs_only.inputs["proxy"] == "haproxy", logs_only.inputs
    assert logs_only.findings, "the log's failures are still found"


def test_lint_takes_config_and_runs_the_haproxy_rules(run_main: RunMain) -> None:
    """The recorded lab config: its server has no health check (a warning: exit 0 at the
    default --fail-on error); with the backend's own timeout known, timeout server 1s is an
    error (exit 1).  nginx's rules do not run on it."""
    code, out, _err = run_main("lint", "--config", str(HAP / "sh-timeout.cfg"))
    assert code == 0 and "W502-024" in out and "web1" in out
    code, out, _err = run_main("lint", "--config", str(HAP / "sh-timeout.cfg"), "--backend-timeout", "30",
                               "--format", "json")
    data = json.loads(out)
    assert code == 1 and data["inputs"]["proxy"] == "haproxy"
    assert sorted({f["code"] for f in data["findings"]}) == ["W502-024", "W502-026"]
    (short,) = [f for f in data["findings"] if f["code"] == "W502-026"]
    assert short["line"] == 13 and "-    timeout server 1s" in short["diff"]
    assert "+    timeout server 35s" in short["diff"]


@pytest.mark.parametrize("name", ["backend-502", "sc-refused", "sh-timeout"])
def test_stats_reads_an_httplog_given_alone_as_with_proxy(run_main: RunMain, name: str) -> None:
    """``why502 stats haproxy.log``, no ``--proxy``: the log's own format is sniffed as diagnose
    sniffs it (``Hooks.access_sniff``).  It was read with nginx's reader, matched no line and
    told the user to give an nginx ``--log-format`` (exit 3)."""
    log = str(HAP / f"{name}.log")
    code, out, err = run_main("stats", log, "--format", "json", "--no-progress")
    forced_code, forced, _err = run_main("stats", "--proxy", "haproxy", log, "--format", "json",
                                         "--no-progress")
    assert (code, err) == (forced_code, "") and code in (0, 1)
    got, want = json.loads(out), json.loads(forced)
    assert got == want and got["log_format"].startswith("HAProxy httplog")
    assert got["requests"] > 0


def test_stats_on_an_nginx_log_is_not_sniffed_as_haproxy(run_main: RunMain, tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    log.write_text('127.0.0.1 - - [21/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 502 157 "-" "curl/8.0"\n')
    code, out, err = run_main("stats", str(log), "--format", "json", "--no-progress")
    assert code == 1 and err == "" and "HAProxy" not in json.loads(out)["log_format"]
