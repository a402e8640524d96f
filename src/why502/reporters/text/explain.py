"""``why502 explain ARG`` for a person: the catalog page(s) of an ID, a status code, a load
balancer's word or a pasted log line (what the line is, then its symptom's page), and a lint
rule's page.

The result is ``findings.explain.Explanation`` (its members catalog types: ``Entry``,
``StatusPage``, ``Term``).  Everything that came from the input is made inert.
Moved from ``app/explain.py`` (``render_text``, ``render_term_text``) and ``cli/cmd_explain.py``
(issue 23, item 5); the text is the same.
"""

from __future__ import annotations

from why502 import PROJECT_URL
from why502.catalog import Entry, format_status, load_catalog
from why502.catalog import explain as cat
from why502.catalog.lint_rules import LintRule
from why502.catalog.terms import Term
from why502.findings.explain import Explanation, LineInfo
from why502.reporters.options import RenderOptions
from why502.textutil import fit_width, shorten, strip_terminal_escapes


def render_page(page: Explanation, options: RenderOptions) -> str:
    """The page at the run's width (two columns of margin, as ``explain`` always had)."""
    width = options.columns() - 2
    return fit_width(render_text(page, width=width, color=options.color), width + 2)


def render_lint_rule(rule: LintRule, options: RenderOptions) -> str:
    """A lint rule's page (``catalog.explain.render_lint_rule_text``) at the run's width."""
    width = options.columns() - 2
    return fit_width(cat.render_lint_rule_text(rule, width=width, color=options.color), width + 2)


def render_term_text(t: Term, width: int = 100) -> str:
    """The page of one proxy word: what it means, who made the status, where it sits in the model."""
    makers = {"lb": "the load balancer / proxy itself", "backend": "the backend (relayed)"}
    who = makers.get(t.made_by, t.made_by)
    lines = [f"{t.code}  ({t.family} {t.kind})", t.title, "", "What it means"]
    lines += cat.wrap_prose(t.meaning, width)
    lines += ["", f"  status:       {', '.join(str(s) for s in t.status) or '-'}, made by {who}",
              f"  Proxy-Status: {t.proxy_status or '-'} (RFC 9209 error type)",
              f"  symptom:      {t.symptom or '-'}",
              f"  root cause:   {t.cause or '-'}" + (f"  (why502 explain {t.cause})" if t.cause else ""),
              "", "Fix"]
    lines += cat.wrap_prose(t.fix, width)
    lines += ["", "Reference", f"  {t.url}"]
    if t.provenance:
        lines.append(f"  source: {t.provenance}")
    return "\n".join(lines) + "\n"


def render_text(result: Explanation, width: int = 100, color: bool = False) -> str:
    """The terminal page for ``result``; everything that came from the input is made inert."""
    catalog = load_catalog()
    parts: list[str] = []
    if result.line is not None:
        parts.append(_line_summary(result.line, result.entries, width))
    if result.status is not None:
        parts.append(cat.render_status_text(result.status, catalog, width=width, color=color))
    for t in result.terms:
        parts.append(render_term_text(t, width))
    for entry in result.entries:
        parts.append(cat.render_entry_text(entry, catalog, width=width, color=color))
    return ("\n" + "-" * min(width, 100) + "\n\n").join(parts)


def _line_summary(line: LineInfo, entries: list[Entry], width: int) -> str:
    f = {k: strip_terminal_escapes(str(v)) for k, v in line.fields.items() if v not in (None, "")}
    status = line.fields.get("status")
    lines = ["This log line is: " + (entries[0].title if entries else f.get("symptom", "?"))]
    if "made_by" in f:
        who = "the load balancer / proxy itself" if f["made_by"] == "lb" else f["made_by"]
        lines.append(f"  made by:  {who}    word: {f.get('code', '-')}    "
                     f"Proxy-Status: {f.get('proxy_status', '-')}")
    lines.append(f"  symptom:  {f.get('symptom', '?')}    source: {f.get('source', '?')}"
                 + (f"    level: {f['level']}" if "level" in f else ""))
    if isinstance(status, int):
        lines.append(f"  status:   the client got {format_status(status)} from this failure")
    elif entries and entries[0].kind == "event":
        lines.append("  status:   none: evidence from outside the proxy that explains proxy errors")
    elif "while reading upstream" in str(line.fields.get("message", "")):
        lines.append("  status:   none from this line: headers were already sent, so the access log keeps")
        lines.append("            the backend's status (usually 2xx) and the client got a truncated body")
    else:
        lines.append("  status:   not determined by this line alone")
    for key in ("time", "upstream", "request", "server", "host", "client"):
        if key in f:
            lines.append(f"  {key + ':':<9} {shorten(f[key], max(20, width - 12))}")
    if line.unseen:
        lines.append(f"  not seen: no {' or '.join(line.unseen)} in this line (a fragment or a short format);"
                     " the symptom stands, the rest is in the full log")
    if line.repaired:
        lines.append(f"  repaired: {'; '.join(line.repaired)}")
    if line.page:
        lines.append(f"  proxy:    {PROJECT_URL}/blob/main/{line.page}")
    return "\n".join(lines) + "\n"
