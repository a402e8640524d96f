"""One typed result per command (issue 23, item 5): each command's real JSON output, produced through
the CLI on files, validates against its JSON Schema in ``src/why502/schemas/``, reads into its type
and is written back identical (``to_dict(from_dict(doc)) == doc``, key order included), and
``from_dict(to_dict(x)) == x``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.support.clirun import WHY502, why502
from tests.support.paths import FIXTURES_DIR, ROOT_DIR
from why502.findings.results import (
    SCHEMAS,
    CauseRow,
    ClassifySummary,
    ExplainResult,
    FleetReport,
    LbStatsReport,
    StatsReport,
    WatchEvent,
)

SCHEMA_DIR = ROOT_DIR / "src" / "why502" / "schemas"
RECORDED = FIXTURES_DIR / "recorded"
TCP = RECORDED / "backend-down-tcp"
HAPROXY = RECORDED / "haproxy-all-servers-down"


def _validate(doc: object, schema: str) -> None:
    spec = json.loads((SCHEMA_DIR / schema).read_text())
    jsonschema.Draft202012Validator.check_schema(spec)
    jsonschema.validate(doc, spec, cls=jsonschema.Draft202012Validator)


def _round_trip(cls: Any, doc: dict[str, Any]) -> None:
    value = cls.from_dict(doc)
    assert json.dumps(value.to_dict()) == json.dumps(doc)  # the same document, key order included
    assert cls.from_dict(value.to_dict()) == value


def _alb_log(tmp_path: Path) -> Path:
    rows = [json.loads(line) for line in (FIXTURES_DIR / "cloud" / "alb.jsonl").read_text().splitlines()]
    log = tmp_path / "alb.log"
    log.write_text("".join(r["line"] + "\n" for r in rows if r.get("family") == "alb"))
    return log


def test_every_schema_named_exists_and_is_valid() -> None:
    for name in {*SCHEMAS.values(), "explain-line.schema.json"}:
        jsonschema.Draft202012Validator.check_schema(json.loads((SCHEMA_DIR / name).read_text()))


@pytest.mark.parametrize("argv", [
    [str(TCP / "access.log"), "--error-log", str(TCP / "error.log")],
    ["--config", str(HAPROXY / "haproxy.cfg"), str(HAPROXY / "haproxy.log")],
    ["--nginx-conf", str(TCP / "nginx.conf"), str(TCP / "access.log"), "--no-error-log"],
], ids=["nginx", "haproxy", "config"])
def test_stats(argv: list[str]) -> None:
    res = why502("stats", *argv, "--format", "json")
    assert res.returncode == 1, res.stderr
    doc = json.loads(res.stdout)
    _validate(doc, SCHEMAS["stats"])
    _round_trip(StatsReport, doc)


def test_stats_of_another_proxy_says_its_name_in_the_notes() -> None:
    """The proxy's word reaches the notes through the engine (no text rewriting afterwards)."""
    res = why502("stats", "--config", str(HAPROXY / "haproxy.cfg"), str(HAPROXY / "haproxy.log"),
                 "--format", "json")
    doc = json.loads(res.stdout)
    assert doc["proxy"] == "haproxy" and doc["log_format"].startswith("HAProxy httplog")
    assert doc["notes"][0] == "log format: HAProxy httplog (configuration.txt 8.2.3)"
    apache = RECORDED / "apache-backend-crashed"
    res = why502("stats", "--config", str(apache / "apache2.conf"), str(apache / "apache-access.log"),
                 "--format", "json")
    doc = json.loads(res.stdout)
    _validate(doc, SCHEMAS["stats"])
    assert doc["proxy"] == "apache" and doc["notes"][0].startswith("log format: Apache LogFormat ")
    assert "cannot tell whether Apache or the backend made each 5xx (give its error log with " \
           "--error-log)" in doc["notes"][1], doc["notes"]


def test_stats_of_a_load_balancer_log(tmp_path: Path) -> None:
    res = why502("stats", str(_alb_log(tmp_path)), "--format", "json")
    assert res.returncode == 1, res.stderr
    doc = json.loads(res.stdout)
    _validate(doc, SCHEMAS["stats"])
    _round_trip(LbStatsReport, doc)
    csv = why502("stats", str(_alb_log(tmp_path)), "--format", "csv")
    assert csv.stdout.splitlines()[0] == "minute,requests,5xx_lb,5xx_backend"
    assert len(csv.stdout.splitlines()) == len(doc["timeline"]) + 1


def test_classify(tmp_path: Path) -> None:
    for argv in ([str(TCP / "error.log")], [str(_alb_log(tmp_path))]):
        res = why502("classify", *argv, "--format", "json")
        assert res.returncode == 1, res.stderr
        doc = json.loads(res.stdout)
        _validate(doc, SCHEMAS["classify"])
        _round_trip(ClassifySummary, doc)


@pytest.mark.parametrize("arg", ["backend-not-running", "502", "W502-001", "UF",
                                 '2024/05/01 12:00:01 [error] 7#7: *1 connect() failed (111: Connection '
                                 'refused) while connecting to upstream, client: 1.2.3.4, server: x, '
                                 'request: "GET / HTTP/1.1", upstream: "http://127.0.0.1:8080/", host: "x"'])
def test_explain(arg: str) -> None:
    res = why502("explain", arg, "--format", "json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    _validate(doc, SCHEMAS["explain"])
    _round_trip(ExplainResult, doc)


def test_explain_several_and_jsonl() -> None:
    res = why502("explain", "502", "504", "--format", "json")
    docs = json.loads(res.stdout)
    _validate(docs, SCHEMAS["explain"])
    for doc in docs:
        _round_trip(ExplainResult, doc)
    lines = (TCP / "error.log").read_text() + "\n"
    out = subprocess.run([WHY502, "explain", "-", "--format", "jsonl"], input=lines, capture_output=True,
                         text=True, check=True)
    records = [json.loads(line) for line in out.stdout.splitlines()]
    assert records and any("error" in r for r in records) and any("type" in r for r in records)
    for record in records:
        _validate(record, "explain-line.schema.json")


def test_causes() -> None:
    res = why502("causes", "--kind", "cause", "--kind", "symptom", "--kind", "event", "--kind", "status",
                 "--format", "json")
    rows = json.loads(res.stdout)
    _validate(rows, SCHEMAS["causes"])
    assert {r["kind"] for r in rows} == {"cause", "symptom", "event", "status"}
    for row in rows:
        _round_trip(CauseRow, row)


def test_lint_and_diagnose() -> None:
    res = why502("lint", str(FIXTURES_DIR / "lint" / "W502-001" / "fire-defaults.conf"), "--no-host",
                 "--format", "json")
    _validate(json.loads(res.stdout), SCHEMAS["lint"])
    res = why502("diagnose", "--offline", "--config", str(TCP / "nginx.conf"), "--error-log",
                 str(TCP / "error.log"), "--access-log", str(TCP / "access.log"), "--format", "json")
    assert res.returncode == 1, res.stderr
    _validate(json.loads(res.stdout), SCHEMAS["diagnose"])


def test_watch_jsonl(tmp_path: Path) -> None:
    from tests.watch.test_watch_engine import error_line

    log = tmp_path / "error.log"
    log.write_text("".join(error_line(n) for n in range(200)))
    res = why502("watch", "--error-log", str(log), "--from-start", "--offline", "--listen", "off",
                 "--format", "jsonl", "--max-events", "1", "--duration", "60")
    assert res.returncode == 0, res.stderr
    events = [json.loads(line) for line in res.stdout.splitlines()]
    assert [e["event"] for e in events] == ["incident-opened"], res.stdout
    for event in events:
        _validate(event, SCHEMAS["watch"])
        _round_trip(WatchEvent, event)


def test_fleet_keeps_what_a_newer_fleet_adds() -> None:
    """``FleetReport`` reads today's document and keeps fields it does not know (another branch
    extends fleet's JSON): they are written back, in place after the known ones."""
    doc = {"hosts": [{"instance": "web1:9502", "open_incidents": ["backend-not-running"],
                      "errors_5xx_per_s": 1.5, "requests_per_s": None, "targets_down": [],
                      "cause_share": 0.5}], "causes": [{"id": "backend-not-running", "hosts": 1}]}
    _validate(doc, SCHEMAS["fleet"])
    _round_trip(FleetReport, doc)
    assert FleetReport.from_dict(doc).findings


@pytest.mark.real
def test_fleet_through_a_real_prometheus(tmp_path: Path) -> None:
    from tests.support.monitoring import get_json, get_text, start_prometheus, wait_until
    from tests.watch.test_watch_fleet import host
    from why502.lab.runtime import Stack, free_port

    conf, _, _ = host(tmp_path, "web1")
    port = free_port()
    with Stack() as stack:
        proc = subprocess.Popen([WHY502, "watch", "--config", str(conf), "--offline", "--listen",
                                 f"127.0.0.1:{port}", "--duration", "60"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            metrics = f"http://127.0.0.1:{port}/metrics"
            wait_until(lambda: "why502_log_lag_bytes{" in (get_text(metrics) or ""), 15, "watch started")
            prom = start_prometheus(stack, [f"127.0.0.1:{port}"])
            wait_until(lambda: bool(get_json(f"{prom}/api/v1/query?query=why502_log_lag_bytes")
                                    ["data"]["result"]), 30, "Prometheus to scrape the host")
            res = why502("fleet", "--prometheus", prom, "--format", "json", "--range", "1m30s")
            assert res.returncode == 0, res.stderr
            doc = json.loads(res.stdout)
            _validate(doc, SCHEMAS["fleet"])
            _round_trip(FleetReport, doc)
            assert [h["instance"] for h in doc["hosts"]] == [f"127.0.0.1:{port}"]
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_lab_list_json_and_o() -> None:
    """``lab list --format json`` (issue 31: lab list had no --format/-o): its schema, and ``-o``
    writes the same document."""
    res = why502("lab", "list", "--all", "--format", "json")
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    _validate(doc, SCHEMAS["lab list"])
    assert any(r["name"] == "backend-down-tcp" for r in doc["scenarios"])


def test_lab_list_o_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "lab.json"
    res = why502("lab", "list", "--format", "json", "-o", str(out))
    assert res.returncode == 0 and res.stdout == "", res.stderr
    _validate(json.loads(out.read_text()), SCHEMAS["lab list"])


def test_lab_check_json_validates() -> None:
    """``lab check --format json`` on a scenario that cannot run here is one document too (a
    skipped row); on one that runs, ok or wrong with the cause diagnose ranked first."""
    res = why502("lab", "check", "backend-down-tcp", "--format", "json")
    assert res.returncode in (0, 1), res.stderr
    doc = json.loads(res.stdout)
    _validate(doc, SCHEMAS["lab check"])
    assert [r["scenario"] for r in doc["results"]] == ["backend-down-tcp"]
    assert doc["results"][0]["result"] in ("ok", "wrong", "skip", "error")
