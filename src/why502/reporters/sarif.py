"""SARIF 2.1.0 output for ``why502 lint`` (code-scanning UIs, CI annotations).

Why its own plain types: reporters may not import analyzers (import-linter contract), so the app
converts lint findings into ``SarifRule``/``SarifResult`` and this module only renders them.
Shape follows the OASIS SARIF 2.1.0 spec: one run, ``tool.driver.rules`` (id, name,
shortDescription, fullDescription, helpUri, help, defaultConfiguration.level), ``results`` with
``ruleId``/``ruleIndex``/``level``/``message`` and a ``physicalLocation`` (artifact URI +
``region.startLine``).  Tool-side problems go to ``invocations[0].toolExecutionNotifications``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from why502 import PROJECT_URL

SARIF_VERSION = "2.1.0"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"

# why502 severity -> SARIF level
LEVELS = {"error": "error", "warning": "warning", "info": "note"}


@dataclass(frozen=True)
class SarifRule:
    id: str
    name: str
    short: str
    full: str
    help_uri: str
    help_markdown: str
    severity: str


@dataclass(frozen=True)
class SarifResult:
    rule_id: str
    severity: str
    message: str
    file: str | None
    line: int | None
    related: tuple[tuple[str, int], ...] = ()
    diff: str | None = None


@dataclass(frozen=True)
class SarifNotification:
    level: str  # error | warning | info
    message: str
    file: str | None = None
    line: int | None = None


@dataclass
class SarifRun:
    tool_version: str
    rules: list[SarifRule]
    results: list[SarifResult]
    notifications: list[SarifNotification] = field(default_factory=list)
    successful: bool = True


def _uri(path: str) -> str:
    """Absolute paths become ``file://`` URIs; relative ones stay relative references."""
    if os.path.isabs(path):
        return Path(path).as_uri()
    return Path(path).as_posix()


def _location(file: str, line: int | None) -> dict[str, Any]:
    loc: dict[str, Any] = {"physicalLocation": {"artifactLocation": {"uri": _uri(file)}}}
    if line and line > 0:
        loc["physicalLocation"]["region"] = {"startLine": line}
    return loc


def to_sarif(run: SarifRun) -> dict[str, Any]:
    """The SARIF log as a JSON-ready dict."""
    index = {r.id: i for i, r in enumerate(run.rules)}
    rules = [{
        "id": r.id,
        "name": r.name,
        "shortDescription": {"text": r.short},
        "fullDescription": {"text": r.full},
        "helpUri": r.help_uri,
        "help": {"text": r.full, "markdown": r.help_markdown},
        "defaultConfiguration": {"level": LEVELS.get(r.severity, "warning")},
        "properties": {"tags": ["nginx", "502", "reliability"], "why502-severity": r.severity},
    } for r in run.rules]
    results: list[dict[str, Any]] = []
    for res in run.results:
        item: dict[str, Any] = {
            "ruleId": res.rule_id,
            "level": LEVELS.get(res.severity, "warning"),
            "message": {"text": res.message},
        }
        if res.rule_id in index:
            item["ruleIndex"] = index[res.rule_id]
        if res.file:
            item["locations"] = [_location(res.file, res.line)]
        if res.related:
            item["relatedLocations"] = [dict(_location(f, ln), id=i)
                                        for i, (f, ln) in enumerate(res.related)]
        if res.diff:
            item["properties"] = {"fixDiff": res.diff}
        results.append(item)
    notes = []
    for n in run.notifications:
        note: dict[str, Any] = {"level": LEVELS.get(n.level, "warning"), "message": {"text": n.message}}
        if n.file:
            note["locations"] = [_location(n.file, n.line)]
        notes.append(note)
    return {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [{
            "tool": {"driver": {
                "name": "why502",
                "version": run.tool_version,
                "informationUri": PROJECT_URL,
                "rules": rules,
            }},
            "invocations": [{
                "executionSuccessful": run.successful,
                "toolExecutionNotifications": notes,
            }],
            "results": results,
        }],
    }
