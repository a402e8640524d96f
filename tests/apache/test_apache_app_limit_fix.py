"""PHP-FPM's own time limit killed the request behind Apache: the fix raises Apache's timeout in
Apache's grammar (issue 23).

The inputs are two real recordings put side by side: Apache 2.4's error log of a FastCGI worker
that died mid-request (tests/fixtures/recorded-proxies/apache/fcgi-worker-crash: AH01067, AH01075
reset by peer) with the config it ran with, and PHP-FPM 8.2's log of its
``request_terminate_timeout`` killing a slow script (tests/fixtures/recorded/php-worker-timeout),
its timestamps moved to the Apache log's second so the two are one incident; the pool listens
where Apache's ``ProxyPassMatch`` sends.  The config sets ``ProxyTimeout 10``.

Before issue 23 the analyzer wrote nginx's ``set_directive`` into this config: ``ProxyTimeout
30s;`` added after the ``ProxyPassMatch`` line, next to the ``ProxyTimeout 10`` still in
effect.  Now ``Proxy.timeout_diff`` changes the line in effect, and ``apache2 -t`` accepts it.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import FIXTURES_DIR
from why502.app.diagnose import DiagnoseOptions, diagnose

CRASH = FIXTURES_DIR / "recorded-proxies" / "apache" / "fcgi-worker-crash"
FPM_LOG = FIXTURES_DIR / "recorded" / "php-worker-timeout" / "php-fpm.log"


def _inputs(root: Path) -> DiagnoseOptions:
    for sub in ("run", "logs", "www"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    conf = root / "apache2.conf"
    text = CRASH.with_suffix(".conf").read_text().replace("/lab", str(root))
    conf.write_text(text.replace("ProxyPassMatch", "ProxyTimeout 10\nProxyPassMatch", 1))
    port = re.search(r"fcgi://127\.0\.0\.1:(\d+)/", text)
    assert port is not None
    (root / "php-fpm.conf").write_text(
        f"[global]\nerror_log = {root}/php-fpm.log\n[www]\nlisten = 127.0.0.1:{port.group(1)}\n"
        "pm = static\npm.max_children = 2\nrequest_terminate_timeout = 2s\n")
    # the Apache recording's second (Sat Nov 21 21:37:27 2026) for the FPM recording's lines
    (root / "php-fpm.log").write_text(re.sub(r"\[23-Nov-2026 09:05:0\d\]", "[21-Nov-2026 21:37:27]",
                                             FPM_LOG.read_text()).replace("/lab", str(root)))
    return DiagnoseOptions(config=str(conf), proxy="apache", error_logs=[str(CRASH.with_suffix(".log"))],
                           fpm_conf=str(root / "php-fpm.conf"), fpm_logs=[str(root / "php-fpm.log")],
                           offline=True)


@pytest.mark.real
def test_the_app_limit_fix_raises_apaches_timeout_in_apaches_grammar(tmp_path: Path) -> None:
    binary = shutil.which("apache2") or "/usr/sbin/apache2"
    if not Path(binary).exists():
        pytest.skip("apache2 is not installed (apt-get install apache2)")
    report = diagnose(_inputs(tmp_path)).to_dict()
    top = report["findings"][0]
    assert top["cause"] == "backend-too-slow"
    diff = top["fix"]["diff"]
    assert "+ProxyTimeout 30\n" in diff and "-ProxyTimeout 10\n" in diff and ";" not in diff.split(
        "apache2.conf", 2)[-1]
    res = subprocess.run(["patch", "-p1", "-d", "/", "--batch", "--forward"], input=diff, text=True,
                         capture_output=True, check=False, timeout=30)
    assert res.returncode == 0, res.stdout + res.stderr
    conf = (tmp_path / "apache2.conf").read_text()
    assert conf.count("ProxyTimeout") == 1 and "request_terminate_timeout = 35s" in (
        tmp_path / "php-fpm.conf").read_text()
    check = subprocess.run([binary, "-t", "-f", str(tmp_path / "apache2.conf")], capture_output=True,
                           text=True, check=False, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
