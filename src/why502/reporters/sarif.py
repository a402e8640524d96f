"""SARIF 2.1.0 output for ``why502 lint`` (code-scanning UIs, CI annotations).

:func:`lint_sarif` turns a lint report (``findings.lint``) and the rules of the catalog into one
run; :func:`to_sarif` renders any run given as the plain ``SarifRule``/``SarifResult`` types.
Shape follows the OASIS SARIF 2.1.0 spec: one run, ``tool.driver.rules`` (id, name,
shortDescription, fullDescription, helpUri, help, defaultConfiguration.level), ``results`` with
``ruleId``/``ruleIndex``/``level``/``message`` and a ``physicalLocation`` (artifact URI +
``region.startLine``).  Tool-side problems go to ``invocations[0].toolExecutionNotifications``.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from why502 import PROJECT_URL, proxies
from why502.catalog.lint_rules import DOCS_BASE_URL, load_rules, rule_page
from why502.findings.lint import LintReport
from why502.findings.redact import notice
from why502.reporters.options import RenderOptions
from why502.textutil import write_json

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
    proxy: str = proxies.DEFAULT  # whose config the rule reads: the first tag


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
        "properties": {"tags": [r.proxy, "502", "reliability"], "why502-severity": r.severity},
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


def lint_rules_sarif(proxy: str | None = None) -> list[SarifRule]:
    """Every lint rule of the catalog (of ``proxy`` only, when given: the rules that ran), with
    its page as the ``help`` text."""
    return [SarifRule(r.code, r.name, r.title, f"{r.what}\n\n{r.why}".replace("\n", " ").replace("  ", " "),
                      f"{DOCS_BASE_URL}{r.code}.md", rule_page(r, proxies.long_title(r.proxy)), r.severity,
                      r.proxy)
            for r in load_rules().values() if proxy is None or r.proxy == proxy]


def lint_sarif(report: LintReport, tool_version: str) -> dict[str, Any]:
    """``why502 lint --format sarif``: the report as a SARIF log (JSON-ready dict)."""
    results = [SarifResult(f.code, f.severity, f.message, f.file, f.line, f.related, f.diff)
               for f in report.findings]
    notes = [SarifNotification(n.severity, n.message, n.file, n.line) for n in report.notes]
    if report.redacted:  # said where SARIF viewers show the run's own messages
        notes.append(SarifNotification("info", notice(report.redacted), None, None))
    proxy = str(report.inputs.get("proxy") or proxies.DEFAULT)
    return to_sarif(SarifRun(tool_version, lint_rules_sarif(proxy), results, notes,
                             successful=not report.unread))


def render(result: LintReport, options: RenderOptions) -> str:
    """``--format sarif``: a lint result as a SARIF log, with ``options.tool_version``."""
    buffer = io.StringIO()
    write(result, buffer, options)
    return buffer.getvalue()


def write(result: LintReport, out: TextIO, options: RenderOptions) -> None:
    """``render`` written to ``out`` piece by piece (``textutil.write_json``)."""
    if not isinstance(result, LintReport):
        raise TypeError(f"no sarif reporter for {type(result).__name__}")
    write_json(out, lint_sarif(result, options.tool_version))
    out.write("\n")
