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
    unread: bool = False  # a file of the config that could not be read (lint is not complete)


@dataclass(frozen=True)
class LintReport:
    """What a lint run found, in the order the reporters show it."""

    findings: tuple[LintFinding, ...]
    notes: tuple[LintNote, ...] = ()
    inputs: dict[str, Any] = field(default_factory=dict)
    files_checked: int = 0
    redacted: int = 0  # credential values shown as ``[redacted]`` (findings.redact)

    @property
    def unread(self) -> tuple[LintNote, ...]:
        """The config's files that could not be read: "no findings" would be a false clean
        (``include /dev/zero;`` once linted as clean, exit 0), so the reporters say the check is
        incomplete and ``why502 lint`` exits 3."""
        return tuple(n for n in self.notes if n.unread)

    def summary(self, counts: str) -> str:
        """The last line of the text report: files checked, findings, and what was not read."""
        text = f"{self.files_checked} file(s) checked: {counts or 'no findings'}"
        if self.unread:
            text += (f"; INCOMPLETE: {len(self.unread)} included file(s) could not be read "
                     "(see the notes), the config was not checked whole")
        return text


@dataclass
class LintHostFacts:
    """What ``lint`` compares a config with on this host (each may be unknown): read by the
    proxy's own reader (``Hooks.lint_config``) when its config is this host's."""

    somaxconn: int | None = None
    mem_total: int | None = None  # bytes
    nofile: int | None = None  # soft open-files limit of the running master
    groups: tuple[str, ...] = ()  # supplementary groups of its worker user
    notes: list[str] = field(default_factory=list)  # what could not be read


@dataclass
class LintRead:
    """A config as ``lint`` read it: the proxy's model (``files``, ``main_file``), what reading it
    said (before any FPM pool's notes), what the report's ``inputs`` name it by when no path
    was named (``nginx -T``, ``stdin``), and this host's facts when they were read."""

    config: Any
    notes: list[LintNote]
    source: str | None = None
    host: LintHostFacts | None = None
