"""``diagnose --access-log -`` reads an nginx access log from stdin, as ``stats -`` does.

Found by a sweep of the commands (stop 68): ``--error-log -`` and an edge's ``--access-log -
--log-type F`` were read, but an nginx access log piped in (``kubectl logs POD | why502 diagnose
--access-log -``) was refused with "cannot read - (--access-log): No such file or directory".
Two flags naming ``-`` are refused: stdin is read once.
"""

from __future__ import annotations

import json
import subprocess

from tests.support.clirun import WHY502
from tests.support.paths import FIXTURES_DIR

RUN = FIXTURES_DIR / "recorded" / "all-upstreams-down"


def _diagnose(*args: str, stdin: bytes) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([WHY502, "diagnose", "--offline", *args], input=stdin, capture_output=True,
                          timeout=120, check=False)


def test_an_nginx_access_log_on_stdin_is_read_as_the_file() -> None:
    log = (RUN / "access.log").read_bytes()
    piped = _diagnose("--access-log", "-", "--format", "json", stdin=log)
    named = _diagnose("--access-log", str(RUN / "access.log"), "--format", "json", stdin=b"")
    assert piped.returncode == named.returncode == 1, piped.stderr
    got, want = json.loads(piped.stdout), json.loads(named.stdout)
    assert got["inputs"]["access_logs"] == ["-"]
    assert [(f["cause"], f["confidence"]) for f in got["findings"]] == \
        [(f["cause"], f["confidence"]) for f in want["findings"]]
    assert got["findings"][0]["cause"] == "unexplained-5xx"


def test_stdin_named_by_two_flags_is_refused() -> None:
    got = _diagnose("--error-log", "-", "--access-log", "-", stdin=(RUN / "access.log").read_bytes())
    assert got.returncode == 3
    err = got.stderr.decode()
    assert err.count("\n") == 1 and "- (stdin) is named by --error-log and --access-log" in err
