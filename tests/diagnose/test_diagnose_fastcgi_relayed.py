"""A PHP-FPM pool's own 5xx relayed by Apache: decided from the error log's silence at a level
that records Apache's own failures (issue 25, the matrix's known misses of stops 40-41).

mod_proxy_fcgi relays a complete FastCGI answer with the script's ``Status:`` and no line
(apache/httpd modules/proxy/mod_proxy_fcgi.c ``dispatch()``), and logs each 5xx it makes itself
at ``error`` (``fcgi_do_request``: AH01073/AH01074/AH01075; ``proxy_fcgi_handler``: AH01079;
proxy_util.c: AH00957, AH02454, AH00940, AH00941).  So when the error log read is the config's
``ErrorLog`` and no ``LogLevel`` hides ``error``, silence near the 5xx names the pool; when the
level is above ``error`` or the error log is another file, it stays the stated doubt
(``unexplained-5xx``).  The files are the recorded matrix cell ``apache-fcgi-5xx-quiet``
(tests/fixtures/matrix-cells/, its README), each variant one edit of them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.paths import matrix_cell
from why502.app.diagnose import DiagnoseOptions, diagnose

CELL = "apache-fcgi-5xx-quiet"  # tests/fixtures/matrix-cells/, see its README
# the noise's old incident: yesterday's refused connects to an app that is gone (lab.noise_proxies)
OLD = ("[Tue Nov 24 02:40:40.000001 2026] [proxy:error] [pid 4100:tid 4101] (111)Connection refused: "
       "AH00957: http: attempt to connect to 127.0.0.1:50519 (127.0.0.1:50519) failed\n")
NEAR = ("[Wed Nov 25 02:40:53.000001 2026] [proxy_fcgi:error] [pid 25870:tid 25880] (104)Connection "
        "reset by peer: [client 127.0.0.1:5000] AH01075: Error dispatching request to 127.0.0.1:34669:\n")


def _run(tmp_path: Path, level: str = "warn", extra: str = "", before: str = "", after: str = "",
         error_name: str = "apache-error.log") -> tuple[str, str | None, float]:
    work = matrix_cell(CELL, tmp_path)
    conf = work / "apache2.conf"
    text = conf.read_text().replace("LogLevel warn\n", f"LogLevel {level}\n")
    conf.write_text(text.replace("ProxyTimeout 1\n", "ProxyTimeout 1\n" + extra))
    error = work / "apache-error.log"
    lines = error.read_text().splitlines(keepends=True)
    (work / error_name).write_text(before + "".join(lines[:2]) + after + "".join(lines[2:]))
    report = diagnose(DiagnoseOptions(
        proxy="apache", config=str(conf), error_logs=[str(work / error_name)],
        access_logs=[str(work / "apache-access.log")], fpm_logs=[str(work / "php-fpm.log")],
        offline=True))
    top = report.findings[0]
    assert not report.healthy
    return top.cause, top.target, top.confidence or 0.0


@pytest.mark.parametrize("level", ["warn", "info", "error", "crit proxy:warn proxy_fcgi:warn core:warn"])
def test_the_pools_own_502_is_named_when_the_error_log_would_hold_apaches(tmp_path: Path, level: str) -> None:
    cause, target, conf = _run(tmp_path, level)
    assert cause == "upstream-returned-5xx" and target == "127.0.0.1:34669" and 0.5 < conf < 0.8


def test_an_old_incident_in_the_log_does_not_claim_todays_5xx(tmp_path: Path) -> None:
    cause, _target, _ = _run(tmp_path, "info", extra="ProxyPass /legacy http://127.0.0.1:50519/legacy\n",
                             before=OLD)
    assert cause == "upstream-returned-5xx"


@pytest.mark.parametrize("level", ["crit", "warn proxy_fcgi:crit", "warn proxy:alert"])
def test_a_level_that_hides_apaches_own_failures_keeps_the_doubt(tmp_path: Path, level: str) -> None:
    cause, _target, _ = _run(tmp_path, level)
    assert cause == "unexplained-5xx"


def test_another_error_log_than_the_configs_keeps_the_doubt(tmp_path: Path) -> None:
    cause, _target, _ = _run(tmp_path, error_name="other-vhost-error.log")
    assert cause == "unexplained-5xx"


def test_a_failure_line_near_the_5xx_keeps_them_apaches(tmp_path: Path) -> None:
    cause, _target, _ = _run(tmp_path, after=NEAR)
    assert cause != "upstream-returned-5xx"
