"""cloudflared's origin errors as a family of ``diagnose`` (issue 24 item 3): real lines users posted
(tests/fixtures/cloudflared, provenance there), given as ``--error-log`` or ``--access-log`` alone.

Each origin error is a request cloudflared answered 502 (proxy/proxy.go wraps the Go error in
"Unable to reach the origin service ..."); the Go error after the wrap names the cause as it does
for Caddy and Traefik, and the origin named is the one the error dials (else the ingress rule's
``originService``).  Before this family they were classified but the diagnosis was the last
resort ``unexplained-5xx`` (first score: 3 of 3 logs).
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import RunMain
from tests.support.paths import FIXTURES_DIR

LOGS = FIXTURES_DIR / "cloudflared"


@pytest.mark.parametrize(("log", "cause", "target"), [
    ("origin-connect-timeout.log", "network-unreachable", "192.168.3.180:3000"),
    ("origin-eof.log", "backend-crashed", "192.168.1.11:18443"),
    ("origin-refused-then-dns.log", "backend-not-running", "172.30.33.9:80"),
])
@pytest.mark.parametrize("flag", ["--error-log", "--access-log"])
def test_an_origin_error_log_names_its_cause_and_origin(log: str, cause: str, target: str, flag: str,
                                                         run_main: RunMain) -> None:
    code, out, err = run_main("diagnose", "--offline", flag, str(LOGS / log), "--format", "json")
    assert code == 1, err
    report = json.loads(out)
    top = report["findings"][0]
    assert (top["cause"], top["target"]) == (cause, target), [
        (f["cause"], f["target"]) for f in report["findings"]]
    assert not report["healthy"]


def test_the_name_that_stopped_resolving_is_a_finding_too(run_main: RunMain) -> None:
    code, out, _err = run_main("diagnose", "--offline", "--error-log",
                               str(LOGS / "origin-refused-then-dns.log"), "--format", "json")
    assert code == 1
    causes = [f["cause"] for f in json.loads(out)["findings"]]
    assert "dns-unresolvable" in causes, causes


def test_classify_keeps_a_pasted_error_page_among_the_family_lines(tmp_path: object,
                                                                  run_main: RunMain) -> None:
    """A paste that mixes cloudflared's lines with a line its parser does not read (Cloudflare's
    'Error 1033' page) keeps that line: it is read by the classify rules, as alone."""
    from pathlib import Path

    path = Path(str(tmp_path)) / "paste.log"
    path.write_text((LOGS / "origin-connect-timeout.log").read_text()
                    + "<title>Error 1033</title>\n")
    code, out, _err = run_main("classify", str(path), "--format", "jsonl", "--no-progress")
    assert code == 1
    rows = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    assert [r["source"] for r in rows][:3] == ["cloudflared"] * 3, rows
    assert len(rows) == 4 and rows[3]["line"] == 4, rows
