"""``diagnose --config Caddyfile`` on Caddy 2.11.7's recorded logs (tests/fixtures/cloud/recorded/
caddy-2.11.7-pypi: a real Caddy in front of broken backends, ``expect.jsonl`` says what each
backend did): through gather -> analyzers -> rank, each faulty upstream is named with its cause,
also the timeout and the EOF whose Go error names no upstream (tied by the request's route)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.conftest import RunMain
from tests.support.paths import FIXTURES_DIR

REC = FIXTURES_DIR / "cloud" / "recorded" / "caddy-2.11.7-pypi"

pytestmark = pytest.mark.skipif(shutil.which("caddy") is None,
                                reason="a Caddyfile is read through caddy adapt: caddy is not installed")


def test_recorded_caddy_faults_are_named_by_upstream(run_main: RunMain, tmp_path: Path) -> None:
    conf = tmp_path / "Caddyfile"
    conf.write_text((REC / "Caddyfile").read_text().replace("/lab/", f"{tmp_path}/"))
    code, out, err = run_main("diagnose", "--offline", "--config", str(conf), "--error-log",
                              str(REC / "caddy.stderr.log"), "--format", "json")
    assert code == 1, err
    found = {(f["cause"], f["upstream"]) for f in json.loads(out)["findings"]}
    # the upstream of each handle block of the recorded Caddyfile
    assert found >= {
        ("backend-not-running", "127.0.0.1:55717"),  # /dead: nothing listens
        ("backend-too-slow", "127.0.0.1:45139"),  # /slow: 3 s behind response_header_timeout 1s
        ("backend-crashed", "127.0.0.1:59965"),  # /crash: SIGKILL mid-request (EOF)
        ("backend-crashed", "127.0.0.1:33891"),  # /reset: RST before answering
        ("protocol-mismatch", "127.0.0.1:38863"),  # /invalid: a malformed header
    }
    assert any(up == "127.0.0.1:55001" for _, up in found)  # /unhealthy: refused, then marked down
