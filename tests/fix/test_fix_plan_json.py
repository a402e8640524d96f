"""``why502 fix --format json``: the dry run's plan as one document (``findings.plan.Plan``,
``schemas/fix-plan.schema.json``; issue 23 item 5: one typed result per command, one ``--format``
vocabulary), the same plan the text shows, with credentials redacted the same way, and nothing
written."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from tests.fix.reports import report_for
from tests.support.clirun import why502
from tests.support.paths import ROOT_DIR
from why502.findings.plan import Plan

SCHEMA = json.loads((ROOT_DIR / "src" / "why502" / "schemas" / "fix-plan.schema.json").read_text())
CONF = ("events {}\nhttp {\n    server {\n        location / {\n            proxy_read_timeout 1s;\n"
        "            proxy_set_header Authorization \"Bearer s3cr3t-t0ken-value\";\n"
        "        }\n    }\n}\n")
CURED = CONF.replace("proxy_read_timeout 1s;", "proxy_read_timeout 30s;")


def _site(tmp_path: Path) -> tuple[Path, Path]:
    conf = tmp_path / "nginx.conf"
    conf.write_text(CONF)
    return conf, report_for(conf, CURED, tmp_path / "report.json")


def test_the_dry_run_plan_as_json_is_valid_round_trips_and_changes_nothing(tmp_path: Path) -> None:
    conf, report = _site(tmp_path)
    res = why502("fix", str(report), "--format", "json")
    assert res.returncode == 1, res.stderr  # 1: changes listed, as the text dry run
    doc = json.loads(res.stdout)
    jsonschema.validate(doc, SCHEMA)
    assert doc["schema"] == "why502.fix-plan/1" and doc["proxy"] == "nginx"
    (change,) = doc["changes"]
    assert change["key"] == "backend-too-slow" and change["file"] == str(conf)
    assert "+            proxy_read_timeout 30s;" in change["diff"]
    assert change["hashes"] == {str(conf): change["expected_sha256"]}
    assert {"key": "backend-too-slow", "command": "systemctl restart app"} in doc["commands"]
    assert conf.read_text() == CONF  # a dry run writes nothing
    assert Plan.from_dict(doc).to_dict() == doc


def test_credentials_in_the_diff_are_redacted_unless_asked(tmp_path: Path) -> None:
    _conf, report = _site(tmp_path)
    shown = why502("fix", str(report), "--format", "json")
    assert "s3cr3t-t0ken-value" not in shown.stdout and "[redacted]" in shown.stdout
    raw = why502("fix", str(report), "--format", "json", "--no-redact")
    assert "s3cr3t-t0ken-value" in json.loads(raw.stdout)["changes"][0]["diff"]


def test_json_is_refused_where_the_command_writes_progress(tmp_path: Path) -> None:
    _conf, report = _site(tmp_path)
    for extra in (["--apply", "--yes"], ["--list"]):
        res = why502("fix", *([] if "--list" in extra else [str(report)]), *extra, "--format", "json",
                     "--state-dir", str(tmp_path / "state"))
        assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
        assert "--format json" in res.stderr, res.stderr


def test_mitigate_json_is_refused_where_it_writes_progress(tmp_path: Path) -> None:
    for extra in (["--list"], ["--revert"]):
        res = why502("mitigate", *extra, "--format", "json", "--state-dir", str(tmp_path / "state"))
        assert res.returncode == 2 and res.stderr.count("\n") == 1, res.stderr
        assert "--format json" in res.stderr, res.stderr


def test_a_plan_of_another_schema_is_refused() -> None:
    for doc in ({}, {"schema": "why502.classify/1"}, []):
        try:
            Plan.from_dict(doc)
        except ValueError as err:
            assert "not a why502 fix plan" in str(err)
        else:
            raise AssertionError(f"{doc!r} was read as a plan")
