"""``why502 lint`` for a person: one block per finding (file:line, severity, code, message, the
fix as a diff, the rule's page), then a one-line summary.

Log and config text is hostile: terminal escapes are stripped and rich markup is escaped.
"""

from __future__ import annotations

from collections import Counter
from typing import TextIO

from why502.catalog.lint_rules import DOCS_BASE_URL, load_rules
from why502.findings.lint import LintReport
from why502.findings.redact import notice
from why502.textutil import strip_terminal_escapes

_STYLE = {"error": "bold red", "warning": "yellow", "info": "cyan"}


def render_lint_text(report: LintReport, out: TextIO, color: bool | None = None) -> None:
    """Write the report; ``color`` None colours only a terminal."""
    from rich.console import Console
    from rich.markup import escape

    console = Console(file=out, highlight=False, soft_wrap=True,
                      force_terminal=color if color is not None else None,
                      no_color=color is False)
    if color is False or (color is None and not console.is_terminal):
        _plain(report, out)
        return
    rules = load_rules()
    for note in report.notes:
        file, line = note.file, note.line
        where = f"{file}:{line}: " if file and line else (f"{file}: " if file else "")
        console.print(f"[dim]note ({note.severity}): "
                      f"{escape(strip_terminal_escapes(where + note.message))}[/dim]")
    # one print per finding, not per line: rich's per-call cost (console options, markup,
    # segments) made the text of 10,000 findings with diffs ~5 ms each (bench/config_scale.py)
    for f in report.findings:
        style = _STYLE.get(f.severity, "")
        where = escape(strip_terminal_escapes(f.where))
        parts = [f"[bold]{where}[/bold]  [{style}]{f.severity}[/{style}]  {f.code} {f.name}",
                 "  " + escape(strip_terminal_escapes(f.message))]
        parts += [f"  [dim]see {escape(strip_terminal_escapes(f'{rf}:{rl}'))}[/dim]" for rf, rl in f.related]
        if f.diff:
            for dl in strip_terminal_escapes(f.diff).splitlines():
                st = "green" if dl.startswith("+") else "red" if dl.startswith("-") else "dim"
                parts.append(f"    [{st}]{escape(dl)}[/{st}]")
        parts.append(f"  [dim]docs: {DOCS_BASE_URL}{f.code}.md ({rules[f.code].title})[/dim]")
        console.print("\n".join(parts))
    counts = Counter(f.severity for f in report.findings)
    summary = ", ".join(f"{counts[s]} {s}" for s in ("error", "warning", "info") if counts[s])
    console.print(escape(report.summary(summary)))
    if report.redacted:
        console.print(f"[dim]{escape(notice(report.redacted))}[/dim]")


def _plain(report: LintReport, out: TextIO) -> None:
    """The same text without colour, written directly: rich's markup and rendering per finding
    were ~80 % of ``lint`` on 5000 server blocks (10,000 findings with diffs) sent to a file or
    a pipe, where no colour is drawn anyway."""
    rules = load_rules()
    parts: list[str] = []
    for note in report.notes:
        file, line = note.file, note.line
        where = f"{file}:{line}: " if file and line else (f"{file}: " if file else "")
        parts.append(f"note ({note.severity}): {strip_terminal_escapes(where + note.message)}")
    for f in report.findings:
        parts.append(f"{strip_terminal_escapes(f.where)}  {f.severity}  {f.code} {f.name}")
        parts.append("  " + strip_terminal_escapes(f.message))
        parts += [f"  see {strip_terminal_escapes(f'{rf}:{rl}')}" for rf, rl in f.related]
        if f.diff:
            parts += ["    " + dl for dl in strip_terminal_escapes(f.diff).splitlines()]
        parts.append(f"  docs: {DOCS_BASE_URL}{f.code}.md ({rules[f.code].title})")
    counts = Counter(f.severity for f in report.findings)
    summary = ", ".join(f"{counts[s]} {s}" for s in ("error", "warning", "info") if counts[s])
    parts.append(report.summary(summary))
    if report.redacted:
        parts.append(notice(report.redacted))
    out.write("\n".join(parts) + "\n")
