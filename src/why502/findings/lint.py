"""The result of ``why502 lint`` as plain data: findings, notes about the input, what was read.

Plain types low in the layers so the lint checks (analyzers) produce them and the reporters
(text, JSON, SARIF) render them without importing the checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class LintFinding:
    """One finding: where (file:line), what, and a fix (a unified diff when it is config)."""

    code: str
    name: str
    severity: str
    message: str
    file: str | None
    line: int | None
    diff: str | None = None
    related: tuple[tuple[str, int], ...] = ()

    @property
    def where(self) -> str:
        if self.file and self.line:
            return f"{self.file}:{self.line}"
        return self.file or ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code, "name": self.name, "severity": self.severity, "message": self.message,
            "file": self.file, "line": self.line, "diff": self.diff,
            "related": [{"file": f, "line": ln} for f, ln in self.related],
        }


@dataclass(frozen=True)
class LintNote:
    """Something about the input (a config problem, a host fact that could not be read)."""

    severity: str  # error | warning | info
    message: str
    file: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class LintReport:
    """What a lint run found, in the order the reporters show it."""

    findings: tuple[LintFinding, ...]
    notes: tuple[LintNote, ...] = ()
    inputs: dict[str, Any] = field(default_factory=dict)
    files_checked: int = 0
    redacted: int = 0  # credential values shown as ``[redacted]`` (findings.redact)
