"""``why502 watch`` when its standard output is not a terminal: one line per incident event
(``findings.results.WatchEvent``), log-controlled text made inert.  Moved from
``cli/cmd_watch.py`` (issue 23, item 5).  The live screen on a terminal is ``app.watch.view``:
a rich ``Live`` refreshed from the running engine, not the rendering of a result."""

from __future__ import annotations

from why502.findings.results import WatchEvent
from why502.textutil import strip_terminal_escapes


def one_line(event: WatchEvent) -> str:
    """``2026-11-23T09:00:00 incident-opened 20261123T090000-1 backend-not-running ...``"""
    inc = event.incident
    parts = [event.time, event.event, inc["id"], inc["cause"]]
    if inc.get("upstream"):
        parts.append(f"upstream={inc['upstream']}")
    parts.append(f"5xx={inc['errors_5xx']}/{inc['requests']}")
    text = " ".join(str(p) for p in parts)
    if inc.get("title"):
        text += f" -- {inc['title']}"
    if event.event != "incident-resolved" and inc.get("fix"):
        text += f"; fix: {inc['fix']}"
    if inc.get("report"):
        text += f"; report: {inc['report']}"
    return strip_terminal_escapes(text)
