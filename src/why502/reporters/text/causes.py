"""``why502 causes`` for a person: the catalog's rows (``findings.results.CauseRow``, the same
rows as ``--format json``) as aligned columns cut to the run's width, causes/symptoms/events
first, then the status-code pages.  Moved from ``cli/cmd_causes.py`` (issue 23, item 5)."""

from __future__ import annotations

from why502.catalog.explain import text_table
from why502.findings.results import CauseRow
from why502.reporters.options import RenderOptions
from why502.textutil import fit_width

HINT = "\nwhy502 explain ID prints a page; status-code pages: why502 causes --kind status\n"
"""Said under the listing when no ``--kind`` was asked for."""


def render_causes(rows: list[CauseRow], options: RenderOptions) -> str:
    """The entries' table, then the status pages' table (each only when it has rows)."""
    width = options.columns()
    entries = [(r.id, r.kind_label, ", ".join(r.status_codes) or "-", r.title)
               for r in rows if r.kind != "status"]
    pages = [(r.id, "status", r.family or "", r.title) for r in rows if r.kind == "status"]
    out = []
    if entries:
        out.append(text_table(("ID", "KIND", "STATUS", "TITLE"), entries, width))
    if pages:
        out.append(text_table(("CODE", "KIND", "FAMILY", "TITLE"), pages, width))
    return fit_width("\n".join(out), width)  # a terminal narrower than the columns too


def render_hint(options: RenderOptions) -> str:
    """``HINT`` fitted to the width."""
    return fit_width(HINT, options.columns())
