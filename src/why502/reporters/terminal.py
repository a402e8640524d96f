"""Answer-first terminal output of a diagnosis (rich).

The person on call reads the first lines only: so the first line is the verdict (the most likely
root cause, or "healthy"), then for each finding its evidence and the fix (commands, diff).
Everything that came from an input (log lines, paths, config text) goes through
``strip_terminal_escapes`` and is appended as plain ``Text`` (never parsed as rich markup), so a
hostile request line cannot recolour or retitle the terminal.
"""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.text import Text

from why502 import proxies
from why502.findings.model import EvidenceItem, Finding, Report
from why502.findings.redact import notice
from why502.textutil import shorten, strip_terminal_escapes

_UNREAD = ("cannot read", "permission denied", "not found", "not used", "does not exist")
DETAILED = 3  # findings shown with evidence and fix; the rest one line each
MAX_LISTED = 15
MAX_DIFF_LINES = 60  # a fix of the same defect in 5000 blocks is one diff of 60,000 lines
_KIND_LABEL = {"log": "log", "config": "config", "probe": "probe", "listener": "socket",
               "process": "system", "unit": "systemd", "kernel": "kernel", "stat": "count"}


def clean(value: Any) -> str:
    """Input-derived text made inert for a terminal."""
    return strip_terminal_escapes(str(value)) if value is not None else ""


def render_terminal(report: Report, console: Console, *, verbose: bool = False) -> None:
    """Print ``report`` answer-first to ``console``."""
    console.print(_headline(report))
    proxy = report.inputs.get("proxy")
    if isinstance(proxy, str):  # the findings are about another proxy than the default one
        name = clean(proxies.long_title(proxy))
        config = report.inputs.get("config")
        console.print(Text(f"   {name}" + (f": {clean(str(config))}" if config else ""), style="dim"))
    if not report.inputs.get("demo"):
        console.print(Text(read_line(report), style="dim"))
    found = report.inputs.get("discovered")
    several = isinstance(found, list) and len(found) > 0
    if several and isinstance(found, list):  # diagnose with no flags found these masters running
        console.print(Text("   found running: " + ", ".join(
            f"{clean(proxies.long_title(str(d.get('proxy'))))} (pid {clean(d.get('pid'))}, "
            f"{clean(d.get('config'))})" for d in found if isinstance(d, dict)), style="dim"))
    if report.healthy:
        console.print(Text(_healthy_detail(report), style="dim"))
    detailed = report.findings if verbose else report.findings[:DETAILED]
    for n, finding in enumerate(detailed, 1):
        console.print()
        _finding(console, n, finding, verbose, show_proxy=several)
    rest = report.findings[len(detailed):]
    if rest:
        console.print()
        console.print(Text(f"{len(rest)} less likely finding{'s' if len(rest) != 1 else ''} "
                           "(-v or --format json for details):", style="bold"))
        for n, f in enumerate(rest[:MAX_LISTED], len(detailed) + 1):
            line = Text(f"  {n}. ")
            line.append(clean(f.cause) + (f" ({clean(proxies.long_title(f.proxy))})"
                                           if f.proxy and (several or f.proxy != proxies.DEFAULT) else ""))
            line.append(f"  {clean(f.target or f.upstream or '')}  {f.confidence:.0%}"
                        + (f", {f.count} failed" if f.count else ""), style="dim")
            console.print(line)
        if len(rest) > MAX_LISTED:
            console.print(Text(f"  … {len(rest) - MAX_LISTED} more", style="dim"))
    _diagnostics(console, report)
    if report.redacted:
        console.print()
        console.print(Text(notice(report.redacted), style="dim"))


def _listed(paths: list[str], most: int = 2) -> str:
    shown = ", ".join(clean(p) for p in paths[:most])
    return shown + (f" +{len(paths) - most} more" if len(paths) > most else "")


def read_line(report: Report) -> str:
    """One line under every verdict, healthy or not: the config and logs this run read and how
    many inputs it could not read (issue 31: a verdict about the wrong config looked the same as
    one about the right one)."""
    inp = report.inputs
    configs = [str(c) for c in inp.get("configs") or [inp.get("config") or inp.get("nginx_conf")] if c]
    how = " (nginx -T)" if inp.get("nginx_conf_source") == "nginx -T" else ""
    parts = [f"read: {_listed(configs)}{how}" if configs else "read: no proxy config"]
    logs = [str(p) for p in [*(inp.get("error_logs") or []), *(inp.get("access_logs") or [])]]
    parts.append(f"logs {_listed(logs)}" if logs else "no log")
    unread = [d for d in report.diagnostics if d.severity in ("warning", "error")
              and any(k in d.message.lower() for k in (*_UNREAD, "not read"))]
    if unread:
        parts.append(f"not read: {len(unread)} (see the notes)")
    return "   " + " · ".join(parts)


def _headline(report: Report) -> Text:
    t = Text()
    if report.healthy:
        unread = [d for d in report.diagnostics if d.severity == "error" or (
            d.severity == "warning" and any(k in d.message.lower() for k in _UNREAD))]
        if unread:
            t.append("✔ no root cause found ", style="bold yellow")
            t.append(f"in what could be read; {len(unread)} input"
                     f"{'s' if len(unread) != 1 else ''} could not be read or parsed (see the notes"
                     + ("; run as root to read them)." if any("permission" in d.message.lower()
                                                              for d in unread) else ")."))
            return t
        t.append("✔ healthy: ", style="bold green")
        t.append("no root cause of 502/503/504 found.")
        return t
    top = report.findings[0]
    t.append("✘ ", style="bold red")
    t.append(clean(top.title), style="bold")
    t.append(f"  ({top.cause}, confidence {top.confidence:.0%})", style="dim")
    if len(report.findings) > 1:
        t.append(f"  + {len(report.findings) - 1} more finding"
                 + ("s" if len(report.findings) > 2 else ""), style="dim")
    return t


def _healthy_detail(report: Report) -> str:
    inp = report.inputs
    parts = []
    if inp.get("demo"):
        parts.append("demo bundle")
    logs = len(inp.get("error_logs", [])) + len(inp.get("access_logs", []))
    parts.append(f"{logs} log file{'s' if logs != 1 else ''} read")
    targets = inp.get("targets", [])
    if targets:
        parts.append(f"{len(targets)} target{'s' if len(targets) != 1 else ''} in the config")
    elif inp.get("nginx_conf"):
        parts.append("the config proxies to nothing (no proxy_pass/fastcgi_pass)")
    if inp.get("offline"):
        parts.append("offline: no live checks")
    else:
        probes = [p for u in report.upstreams for p in u.probes]
        if probes:
            ok = sum(1 for p in probes if p.get("ok"))
            parts.append(f"{ok} of {len(probes)} probed target{'s' if len(probes) != 1 else ''} answer")
    if inp.get("since"):
        parts.append(f"since {inp['since']}")
    return "   " + ", ".join(parts)


def _out(console: Console, text: Text, indent: int, hang: int = 0) -> None:
    """Print ``text`` indented; wrapped lines keep the indent (+ ``hang``), no trailing blanks."""
    if text.no_wrap:
        console.print(Text(" " * indent) + text, no_wrap=True, overflow="ellipsis")
        return
    width = max(20, console.width - indent - hang)
    for i, line in enumerate(text.wrap(console, width)):
        line.rstrip()
        console.print(Text(" " * (indent + (hang if i else 0))) + line, no_wrap=True)


def _finding(console: Console, n: int, f: Finding, verbose: bool, *, show_proxy: bool = False) -> None:
    head = Text()
    head.append(f"{n}. ", style="bold")
    head.append(clean(f.title), style="bold red" if n == 1 else "bold yellow")
    head.append("  [", style="dim")
    if f.proxy and (show_proxy or f.proxy != proxies.DEFAULT):  # which proxy, when not the default
        head.append(f"{clean(proxies.long_title(f.proxy))} · ", style="bold")
    head.append(f"{f.cause} · {f.confidence:.0%}", style="dim")
    if f.count:
        codes = "/".join(str(c) for c in f.status_codes) or "errors"
        head.append(f" · {codes} × {f.count}", style="dim")
    head.append("]", style="dim")
    console.print(head)
    where = Text()
    if f.upstream or f.target:
        where.append("upstream ", style="dim")
        where.append(clean(f.upstream or f.target))
        if f.target and f.target != f.upstream:
            where.append(" → ")
            where.append(clean(f.target))
    if f.first_seen:
        where.append(f"   {clean(f.first_seen)}" + (f" … {clean(f.last_seen)}"
                                                   if f.last_seen and f.last_seen != f.first_seen
                                                   else ""), style="dim")
    if where.plain.strip():
        _out(console, where, 3)
    _out(console, Text(clean(f.explanation)), 3)
    if f.evidence:
        _out(console, Text("Evidence", style="bold"), 3)
        limit = None if verbose else 6
        for item in f.evidence[:limit]:
            _evidence(console, item)
        if limit and len(f.evidence) > limit:
            _out(console, Text(f"… {len(f.evidence) - limit} more (-v or --format json shows all)",
                               style="dim"), 5)
    if f.fix:
        fix = Text("Fix: ", style="bold green")
        fix.append(clean(f.fix.summary))
        _out(console, fix, 3)
        for cmd in f.fix.commands:
            _out(console, Text("$ " + clean(cmd), style="cyan"), 5)
        if f.fix.diff:
            lines = clean_block(f.fix.diff)
            shown = lines if verbose else _whole_hunks(lines, MAX_DIFF_LINES)
            for line in shown:
                style = "green" if line.startswith("+") and not line.startswith("+++") else (
                    "red" if line.startswith("-") and not line.startswith("---") else "dim")
                _out(console, Text(line, style=style, no_wrap=True, overflow="ellipsis"), 5)
            if len(shown) < len(lines):
                hunks = sum(1 for line in lines if line.startswith("@@"))
                _out(console, Text(f"… {len(lines) - len(shown):,} more lines of this diff ({hunks:,} hunks "
                                   "in all: -v or --format json shows all of it)", style="dim"), 5)
        for note in f.fix.notes[:3]:
            _out(console, Text("• " + clean(note), style="dim"), 5, hang=2)


def _whole_hunks(lines: list[str], limit: int) -> list[str]:
    """The diff's first lines up to ``limit``, cut where a hunk (or a file) starts, never inside
    one; the first hunk whatever its length."""
    if len(lines) <= limit:
        return lines
    cut = 0
    for i, line in enumerate(lines[:limit + 1]):
        if i and (line.startswith("--- ") or (line.startswith("@@") and not lines[i - 1].startswith("+++ "))):
            cut = i
    return lines[:cut] if cut else lines


def clean_block(text: str) -> list[str]:
    return [strip_terminal_escapes(line) for line in text.splitlines()]


def _evidence(console: Console, item: EvidenceItem) -> None:
    t = Text("• ")
    t.append(f"{_KIND_LABEL.get(item.kind, item.kind)}: ", style="dim")
    t.append(clean(item.summary))
    if item.source and item.kind in ("config", "log", "kernel", "unit"):
        loc = clean(item.source) + (f":{item.line}" if item.line else "")
        t.append(f"  ({loc})", style="dim")
    _out(console, t, 5, hang=2)
    if item.text and item.kind != "probe":
        _out(console, Text(shorten(clean(item.text), 220), style="dim italic"), 9)


def _diagnostics(console: Console, report: Report) -> None:
    shown = [d for d in report.diagnostics if d.severity != "info"]
    if not shown:
        return
    console.print()
    console.print(Text(f"Notes ({len(shown)} input problem{'s' if len(shown) != 1 else ''}, "
                       "not findings):", style="dim bold"))
    for d in shown[:8]:
        console.print(Text(f"  {d.severity}: {clean(d.message)}", style="dim"))
    if len(shown) > 8:
        console.print(Text(f"  … {len(shown) - 8} more", style="dim"))
