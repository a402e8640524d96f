"""``why502 classify`` for a person: the typed ``findings.results.ClassifySummary`` as tables.

Two shapes, as the result says: an error log's summary (symptoms and evidence events ranked,
per upstream / process, what the top symptoms mean, from the catalog), or a load balancer's
own failures (``log_type`` set: its words, statuses and spans).  The summary handed here is
the whole one (``app.classify``'s ``summary(None)``); ``top`` cuts the tables, so the catalog's
explanations still name the three first symptoms when ``--top`` is smaller.  Moved from
``cli/cmd_classify.py`` (issue 23, item 5); the text is the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Console

from why502.findings.results import ClassifySummary, ClassifySymptom


def by_count(counts: Mapping[Any, int]) -> list[tuple[Any, int]]:
    """Most first, ties by name: the same input prints the same tables whatever order the
    batches were aggregated in (polars groups come back in no fixed order)."""
    return sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0])))


def render_classify(summary: ClassifySummary, console: Console, top: int) -> None:
    """The summary's tables on ``console`` (see the module docstring)."""
    if summary.log_type is not None:
        _load_balancer(summary, console, top)
    else:
        _error_log(summary, console, top)


def _load_balancer(summary: ClassifySummary, console: Console, top: int) -> None:
    """A load balancer's / proxy's access log: the requests it failed itself, in its words."""
    from rich.table import Table
    from rich.text import Text

    from why502.textutil import strip_terminal_escapes

    console.print(Text(f"why502 classify ({summary.log_type}): {summary.failures:,} requests failed by "
                       "the load balancer / proxy itself"))
    if not summary.symptoms:
        return
    table = Table(title="Failures in its own words")
    for col in ("symptom", "word", "status", "lines", "first", "last"):
        table.add_column(col)
    for s in summary.symptoms[:top]:
        status = next(iter(s.statuses), "-")
        table.add_row(s.id, Text(strip_terminal_escapes(s.word or "-")), status, f"{s.lines:,}",
                      Text(strip_terminal_escapes(s.first or "-")),
                      Text(strip_terminal_escapes(s.last or "-")))
    console.print(table)


def _status(code: str) -> str:
    return "009" if code == "9" else code


def _error_log(summary: ClassifySummary, console: Console, top: int) -> None:
    """Rich tables: counts per symptom and per upstream, first/last seen, what the top mean."""
    from rich import box
    from rich.table import Table

    from why502.textutil import compact_time, plural, shorten, strip_terminal_escapes

    clean = strip_terminal_escapes
    files = ", ".join(clean(f) for f in summary.files) or "(no input)"
    if len(summary.files) > 3:
        files = f"{len(summary.files)} files ({clean(summary.files[0])} ... {clean(summary.files[-1])})"
    console.print(f"[bold]why502 classify[/bold]: {plural(summary.lines_read or 0, 'line')} read from "
                  f"{shorten(files, 200)}; {summary.recognised:,} recognised, "
                  f"{summary.failures:,} upstream failures", highlight=False)  # wrapped: cli.termwidth
    if summary.lines_read == 0:  # not "no failure": nothing was looked at (classify exits 3)
        console.print("Nothing to classify: no line was read -- an empty or just-rotated log (its lines "
                      "are in its .1), or an empty pipe (a grep before it that matched nothing).",
                      highlight=False)
        return
    if not summary.symptoms:
        console.print("No upstream failure found.")
        return
    symptoms = summary.symptoms[:top]
    sources = {", ".join(k for k, _ in by_count(st.sources)) for st in symptoms}
    one_source = next(iter(sources)) if len(sources) == 1 else None
    # one source for every row (the usual case): said in the title, one column less
    title = "Symptoms (and evidence events)" + (f" in {clean(one_source)}'s log" if one_source else "")
    table = Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
    # the id wraps (at its "(event)"), nothing else: a time is never split over lines (issue
    # 31), and is compact (``compact_time``); the columns' minimum widths are their contents'
    table.add_column("id", overflow="fold", min_width=12)
    table.add_column("lines", justify="right", no_wrap=True, min_width=5)
    table.add_column("status", no_wrap=True, min_width=6)
    if one_source is None:
        table.add_column("source", no_wrap=True, min_width=6)
    table.add_column("first seen", no_wrap=True, min_width=14)
    table.add_column("last seen", no_wrap=True, min_width=9)
    for st in symptoms:
        statuses = ", ".join(f"{_status(s)}×{n}" if len(st.statuses) > 1 else _status(s)
                             for s, n in by_count(st.statuses))
        label = f"{st.id} [dim](event)[/dim]" if st.kind == "event" else st.id
        first, last = compact_time(st.first), compact_time(st.last)
        if (st.first or "")[:10] == (st.last or "")[:10] and len(st.last or "") > 11:
            last = last.rsplit(" ", 1)[-1]  # same day: the time is enough
        source = [] if one_source else [", ".join(k for k, _ in by_count(st.sources))]
        table.add_row(label, f"{st.lines:,}", statuses or "-", *source, first, last)
    console.print(table)
    if summary.upstreams:
        ut = Table(title="Per upstream / process", title_justify="left", box=box.SIMPLE_HEAD)
        ut.add_column("upstream")
        ut.add_column("lines", justify="right")
        ut.add_column("symptoms")
        for us in summary.upstreams[:top]:
            ut.add_row(shorten(clean(us.upstream), 70), f"{us.lines:,}",
                       ", ".join(f"{k} {n:,}" for k, n in by_count(us.symptoms)[:4]))
        console.print(ut)
    _explain_top(console, summary.symptoms)


def _explain_top(console: Console, symptoms: list[ClassifySymptom]) -> None:
    """The catalog's explanation of the top symptoms; tolerate a missing or partial catalog."""
    from rich.markup import escape

    from why502.textutil import shorten

    try:
        from why502.catalog import load_catalog

        catalog: Any = load_catalog()
    except Exception:
        catalog = None
    top = [s.id for s in symptoms if s.kind != "event"][:3]
    if not top:
        return
    console.print("[bold]What the top symptoms mean[/bold]")
    for sym in top:
        entry = catalog.get(sym) if catalog is not None else None
        if entry is None:
            console.print(f"• [bold]{sym}[/bold]: no catalog entry yet "
                          f"(see docs/causes/ or `why502 explain {sym}`)", highlight=False)
            continue
        console.print(f"• [bold]{sym}[/bold] — {escape(entry.title)}", highlight=False)
        console.print("  " + escape(shorten(" ".join(entry.explanation.split()), 400)), highlight=False)
        console.print(f"  more: why502 explain {sym}", style="dim", highlight=False)
