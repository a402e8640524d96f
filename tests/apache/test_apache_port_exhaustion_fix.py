"""Port exhaustion behind an Apache balancer: the fix is Apache's or none (issue 23).

Input: Apache 2.4's recording of a balancer whose two members refused
(tests/fixtures/recorded-proxies/apache/balancer-all-down), with the errno of its AH00957 lines
made EADDRNOTAVAIL (``(99)Cannot assign requested address``: what ``apr_socket_connect`` reports
when no local port is left, the same line with another errno) and the config it ran with.

Before issue 23 the analyzer inserted nginx's ``keepalive 32;`` after the first BalancerMember,
which ``apache2 -t`` rejects ("KeepAlive not allowed in <Proxy> context").  Apache's HTTP workers
reuse connections unless told not to, so the config as recorded gets no diff (the fix says the
change in words); with ``disablereuse=On`` on a member, the diff turns it off and ``apache2 -t``
accepts it.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import FIXTURES_DIR
from why502.app.diagnose import DiagnoseOptions, diagnose

CASE = FIXTURES_DIR / "recorded-proxies" / "apache" / "balancer-all-down"
MEMBER = "BalancerMember http://127.0.0.1:45261"


def _fix(root: Path, member: str) -> dict[str, object]:
    for sub in ("run", "logs", "www"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    conf = root / "apache2.conf"
    conf.write_text(CASE.with_suffix(".conf").read_text().replace("/lab", str(root)).replace(MEMBER, member))
    log = root / "error.log"
    log.write_text(CASE.with_suffix(".log").read_text().replace("(111)Connection refused",
                                                                 "(99)Cannot assign requested address"))
    report = diagnose(DiagnoseOptions(config=str(conf), proxy="apache", error_logs=[str(log)],
                                      offline=True)).to_dict()
    top = report["findings"][0]
    assert top["cause"] == "port-exhaustion", [f["cause"] for f in report["findings"]]
    fix = top["fix"]
    assert isinstance(fix, dict)
    return fix


def test_reuse_already_on_gives_no_diff(tmp_path: Path) -> None:
    fix = _fix(tmp_path, MEMBER)
    assert fix.get("diff") is None and "reuse connections" in str(fix["summary"])


@pytest.mark.real
def test_disablereuse_turned_off_apache_accepts_it(tmp_path: Path) -> None:
    binary = shutil.which("apache2") or "/usr/sbin/apache2"
    if not Path(binary).exists():
        pytest.skip("apache2 is not installed (apt-get install apache2)")
    fix = _fix(tmp_path, f"{MEMBER} disablereuse=On")
    diff = str(fix["diff"])
    assert f"+    {MEMBER} disablereuse=Off" in diff and "keepalive" not in diff
    res = subprocess.run(["patch", "-p1", "-d", "/", "--batch", "--forward"], input=diff, text=True,
                         capture_output=True, check=False, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    check = subprocess.run([binary, "-t", "-f", str(tmp_path / "apache2.conf")], capture_output=True,
                           text=True, check=False, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
