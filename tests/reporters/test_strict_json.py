"""Strict JSON everywhere a report is written: never ``NaN``/``Infinity`` (RFC 8259 has no such
numbers; ``jq``, ``JSON.parse`` and most parsers refuse the document), through one helper."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from why502.findings.model import Report, TimelinePoint, UpstreamSummary
from why502.reporters.html import render_html, script_json
from why502.reporters.json.report import to_json
from why502.textutil import dump_json, write_json

SRC = Path(__file__).parents[2] / "src" / "why502"
# JSON written by something else than textutil's helpers, and why that is fine
NOT_OUTPUT = {
    "textutil.py": "the helpers themselves",
    "app/watch/mixin.py": "YAML quoting and a Grafana dashboard of constants (no number from data)",
    "app/fix/journal.py": "fix's journal in its state directory, read back by fix only",
    "app/watch/livepage.py": "the live page's /api/state: strict (allow_nan=False) and HTML-inert on its own",
    "app/mitigate/record.py": "mitigate's record in fix's state directory, read back by mitigate only",
    "app/diagnose/demo.py": "a dumps/loads round trip in memory",
    "lab/record.py": "the lab's recorded metadata",
    "lab/demo.py": "the lab's recorded snapshot",
    "parsers/errorlog_native.py": "JSON-quoted keys for the native scanner",
    "proxies/caddy/config.py": "a dial address JSON-quoted, to find it in caddy adapt's output",
    "proxies/envoy/config.py": "a config value shown as it is written (not a duration)",
    "proxies/envoy/edit.py": "keys and values JSON-quoted in the lines a fix diff writes into a config",
}


def strict(text: str) -> object:
    def refuse(name: str) -> object:
        raise ValueError(f"{name} in JSON output")
    return json.loads(text, parse_constant=refuse)


def test_dump_json_writes_non_finite_numbers_as_null() -> None:
    data = {"p95": float("nan"), "rates": [1.5, float("inf"), -float("inf")], "text": "NaN"}
    assert strict(dump_json(data)) == {"p95": None, "rates": [1.5, None, None], "text": "NaN"}
    assert strict(dump_json({"ok": 1.0})) == {"ok": 1.0}


def test_write_json_never_writes_nan() -> None:
    out = io.StringIO()
    with pytest.raises(ValueError):
        write_json(out, {"x": float("nan")})
    assert "NaN" not in out.getvalue()


def test_report_outputs_stay_strict_with_a_nan_inside() -> None:
    """A NaN that reaches a report (a probe's latency, a share of zero requests) is ``null`` in
    the JSON report and in the HTML page's data block (``JSON.parse`` refuses ``NaN``)."""
    report = Report(timeline=[TimelinePoint("2026-11-21T21:13", {"502": 3}, 4)],
                    upstreams=[UpstreamSummary("app", probes=[{"latency_ms": float("nan")}])],
                    inputs={"share": float("inf")})
    assert strict(to_json(report))["upstreams"][0]["probes"][0]["latency_ms"] is None  # type: ignore[index]
    strict(script_json({"x": [float("nan")]}))
    page = render_html(report)
    block = re.search(r'<script type="application/json" id="why502-data">(.*?)</script>', page, re.S)
    assert block is not None
    strict(block.group(1))
    assert "NaN" not in page.split("<script")[0] and "Infinity" not in page.split("<script")[0]


def test_every_json_writer_goes_through_the_strict_helper() -> None:
    """The mechanism: outside the files listed (not outputs, or another branch's), no module
    calls ``json.dumps``/``json.dump``/``JSONEncoder`` itself."""
    found = []
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC).as_posix()
        if rel in NOT_OUTPUT:
            continue
        for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            if re.search(r"\bjson\.(dumps?|JSONEncoder)\(", line):
                found.append(f"{rel}:{n}: {line.strip()}")
    assert found == []
