"""Answer-first terminal output of a diagnosis (rich).

The person on call reads the first lines only: so the first line is the verdict (the most likely
root cause, or "healthy"), then for each finding its evidence and the fix (commands, diff).
Everything that came from an input (log lines, paths, config text) goes through
``strip_terminal_escapes`` and is appended as plain ``Text`` (never parsed as rich markup), so a
hostile request line cannot recolour or retitle the terminal.
"""

from __future__ import annotations

import re
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
    """Print ``report`` answer-first to ``console``: the first screen (``first_screen``) by
    default, the whole report with ``verbose``."""
    if not verbose:
        for line in first_screen(report, console):
            console.print(line, no_wrap=True, overflow="ellipsis")
        return
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
    if not report.findings:
        console.print(Text(_healthy_detail(report), style="dim"))
    detailed = report.findings if verbose else report.findings[:DETAILED]
    for n, finding in enumerate(detailed, 1):
        console.print()
        _finding(console, n, finding, verbose, show_proxy=several, day=run_day(report))
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


SCREEN = 22  # lines of the first screen: a 24-line terminal less the command and the next prompt
_STAMP = re.compile(r"\b(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}(?::\d{2})?)(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2})?")
_SAME = re.compile(r"between ((?:\d{4}-\d{2}-\d{2} )?)(\d{2}:\d{2}(?::\d{2})?) and \2\b")


def short_times(text: str, day: str | None) -> str:
    """``text`` with every ISO time of ``day`` (``YYYY-MM-DD``, the day of the run) shortened to
    its time, and "between T and T" of one instant said "at T": the date is noise when it is
    today's (issue 31: ``classify`` split timestamps over four lines at 80 columns).  Times of
    another day keep their date."""
    if day:
        text = _STAMP.sub(lambda m: m.group(2) if m.group(1) == day else m.group(0), text)
    return _SAME.sub(r"at \1\2", text)


def run_day(report: Report) -> str | None:
    """The day of the run (``generated_at``'s date, local time), against which times shorten."""
    stamp = report.generated_at or ""
    return stamp[:10] if re.match(r"\d{4}-\d{2}-\d{2}", stamp) else None


def _wrapped(console: Console, text: Text, indent: int, hang: int = 0, most: int = 0) -> list[Text]:
    """``text`` wrapped to the console's width with ``indent`` (+ ``hang`` on later lines), cut
    to ``most`` lines (the last one ending in an ellipsis) when ``most`` is given."""
    width = max(20, console.width - indent - hang)
    lines = [Text(" " * (indent + (hang if i else 0))) + line
             for i, line in enumerate(_glued(text).wrap(console, width))]
    for line in lines:
        line.rstrip()
        if _GLUE in line.plain:
            line.plain = line.plain.replace(_GLUE, " ")  # the same length: the styles stay put
    if most and len(lines) > most:
        lines = lines[:most]
        last = lines[-1]
        last.truncate(max(1, console.width - 1))
        last.append("…")
    return lines


def first_screen(report: Report, console: Console) -> list[Text]:
    """What fits a 24-line terminal (``SCREEN`` lines at the console's width): the verdict, what
    was read, then for the top finding its cause, its three strongest pieces of evidence and the
    fix's commands, the other findings one line each, and "more with -v".

    Why: the person on call reads one screen.  The whole report (26 lines for one finding, 52 for
    the demo) scrolled the headline off an 80x24 terminal (issue 31).  The parts are chosen by
    priority -- the verdict, the read: line, the evidence and the fix's commands always; the
    explanation, the where line, the diff, the other findings and the notes while they fit -- and
    printed in the report's order, every line at most the console's width."""
    day = run_day(report)

    def said(value: object) -> str:
        return short_times(clean(value), day)

    head = _wrapped(console, _headline(report), 0, 2, most=2)
    proxy = report.inputs.get("proxy")
    if isinstance(proxy, str):
        config = report.inputs.get("config")
        head += _wrapped(console, Text(f"{clean(proxies.long_title(proxy))}"
                                       + (f": {clean(str(config))}" if config else ""), style="dim"),
                         3, 2, most=1)
    if not report.inputs.get("demo"):
        head += _wrapped(console, Text(read_line(report).strip(), style="dim"), 3, 2, most=2)
    found = report.inputs.get("discovered")
    if isinstance(found, list) and len(found) > 1:
        head += _wrapped(console, Text("found running: " + ", ".join(
            f"{clean(proxies.long_title(str(d.get('proxy'))))} (pid {clean(d.get('pid'))}, "
            f"{clean(d.get('config'))})" for d in found if isinstance(d, dict)), style="dim"), 3, 2, most=2)
    if not report.findings:
        head += _wrapped(console, Text(said(_healthy_detail(report).strip()), style="dim"), 3, 2, most=2)
    # (priority, order, lines): priority 0 always shown, then 1, 2, ... while the screen has room
    parts: list[tuple[int, int, list[Text]]] = [(0, 0, head)]
    several = isinstance(found, list) and len(found) > 0
    if report.findings:
        f = report.findings[0]
        # the headline names the top finding: under it, where and how many, not its title again
        where = Text()
        if f.proxy and (several or f.proxy != proxies.DEFAULT):
            where.append(clean(proxies.long_title(f.proxy)) + " · ", style="bold")
        if f.upstream or f.target:
            where.append("upstream ", style="dim")
            where.append(clean(f.upstream or f.target))
            if f.target and f.target != f.upstream:
                where.append(" → " + clean(f.target))
        if f.count:
            codes = "/".join(str(c) for c in f.status_codes) or "errors"
            where.append((" · " if where.plain else "") + f"{codes} × {f.count:,}", style="dim")
        if f.first_seen:
            # the last time shortens against the first's day too: "21:11:54 … 21:11:57"
            last = short_times(clean(f.last_seen), f.first_seen[:10]) if (
                f.last_seen and f.last_seen != f.first_seen) else ""
            where.append((" · " if where.plain else "") + said(f.first_seen) + (f" … {last}" if last else ""),
                         style="dim")
        parts.append((0, 1, [Text(""), *_wrapped(console, where, 3, 2, most=2)]))
        parts.append((1, 3, _wrapped(console, Text(said(f.explanation)), 3, most=3)))
        evidence: list[Text] = []
        for item in f.evidence[:3]:
            t = Text("• ")
            t.append(f"{_KIND_LABEL.get(item.kind, item.kind)}: ", style="dim")
            t.append(said(item.summary))
            if item.source and item.kind in ("config", "log", "kernel", "unit"):
                t.append(f"  ({clean(item.source)}" + (f":{item.line}" if item.line else "") + ")",
                         style="dim")
            evidence += _wrapped(console, t, 3, 2, most=2)
        if evidence:
            parts.append((0, 4, evidence))
        if f.fix:
            fix = Text("Fix: ", style="bold green")
            fix.append(said(f.fix.summary))
            lines = _wrapped(console, fix, 3, 2, most=2)
            for cmd in f.fix.commands:
                lines += _wrapped(console, Text("$ " + clean(cmd), style="cyan"), 5, 2)
            parts.append((0, 5, lines))
            if f.fix.diff:
                diff = clean_block(f.fix.diff)
                parts.append((3, 6, [Text("     " + line, style="green" if line.startswith("+") and not
                                          line.startswith("+++") else "red" if line.startswith("-")
                                          and not line.startswith("---") else "dim") for line in diff]))
        others: list[Text] = []
        for n, o in enumerate(report.findings[1:3], 2):
            line = Text(f"{n}. ", style="bold")
            line.append(clean(o.title))
            who = f"{clean(proxies.long_title(o.proxy))} · " if o.proxy and (
                several or o.proxy != proxies.DEFAULT) else ""
            line.append(f"  ({who}{o.cause}, {o.confidence:.0%}" + (", recovered" if o.recovered else "")
                        + ")", style="dim")
            others += _wrapped(console, line, 0, 3, most=1)
        if len(report.findings) > 3:
            others.append(Text(f"… {len(report.findings) - 3} more finding"
                               f"{'s' if len(report.findings) > 4 else ''}", style="dim"))
        if others:
            parts.append((4, 7, [Text(""), *others]))
    notes = [d for d in report.diagnostics if d.severity != "info"]
    if notes:
        parts.append((5, 8, [Text(f"{len(notes)} note{'s' if len(notes) != 1 else ''} about the "
                                  "inputs (not findings)", style="dim")]))
    if report.redacted:  # always: the report does not show what the logs hold
        parts.append((0, 9, _wrapped(console, Text(notice(report.redacted), style="dim"), 0)))
    more = Text("more with -v", style="bold")
    more.append(": every piece of evidence, the log lines, the whole fix"
                + (", every finding" if len(report.findings) > 1 else "")
                + (", the notes" if notes else ""), style="dim")
    parts.append((0, 10, [Text(""), *_wrapped(console, more, 0, 2, most=1)]))
    return _fit(parts, SCREEN)


def _fit(parts: list[tuple[int, int, list[Text]]], room: int) -> list[Text]:
    """The parts that fit ``room`` lines, by priority (0 always), printed in their order; a diff
    (priority 3) that does not fit whole is cut, with how much more there is."""
    # a diff always leaves its one-line note ("N lines of this diff ...") on the screen
    used = sum(len(lines) for prio, _o, lines in parts if prio == 0) + sum(1 for p in parts if p[0] == 3)
    chosen = [p for p in parts if p[0] == 0]
    for prio, order, lines in sorted((p for p in parts if p[0]), key=lambda p: p[0]):
        if used + len(lines) - (prio == 3) <= room:
            chosen.append((prio, order, lines))
            used += len(lines) - (prio == 3)
        elif prio == 3:  # the diff does not fit: its whole hunks that do, and how much more
            plain = [line.plain[5:] for line in lines]
            keep = len(_whole_hunks(plain, room - used)) if room - used > 0 else 0
            keep = keep if keep <= room - used else 0  # a first hunk longer than the room: none
            hunks = sum(1 for line in plain if line.startswith("@@"))
            cut = [*lines[:keep], Text(f"     … {len(lines) - keep:,} {'more ' if keep else ''}lines of "
                                       f"this diff ({hunks:,} hunk{'s' if hunks != 1 else ''} in all: -v "
                                       "shows it)", style="dim")]
            chosen.append((prio, order, cut))
            used += keep
    return [line for _p, _o, lines in sorted(chosen, key=lambda p: p[1]) for line in lines]


def _listed(paths: list[str], most: int = 2) -> str:
    shown = ", ".join(clean(p) for p in paths[:most])
    return shown + (f" +{len(paths) - most} more" if len(paths) > most else "")


def read_line(report: Report) -> str:
    """One line under every verdict, healthy or not: the config and logs this run read and how
    many inputs it could not read (issue 31: a verdict about the wrong config looked the same as
    one about the right one)."""
    inp = report.inputs
    configs = [str(c) for c in inp.get("configs") or [proxies.report_config(inp)] if c]
    # the default proxy's config read from its dump (``inputs.<key>_source``: its ``config_dump``)
    dump = proxies.of(proxies.DEFAULT).vocabulary.config_dump
    source = inp.get(f"{proxies.config_key(proxies.DEFAULT)}_source")
    how = f" ({dump})" if dump and source == dump else ""
    parts = [f"read: {_listed(configs)}{how}" if configs else "read: no proxy config"]
    # each log once: one file named as both logs (HAProxy's one log) is one log read
    logs = list(dict.fromkeys(str(p) for p in [*(inp.get("error_logs") or []),
                                               *(inp.get("access_logs") or [])]))
    parts.append(_logs_read(logs, empty_logs(report), _since(report)) if logs else "no log")
    unread = [d for d in report.diagnostics if d.severity in ("warning", "error")
              and any(k in d.message.lower() for k in (*_UNREAD, "not read"))]
    if unread:
        parts.append(f"not read: {len(unread)} (see the notes)")
    return "   " + " · ".join(parts)


def empty_logs(report: Report) -> list[str]:
    """The logs this run read that held no line (``inputs.empty_logs``, schema 1.6)."""
    value = report.inputs.get("empty_logs")
    return [str(p) for p in value] if isinstance(value, list) else []


def _logs_read(logs: list[str], empty: list[str], since: str = "") -> str:
    """The read: line's logs, each empty one said so: "(0 lines)" after the one log, "(0 lines in
    all)" after the list when every one is empty, else after each empty one -- a verdict on a log
    that held nothing must show it where the reader looks (a just-rotated log is empty).
    ``since``: the window's start, as said ("0 lines since 08:41").  Why: the answer is about
    those lines, and 0 of them is no answer (``app.diagnose.judged``)."""
    if not empty or not set(logs) & set(empty):
        return f"logs {_listed(logs)}"
    zero = "0 lines" + (f" since {since}" if since else "")
    if set(logs) <= set(empty):
        return f"logs {_listed(logs)} ({zero}{'' if len(logs) == 1 else ' in all'})"
    marked = [p + (f" ({zero})" if p in empty else "") for p in logs]
    return f"logs {_listed(marked)}"


def _since(report: Report) -> str:
    """The run's ``--since`` as said (its time alone on the run's day), or ""."""
    since = report.inputs.get("since")
    return short_times(clean(since), run_day(report)) if since else ""


def nothing_judged(report: Report, files: bool = False) -> str:
    """What a run with no evidence read (``Report.no_evidence``), in one phrase that fits the
    headline: "the logs hold no line; nothing was probed (--offline)" (the read: line names
    them, "(0 lines)"); ``files``: with the empty logs named (the one-line error on stderr)."""
    empty = empty_logs(report)
    since = _since(report)
    if empty:
        what = "the logs hold no line" + (f" since {since}" if since else "") + (
            f" ({_listed(empty, 3)})" if files else "")
    elif since:
        what = f"no log line since {since}"
    else:
        what = "no log line was read"
    probed = ("nothing was probed (--offline)" if report.inputs.get("offline")
              else "nothing was probed (no config read: no target)")
    return f"{what}; {probed}"


def to_decide(report: Report) -> str:
    """What would give a run with no evidence something to judge, in the order to try it (after
    "to decide: ")."""
    steps = ["widen --since"] if report.inputs.get("since") else []
    steps.append("give a log that has lines (just rotated? its .1)")
    if report.inputs.get("offline"):
        steps.append("drop --offline")
    steps.append("name the config (--config FILE)")
    return ", ".join(steps)


def _headline(report: Report) -> Text:
    t = Text()
    if report.no_evidence:  # nothing judged: no verdict (exit 3), never "healthy"
        t.append("? no evidence: ", style="bold yellow")
        t.append(nothing_judged(report) + ".")
        return t
    if report.config_only:  # a config read, no log line, no live check: no verdict on the 5xx
        t.append("✔ no config pitfall found", style="bold yellow")
        t.append("; no log line to judge, nothing probed.")
        return t
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
    if not report.failing_now:  # every finding is the past: nothing fails now
        t.append("✔ recovered: ", style="bold yellow")
        t.append(clean(top.title), style="bold")
        t.append("  (nothing fails now; exit 0)", style="dim")
        return t
    t.append("✘ ", style="bold red")
    t.append(clean(top.title), style="bold")
    t.append(f"  ({top.cause}, confidence {top.confidence:.0%})", style="dim")
    if len(report.findings) > 1:
        t.append(f"  + {len(report.findings) - 1} more finding"
                 + ("s" if len(report.findings) > 2 else ""), style="dim")
    return t


def _healthy_detail(report: Report) -> str:
    """The line under a verdict without finding: what it rests on (logs, targets, probes), or
    for no evidence at all what would decide (``to_decide``)."""
    if report.no_evidence:
        return "   to decide: " + to_decide(report)
    inp = report.inputs
    parts = []
    if inp.get("demo"):
        parts.append("demo bundle")
    logs = len(inp.get("error_logs", [])) + len(inp.get("access_logs", []))
    parts.append(f"{logs} log file{'s' if logs != 1 else ''} read")
    targets = inp.get("targets", [])
    if targets:
        parts.append(f"{len(targets)} target{'s' if len(targets) != 1 else ''} in the config")
    elif inp.get(proxies.config_key(proxies.DEFAULT)):
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
    for i, line in enumerate(_glued(text).wrap(console, width)):
        line.rstrip()
        if _GLUE in line.plain:
            line.plain = line.plain.replace(_GLUE, " ")  # the same length: the styles stay put
        console.print(Text(" " * (indent + (hang if i else 0))) + line, no_wrap=True)


_GLUE = "\u2423"  # stands for the space inside a time while the text is wrapped (never shown)
_DATE_TIME = re.compile(r"(\b\d{4}-\d\d-\d\d|\b\d\d-\d\d) (\d\d:\d\d)")


def _glued(text: Text) -> Text:
    """``text`` with the space between a date and its time made unbreakable for wrapping: a
    time is never split over lines ("between 2026-11-21" / "21:11:54", issue 31)."""
    plain = text.plain
    glued = _DATE_TIME.sub(lambda m: f"{m.group(1)}{_GLUE}{m.group(2)}", plain)
    if glued == plain:
        return text
    out = text.copy()
    out.plain = glued
    return out


def _finding(console: Console, n: int, f: Finding, verbose: bool, *, show_proxy: bool = False,
             day: str | None = None) -> None:
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
        last = short_times(clean(f.last_seen), day) if f.last_seen and f.last_seen != f.first_seen else ""
        where.append(f"   {short_times(clean(f.first_seen), day)}" + (f" … {last}" if last else ""),
                     style="dim")
    if where.plain.strip():
        _out(console, where, 3)
    _out(console, Text(short_times(clean(f.explanation), day)), 3)
    if f.evidence:
        _out(console, Text("Evidence", style="bold"), 3)
        limit = None if verbose else 6
        for item in f.evidence[:limit]:
            _evidence(console, item, day)
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


def _evidence(console: Console, item: EvidenceItem, day: str | None = None) -> None:
    t = Text("• ")
    t.append(f"{_KIND_LABEL.get(item.kind, item.kind)}: ", style="dim")
    t.append(short_times(clean(item.summary), day))
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
