"""``why502 lint``: 502/504 pitfalls found in an nginx config before they bite.

Pure: ``run_lint(LintInput) -> list[LintFinding]``.  Rule knowledge (code, name, severity, the
docs text) is data in ``catalog/data/lint_rules.toml``; the checks are in ``rules.py``, one
function per code, listed in one explicit registry (``rules.CHECKS``).  Inputs that only the
host can tell (FPM pools, ``net.core.somaxconn``, MemTotal, the backend's own timeouts, observed
header sizes) are optional; a rule that needs a missing input stays silent.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from why502.facts.fpm import FpmPool
from why502.parsers.nginx_config import NginxConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SEVERITIES = ("info", "warning", "error")


@dataclass(frozen=True)
class LintRule:
    """One rule of ``lint_rules.toml``: every field is required for the docs page."""

    code: str
    name: str
    severity: str
    cause: str
    title: str
    what: str
    why: str
    confirm: tuple[str, ...]
    example: str
    fix: str
    fix_example: str
    references: tuple[str, ...]
    needs: tuple[str, ...] = ()
    fix_lang: str = "nginx"  # code-fence language of fix_example (ini for PHP-FPM / sysctl files)


@dataclass(frozen=True)
class LintInput:
    """The config plus optional facts about the host and the backends."""

    config: NginxConfig
    pools: tuple[FpmPool, ...] = ()
    header_bytes: int | None = None  # largest response header seen from the backend
    backend_timeout: float | None = None  # gunicorn --timeout, max_execution_time, harakiri
    backend_keepalive: float | None = None  # backend idle keep-alive timeout (seconds)
    somaxconn: int | None = None
    mem_total: int | None = None  # bytes
    nofile: int | None = None  # soft RLIMIT_NOFILE nginx runs with (when worker_rlimit_nofile unset)
    nginx_groups: tuple[str, ...] = ()  # supplementary groups of nginx's worker user


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


@dataclass
class LintResult:
    findings: list[LintFinding] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # rule codes whose inputs were missing


@lru_cache(maxsize=1)
def load_rules() -> dict[str, LintRule]:
    """The rules by code, in file order."""
    text = resources.files("why502.catalog").joinpath("data").joinpath("lint_rules.toml").read_text(
        encoding="utf-8")
    data = tomllib.loads(text)
    rules: dict[str, LintRule] = {}
    for raw in data.get("rule", []):
        rule = LintRule(
            code=raw["code"], name=raw["name"], severity=raw["severity"], cause=raw.get("cause", ""),
            title=raw["title"], what=raw["what"].strip(), why=raw["why"].strip(),
            confirm=tuple(raw["confirm"]), example=raw["example"], fix=raw["fix"].strip(),
            fix_example=raw["fix_example"], references=tuple(raw["references"]),
            needs=tuple(raw.get("needs", [])), fix_lang=raw.get("fix_lang", "nginx"),
        )
        if rule.code in rules:
            raise ValueError(f"duplicate lint rule code {rule.code}")
        if rule.severity not in SEVERITIES:
            raise ValueError(f"{rule.code}: bad severity {rule.severity!r}")
        rules[rule.code] = rule
    return rules


def severity_rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else 0


def run_lint(inp: LintInput, only: set[str] | None = None) -> list[LintFinding]:
    """Run every registered rule (or ``only`` these codes/names); findings sorted by file:line."""
    from why502.analyzers.lint.rules import CHECKS

    rules = load_rules()
    out: list[LintFinding] = []
    seen: set[tuple[str, str | None, int | None, str]] = set()
    for code, check in CHECKS.items():
        rule = rules[code]
        if only and code not in only and rule.name not in only:
            continue
        for f in check(inp, rule):
            key = (f.code, f.file, f.line, f.message)
            if key not in seen:
                seen.add(key)
                out.append(f)
    out.sort(key=lambda f: (f.file or "", f.line or 0, f.code))
    return out
