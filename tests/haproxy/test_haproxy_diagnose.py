"""``why502 diagnose --config haproxy.cfg --error-log haproxy.log`` on real HAProxy recordings.

The recordings (tests/fixtures/recorded-proxies/haproxy/, scripts/record-proxy-fixtures) are what a
real HAProxy 2.6 logged for each failure with the config it ran with.  The top finding must name
the same root cause as nginx's for the same failure, and a config fix must be a real patch: it
applies with ``patch -p1`` and the real ``haproxy -c -f`` accepts the result.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import FIXTURES_DIR
from why502.app.diagnose import DiagnoseOptions, diagnose

HAP = FIXTURES_DIR / "recorded-proxies" / "haproxy"

CASES = {
    "sc-refused": "backend-not-running",  # SC: nothing listens
    "server-down-nosrv": "all-upstreams-down",  # checks took it DOWN, <NOSRV> 503
    "sh-timeout": "backend-too-slow",  # sH: timeout server
    "sq-queue-timeout": "workers-exhausted",  # sQ: maxconn full, timeout queue
    "sh-crash": "backend-crashed",  # SH then SC: died mid-request
    "sc-connect-timeout": "workers-exhausted",  # a local server that never accepts
    "ph-invalid-header": "protocol-mismatch",  # PH: HAProxy blocked the response
}


def _diagnose(case: str, base: Path | None = None) -> dict[str, object]:
    cfg = HAP / f"{case}.cfg"
    if base is not None:
        shutil.copy(cfg, base / "haproxy.cfg")
        cfg = base / "haproxy.cfg"
    report = diagnose(DiagnoseOptions(config=str(cfg), error_logs=[str(HAP / f"{case}.log")],
                                      offline=True))
    return report.to_dict()


@pytest.mark.parametrize(("case", "cause"), CASES.items())
def test_top_finding_is_the_cause_nginx_would_get(case: str, cause: str) -> None:
    report = _diagnose(case)
    findings = report["findings"]
    assert isinstance(findings, list) and findings, report
    assert findings[0]["cause"] == cause
    assert report["inputs"]["proxy"] == "haproxy"  # type: ignore[index]
    text = json.dumps(findings[0])
    assert "nginx" not in text.replace("nginx would", ""), text


def test_all_down_names_the_health_check_reason() -> None:
    top = _diagnose("server-down-nosrv")["findings"][0]  # type: ignore[index]
    assert "Layer4 connection problem: Connection refused" in top["explanation"]
    assert "backend app" in top["explanation"]


@pytest.mark.real
@pytest.mark.parametrize("case", ["sh-timeout", "sq-queue-timeout"])
def test_fix_diff_applies_and_haproxy_accepts_it(case: str, tmp_path: Path) -> None:
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not Path(haproxy).exists():
        pytest.skip("haproxy is not installed (apt-get install haproxy)")
    fix = _diagnose(case, tmp_path)["findings"][0]["fix"]  # type: ignore[index]
    diff = fix["diff"]
    assert diff and str(tmp_path / "haproxy.cfg") in diff
    res = subprocess.run(["patch", "-p1", "-d", "/", "--batch", "--forward"], input=diff, text=True,
                         capture_output=True, check=False)
    assert res.returncode == 0, res.stdout + res.stderr
    check = subprocess.run([haproxy, "-c", "-f", str(tmp_path / "haproxy.cfg")], capture_output=True,
                           text=True, check=False)
    assert check.returncode == 0, check.stdout + check.stderr
    assert fix["commands"][0] == f"haproxy -c -f {tmp_path / 'haproxy.cfg'}"


def test_report_validates_against_the_shipped_schema() -> None:
    import jsonschema

    from why502.findings.model import Report

    schema = json.loads((Path(__file__).parents[2] / "src/why502/schemas/report.schema.json").read_text())
    data = _diagnose("sq-queue-timeout")
    jsonschema.validate(data, schema)
    assert Report.from_dict(data).to_dict() == data
