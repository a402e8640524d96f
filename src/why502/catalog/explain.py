"""Resolve what ``why502 explain ARG`` was asked about and render the page as text or JSON.

Pure functions over the catalog (no I/O besides reading the packaged TOML): the CLI passes the
argument in and prints what comes back.  Log-line classification lives one layer up
(``why502.app.explain``) because the classifier is in ``why502.parsers``.

Only the standard library is imported here, so ``why502 explain ID`` starts fast (see
``bench/startup.py``).
"""

from __future__ import annotations

import difflib
import re
import textwrap
from collections.abc import Iterable
from dataclasses import asdict
from http import HTTPStatus
from typing import Any

from why502.catalog import (
    KIND_LABELS,
    Catalog,
    Entry,
    StatusPage,
    format_status,
    load_catalog,
    load_statuses,
    status_leads,
)
from why502.catalog.lint_rules import CODE_RE, DOCS_BASE_URL, LintRule, find_rule
from why502.catalog.patterns import programs_for_symptom
from why502.errors import UsageError

_STATUS_RE = re.compile(r"^\d{1,3}$")
_STATUS_PHRASE_RE = re.compile(r"^(\d{3}) ([A-Za-z][A-Za-z -]*)$")
_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")


# ----------------------------------------------------------------------------------------------
# Resolving the argument
# ----------------------------------------------------------------------------------------------


def looks_like_log_line(arg: str) -> bool:
    """A pasted log line has several words; an ID or a status code has none."""
    return len(arg.strip().split()) > 1


def normalize_status(arg: str) -> str | None:
    """``"502"`` -> ``"502"``, ``"9"``/``"009"`` -> ``"009"``; a status line's code and its
    standard reason phrase (``"504 Gateway Timeout"``, RFC 9110 section 15) -> ``"504"``: that text
    alone says the status, not which proxy made it or why.  None when ``arg`` is not a code."""
    text = arg.strip()
    m = _STATUS_PHRASE_RE.match(text)
    if m is not None:
        try:
            phrase = HTTPStatus(int(m.group(1))).phrase
        except ValueError:
            return None
        return format_status(int(m.group(1))) if phrase.lower() == m.group(2).lower() else None
    if not _STATUS_RE.match(text):
        return None
    return format_status(int(text))


def _programs(entry: Entry) -> list[str]:
    """The programs a page names: a symptom's own list and the edge programs whose rules yield it."""
    return programs_for_symptom(entry.id, entry.proxies) if entry.kind == "symptom" else entry.proxies


def normalize_id(arg: str) -> str:
    """IDs are lowercase and hyphenated; accept ``Backend_Not_Running`` and ``backend not running``."""
    return re.sub(r"[\s_]+", "-", arg.strip().lower())


def suggestions(arg: str, candidates: Iterable[str], limit: int = 3) -> list[str]:
    """Close IDs for a "did you mean" hint: difflib ratio first, then IDs containing ``arg``."""
    pool = sorted(set(candidates))
    out = difflib.get_close_matches(arg, pool, n=limit, cutoff=0.6)
    if len(out) < limit and len(arg) >= 3:
        out += [c for c in pool if arg in c and c not in out][: limit - len(out)]
    return out


def resolve_id(arg: str, catalog: Catalog | None = None) -> list[Entry]:
    """Every catalog entry with this ID (cause first); :class:`UsageError` with suggestions if none."""
    catalog = catalog or load_catalog()
    entry_id = normalize_id(arg)
    found = catalog.find(entry_id)
    if found:
        return found
    raise UsageError(_unknown_message(arg, entry_id, catalog))


def resolve_lint_rule(arg: str) -> LintRule | None:
    """The lint rule ``arg`` names (``W502-001``, any case, or its name
    ``upstream-keepalive-without-http11``); ``None`` when ``arg`` is not about a lint rule.
    A ``W502-...`` code that no rule has is a :class:`UsageError`."""
    text = arg.strip()
    rule = find_rule(text)
    if rule is None and CODE_RE.match(text):
        raise UsageError(f"unknown lint rule {text.upper()!r} (list them all: why502 lint --list-rules)")
    return rule


def resolve_status(code: str, statuses: dict[str, StatusPage] | None = None) -> StatusPage:
    """The status page for ``code`` (already normalized); :class:`UsageError` if there is none."""
    statuses = statuses if statuses is not None else load_statuses()
    page = statuses.get(code)
    if page is None:
        known = ", ".join(sorted(statuses))
        raise UsageError(f"no page for status {code}; status pages exist for: {known}")
    return page


def _unknown_message(arg: str, entry_id: str, catalog: Catalog) -> str:
    shown = arg.strip()
    if len(shown) > 60:
        shown = shown[:59] + "…"
    hint = suggestions(entry_id, catalog.ids())
    msg = f"unknown cause/symptom/event ID {shown!r}"
    if hint:
        msg += "; did you mean: " + ", ".join(hint) + "?"
    return msg + " (list them all: why502 causes)"


# ----------------------------------------------------------------------------------------------
# JSON
# ----------------------------------------------------------------------------------------------


def entry_to_dict(entry: Entry) -> dict[str, Any]:
    """Every field of the entry; status codes as logged (``"009"``) next to the integers."""
    data = asdict(entry)
    data["status_text"] = [format_status(c) for c in entry.status_codes]
    return data


def status_to_dict(page: StatusPage) -> dict[str, Any]:
    return asdict(page)


def lint_rule_to_dict(rule: LintRule) -> dict[str, Any]:
    """Every field of the rule, plus the URL of its page."""
    data = asdict(rule)
    data["docs"] = f"{DOCS_BASE_URL}{rule.code}.md"
    return data


# ----------------------------------------------------------------------------------------------
# Text rendering
# ----------------------------------------------------------------------------------------------


class Style:
    """Minimal ANSI styling (no rich: ``explain`` must start fast); off when not a terminal."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def _wrap(self, code: str, text: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color and text else text

    def head(self, text: str) -> str:
        return self._wrap("1", text)

    def title(self, text: str) -> str:
        return self._wrap("1;36", text)

    def dim(self, text: str) -> str:
        return self._wrap("2", text)

    def code(self, text: str) -> str:
        return self._wrap("33", text)


def wrap_prose(text: str, width: int, indent: str = "  ") -> list[str]:
    """Wrap catalog prose: paragraphs split by blank lines, ``- `` lines are list items."""
    out: list[str] = []
    for para in text.strip().split("\n\n"):
        lines = [ln.strip() for ln in para.strip().splitlines() if ln.strip()]
        items: list[str] = []
        for line in lines:
            if line.startswith("- ") or not items:
                items.append(line)
            else:
                items[-1] += " " + line
        for item in items:
            bullet = item.startswith("- ")
            out += textwrap.wrap(
                item,
                width=max(20, width),
                initial_indent=indent,
                subsequent_indent=indent + ("  " if bullet else ""),
                break_long_words=False,
                break_on_hyphens=False,
            ) or [indent]
        out.append("")
    while out and out[-1] == "":
        out.pop()
    return out


def _status_list(codes: Iterable[int]) -> str:
    return ", ".join(format_status(c) for c in codes) or "-"


def _shell_lines(lines: list[str], style: Style) -> list[str]:
    return ["    " + (style.dim(ln) if ln.lstrip().startswith("#") else style.code(ln)) for ln in lines]


def render_entry_text(entry: Entry, catalog: Catalog | None = None, width: int = 100,
                      color: bool = False) -> str:
    """The ``why502 explain ID`` page: title, statuses, explanation, confirm, fix, references."""
    catalog = catalog or load_catalog()
    st = Style(color)
    out: list[str] = []
    out.append(st.title(f"{entry.id}") + st.dim(f"  ({KIND_LABELS[entry.kind]})"))
    out.append(st.head(entry.title))
    out.append(f"Status codes: {_status_list(entry.status_codes)}    Proxies: {', '.join(_programs(entry))}")
    out.append("")
    out.append(st.head("What it means"))
    out += wrap_prose(entry.explanation, width)
    if entry.evidence:
        out += ["", st.head("Evidence that proves it")]
        out += wrap_prose(entry.evidence, width)
    out += ["", st.head("How to confirm")]
    out += _shell_lines(entry.confirm, st)
    out += ["", st.head("Fix")]
    out += _shell_lines(entry.fix, st)
    if entry.fix_snippet:
        out += ["", "  " + st.dim("config:")]
        out += ["    " + ln for ln in entry.fix_snippet.strip("\n").splitlines()]
    if entry.provenance:
        out += ["", st.head("Messages and where they come from")]
        for prov in entry.provenance:
            out.append("  " + st.code(prov.message))
            out += textwrap.wrap(f"source: {prov.source}", width=max(20, width), initial_indent="      ",
                                 subsequent_indent="        ", break_long_words=False)
            if prov.note:
                out += textwrap.wrap(f"note: {prov.note}", width=max(20, width), initial_indent="      ",
                                     subsequent_indent="        ", break_long_words=False)
    if entry.examples:
        out += ["", st.head("Example log lines")]
        out += ["  " + st.dim(ex) for ex in entry.examples]
    related = [rel for r in entry.related for rel in catalog.find(r) if rel is not entry]
    if related:
        out += ["", st.head("Related")]
        for rel in related:
            out.append(f"  {rel.id:<26} {KIND_LABELS[rel.kind]:<15} {rel.title}")
    out += ["", st.head("References")]
    out += ["  " + ref for ref in entry.references]
    return "\n".join(out) + "\n"


def render_lint_rule_text(rule: LintRule, width: int = 100, color: bool = False) -> str:
    """The ``why502 explain W502-001`` page: the lint rule's title, severity, what it means, why
    it causes 502/504, how to confirm, an example, the fix, references (the sections of its
    ``docs/lint`` page)."""
    st = Style(color)
    out = [st.title(rule.code) + st.dim(f"  (lint rule {rule.name}, {rule.severity})"), st.head(rule.title)]
    facts = [f"Severity: {rule.severity}"]
    if rule.cause:
        facts.append(f"Root cause: {rule.cause} (why502 explain {rule.cause})")
    if rule.needs:
        facts.append(f"Needs: {', '.join(rule.needs)}")
    out += ["    ".join(facts), ""]
    if rule.off_by_default:
        out += [*wrap_prose(f"Off by default ({rule.off_reason}): why502 lint --enable {rule.code} "
                            "runs it.", width), ""]
    out.append(st.head("What it means"))
    out += wrap_prose(rule.what, width)
    out += ["", st.head("Why it causes 502 or 504")]
    out += wrap_prose(rule.why, width)
    out += ["", st.head("How to confirm")]
    out += _shell_lines(list(rule.confirm), st)
    out += ["", st.head("Example")]
    out += ["    " + ln for ln in rule.example.rstrip().splitlines()]
    out += ["", st.head("Fix")]
    out += wrap_prose(rule.fix, width)
    out += ["", "  " + st.dim(f"{rule.fix_lang}:")]
    out += ["    " + ln for ln in rule.fix_example.rstrip().splitlines()]
    out += ["", st.head("Silence it")]
    out += wrap_prose(f"why502 lint --ignore {rule.code}, or a comment on the directive's line (or alone "
                      f"on the line above it): # why502: ignore {rule.code}", width)
    out += ["", st.head("References")]
    out += ["  " + ref for ref in rule.references]
    out += ["  " + st.dim(f"{DOCS_BASE_URL}{rule.code}.md")]
    return "\n".join(out) + "\n"


def render_status_text(page: StatusPage, catalog: Catalog | None = None, width: int = 100,
                       color: bool = False) -> str:
    """The ``why502 explain 502`` page: what produces the status per proxy, and what leads to it."""
    catalog = catalog or load_catalog()
    st = Style(color)
    out = [st.title(page.code) + st.dim(f"  (status code, {page.family})"), st.head(page.title), ""]
    out.append(st.head("What it means"))
    out += wrap_prose(page.explanation, width)
    out += ["", st.head("Who produces it")]
    for prod in page.produced_by:
        out += textwrap.wrap(prod.when, width=max(20, width), initial_indent=f"  {prod.proxy:<11} ",
                             subsequent_indent=" " * 14, break_long_words=False)
    symptoms, causes = status_leads(page, catalog)
    for label, entries in (("Symptoms that lead to it", symptoms), ("Root causes that lead to it", causes)):
        if entries:
            out += ["", st.head(label)]
            for entry in entries:
                out.append(f"  {entry.id:<26} {entry.title}")
    out += ["", st.head("How to confirm")]
    out += _shell_lines(page.confirm, st)
    if page.related_statuses:
        out += ["", st.head("Compare")]
        statuses = load_statuses()
        for code in page.related_statuses:
            other = statuses.get(code)
            if other:
                out.append(f"  why502 explain {code:<5} {other.title}")
    out += ["", st.head("References")]
    out += ["  " + ref for ref in page.references]
    return "\n".join(out) + "\n"


def render_listing(entries: list[Entry], width: int = 100) -> str:
    """``why502 causes``: one line per entry (ID, kind, statuses, title)."""
    rows = [(e.id, KIND_LABELS[e.kind], _status_list(e.status_codes), e.title) for e in entries]
    return text_table(("ID", "KIND", "STATUS", "TITLE"), rows, width)


def render_status_listing(pages: list[StatusPage], width: int = 100) -> str:
    rows = [(p.code, "status", p.family, p.title) for p in pages]
    return text_table(("CODE", "KIND", "FAMILY", "TITLE"), rows, width)


def text_table(header: tuple[str, str, str, str], rows: list[tuple[str, str, str, str]], width: int) -> str:
    cols = [max([len(header[i])] + [len(r[i]) for r in rows]) for i in range(3)]
    lines = []
    for row in [header, *rows]:
        lead = "  ".join(cell.ljust(cols[i]) for i, cell in enumerate(row[:3])) + "  "
        title = row[3]
        room = max(8, width - len(lead))  # the title is cut to the width, never past it
        if len(title) > room:
            title = title[: room - 1] + "…"
        lines.append((lead + title).rstrip())
    return "\n".join(lines) + "\n"
