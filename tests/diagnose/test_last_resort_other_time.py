"""The last-resort finding (``analyzers.unexplained``) when every cause named is of another time.

``rank.fold`` kept the last resort only when no other candidate was kept, so a rotated log's
past incident -- another backend refused the day before -- stood alone at the top of the report
while today's 5xx had no finding at all (the fault matrix's cell
``backend-5xx-apache-fpm-tcp-bursty-noisy``, recorded in
tests/fixtures/matrix-cells/apache-fcgi-5xx-old-incident: see its README).  Today's 5xx are now
said, first (the pool's own since stop 42, when the error log's level would hold Apache's
failures; else the last resort); the past incident follows, aged.  A cause of the same time
still owns its failures: the last resort is not added beside it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.clirun import why502
from tests.support.paths import matrix_cell


def _copy(tmp_path: Path) -> Path:
    return matrix_cell("apache-fcgi-5xx-old-incident", tmp_path)


def _diagnose(work: Path) -> dict[str, object]:
    res = why502("diagnose", "--offline", "--proxy", "apache", "--config", str(work / "apache2.conf"),
                 "--access-log", str(work / "apache-access.log"),
                 "--error-log", str(work / "apache-error.log"), "--format", "json")
    assert res.returncode == 1, res.stdout + res.stderr
    report: dict[str, object] = json.loads(res.stdout)
    return report


@pytest.mark.parametrize(("level", "today"), [("crit", "unexplained-5xx"), ("warn", "upstream-returned-5xx")])
def test_todays_5xx_are_said_first_when_the_only_cause_is_yesterdays(tmp_path: Path, level: str,
                                                                     today: str) -> None:
    """At ``LogLevel crit`` Apache's own failures would not be logged: the last resort says
    today's 5xx.  At the cell's own levels (warn, info) the error log's silence since yesterday
    names the pool (stop 42, tests/diagnose/test_diagnose_fastcgi_relayed.py).  Either way
    today's 5xx come first, yesterday's incident below."""
    work = _copy(tmp_path)
    conf = work / "apache2.conf"
    conf.write_text(conf.read_text().replace("LogLevel warn", f"LogLevel {level}")
                    .replace("LogLevel info", f"LogLevel {level}"))
    report = _diagnose(work)
    findings = report["findings"]
    assert isinstance(findings, list)
    causes = [f["cause"] for f in findings]
    assert causes[0] == today, causes
    assert findings[0]["count"] == 6 and findings[0]["status_codes"] == [502]
    # the past incident is still reported, below, with its age said
    old = next(f for f in findings if f["cause"] == "backend-not-running")
    assert old["target"] == "127.0.0.1:50519" and "1 day before the latest failure" in old["explanation"]


def test_a_cause_of_the_same_time_keeps_its_failures_without_a_last_resort(tmp_path: Path) -> None:
    """The same refusals moved to today (the rotated log's lines dated the day of the 502s):
    a cause of the same time; no 'nothing read says why' beside it."""
    work = _copy(tmp_path)
    rotated = work / "apache-error.log.1"
    rotated.write_text(rotated.read_text().replace("Mon Nov 23", "Tue Nov 24"))
    causes = [f["cause"] for f in _diagnose(work)["findings"]]  # type: ignore[union-attr]
    assert "unexplained-5xx" not in causes and causes[0] == "backend-not-running", causes
