"""Classify real HAProxy, Apache httpd (mod_proxy) and gunicorn lines with both engines.

The lines in tests/fixtures/recorded-proxies/<program>/ were written by the real programs
(HAProxy 2.6, Apache 2.4 with mod_proxy_http/fcgi/balancer in front of real PHP-FPM and Python
backends, gunicorn sync workers) by ``scripts/record-proxy-fixtures``; nothing was typed by hand.
Each program's meta.json says, per case, which lines are the failure (``expect[].match``), the
symptom/status they must get, and the HTTP statuses the client really received.  Every other line
(startup notices, health, traceback lines, normal completions) must not be classified, but the
app server's line naming where it listens and in which scheme (``app-listening``: evidence of
identity and protocol, not a failure).
The programs themselves are not needed here: only the committed files are read.
"""

from __future__ import annotations

import json
import re
from typing import Any

import polars as pl
import pytest

from tests.support.paths import FIXTURES_DIR
from why502.parsers.errorlog import classify_line
from why502.parsers.errorlog_batch import classify_series

ROOT = FIXTURES_DIR / "recorded-proxies"
PROGRAMS = ("haproxy", "apache", "gunicorn")
# recognised on lines that are not failures: evidence events the analyzers read (events.toml)
NOTICES = frozenset({"app-listening"})


def _meta(program: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / program / "meta.json").read_text(encoding="utf-8"))
    return data


def _cases() -> list[tuple[str, str]]:
    return [(prog, case) for prog in PROGRAMS for case in _meta(prog)["cases"]]


def _lines(program: str, case: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for name in case["files"]:
        out += (ROOT / program / name).read_text(encoding="utf-8").splitlines()
    return out


def _expected(case: dict[str, Any], line: str) -> dict[str, Any] | None:
    for exp in case["expect"]:
        if re.search(exp["match"], line):
            return dict(exp)
    return None


def test_every_program_and_the_cases_of_the_brief_were_recorded() -> None:
    for prog in PROGRAMS:
        meta = _meta(prog)
        assert meta["versions"][prog] and "not installed" not in meta["versions"][prog]
        assert meta["cases"], prog
        for name, case in meta["cases"].items():
            assert not case["problems"], f"{prog}/{name}: {case['problems']}"
    got = {(prog, exp["symptom"]) for prog, name in _cases()
           for exp in _meta(prog)["cases"][name]["expect"]}
    for need in [("haproxy", "connection-refused"), ("haproxy", "connect-timeout"),
                 ("haproxy", "premature-close"), ("haproxy", "read-timeout"),
                 ("haproxy", "queue-timeout"), ("haproxy", "no-live-upstreams"),
                 ("haproxy", "no-live-upstreams"), ("haproxy", "invalid-response"),
                 ("apache", "connection-refused"), ("apache", "socket-not-found"),
                 ("apache", "read-timeout"), ("apache", "premature-close"),
                 ("apache", "connection-reset"), ("apache", "no-live-upstreams"),
                 ("apache", "upstream-marked-down"), ("apache", "app-error"),
                 ("gunicorn", "worker-timeout"), ("gunicorn", "worker-crashed")]:
        assert need in got, need


@pytest.mark.parametrize(("program", "name"), _cases(), ids=lambda v: str(v))
def test_recorded_case_per_line_engine(program: str, name: str) -> None:
    case = _meta(program)["cases"][name]
    lines = _lines(program, case)
    counts = {exp["match"]: 0 for exp in case["expect"]}
    for line in lines:
        exp = _expected(case, line)
        got = classify_line(line)
        if exp is None or exp["symptom"] is None:
            assert got is None or got.symptom in NOTICES, \
                f"{program}/{name}: classified {got and got.symptom}: {line[:160]}"
        else:
            assert got is not None, f"{program}/{name}: not recognised: {line[:160]}"
            assert (got.symptom, got.status) == (exp["symptom"], exp["status"]), line[:160]
            assert got.source == program, line[:160]
        if exp is not None:
            counts[exp["match"]] += 1
    for exp in case["expect"]:
        assert counts[exp["match"]] == exp["count"], f"{program}/{name}: {exp['match']}"


@pytest.mark.parametrize(("program", "name"), _cases(), ids=lambda v: str(v))
def test_recorded_case_batch_engine_agrees(program: str, name: str) -> None:
    case = _meta(program)["cases"][name]
    lines = _lines(program, case)
    df = classify_series(pl.Series(lines, dtype=pl.String))
    batch = {row["idx"]: (row["symptom"], row["status"], row["pattern"]) for row in df.iter_rows(named=True)}
    single = {}
    for i, line in enumerate(lines):
        c = classify_line(line)
        if c is not None:
            single[i] = (c.symptom, c.status, c.pattern)
    assert batch == single
    want = sum(e["count"] for e in case["expect"] if e["symptom"] is not None)
    assert len([v for v in batch.values() if v[0] not in NOTICES]) == want


@pytest.mark.parametrize(("program", "name"), _cases(), ids=lambda v: str(v))
def test_statuses_are_what_the_client_got(program: str, name: str) -> None:
    """A failure line's status is one the client really received in that run, and equals the
    reference table's status (proxy-messages.md) unless a note says where the program differs."""
    case = _meta(program)["cases"][name]
    client = set(case["client_statuses"])
    for exp in case["expect"]:
        if exp["status"] is None:
            continue
        assert exp["status"] in client, f"{program}/{name}: {exp['match']} {exp['status']} vs {client}"
        assert exp["client_got_it"] is True
        assert exp["status"] == exp["reference_status"] or exp.get("note"), exp
    if program == "haproxy":
        # HAProxy writes the status it sent into the line itself
        for line in _lines(program, case):
            exp = _expected(case, line)
            m = re.search(r"\] \S+ \S+ [-\d/+]+ (-?\d+) ", line)
            if exp is not None and exp["status"] is not None and m:
                assert int(m.group(1)) == exp["status"], line


def test_queue_timeout_has_a_real_line() -> None:
    case = _meta("haproxy")["cases"]["sq-queue-timeout"]
    lines = [ln for ln in _lines("haproxy", case) if " sQ-- " in ln]
    assert len(lines) >= 1
    for line in lines:
        c = classify_line(line)
        assert c is not None and (c.symptom, c.status, c.pattern) == ("queue-timeout", 503, "haproxy-sq")
        assert c.upstream == "app/<NOSRV>"  # queued in the backend, no server assigned yet


def test_fields_of_recorded_lines() -> None:
    sc = _lines("haproxy", _meta("haproxy")["cases"]["sc-refused"])[0]
    c = classify_line(sc)
    assert c is not None
    assert (c.client, c.server, c.upstream, c.request) == ("127.0.0.1", "fe", "app/web1", "GET / HTTP/1.1")
    assert c.time is not None and c.time.startswith("20")
    ap = next(ln for ln in _lines("apache", _meta("apache")["cases"]["http-read-timeout"]) if "AH01102" in ln)
    c = classify_line(ap)
    assert c is not None and c.level == "error" and c.client is not None and c.client.startswith("127.0.0.1:")
    assert c.upstream is not None and c.upstream.startswith("127.0.0.1:")
    gl = next(ln for ln in _lines("gunicorn", _meta("gunicorn")["cases"]["worker-timeout"]) if "WORKER" in ln)
    c = classify_line(gl)
    assert c is not None and c.level == "critical" and c.time is not None and c.time.endswith("+00:00")
