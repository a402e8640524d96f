"""``why502 lint --format json``: the findings, the notes about the input, and what was read."""

from __future__ import annotations

from typing import Any

from why502.findings.lint import LintReport


def lint_json(report: LintReport, tool_version: str) -> dict[str, Any]:
    """The report as a JSON-ready dict (``tool``, ``version``, ``findings``, ``diagnostics``,
    ``inputs``, ``redacted``: how many credential values show as ``[redacted]``)."""
    return {
        "tool": "why502 lint", "version": tool_version,
        "findings": [f.to_dict() for f in report.findings],
        "diagnostics": [{"severity": n.severity, "message": n.message, "file": n.file, "line": n.line}
                        for n in report.notes],
        "inputs": report.inputs,
        "redacted": report.redacted,
        "complete": not report.unread,  # False: a file of the config could not be read
    }
