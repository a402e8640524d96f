"""The live terminal view of ``why502 watch`` (rich): traffic, top symptoms, the open incident.

Log content is hostile: every text taken from a log goes through ``strip_terminal_escapes`` and
is shown with rich's markup off.
"""

from __future__ import annotations

import time

from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from why502.app.watch.engine import Watch
from why502.textutil import strip_terminal_escapes

__all__ = ["render", "run_live"]


def render(watch: Watch) -> Group:
    now = time.monotonic()
    t = watch.window.totals(now)
    secs = max(1.0, min(watch.options.rules.window, now - watch.started))
    head = Text(f"why502 watch  {t.requests / secs:.1f} req/s  {t.errors / secs:.2f} 5xx/s  "
                f"(last {secs:.0f}s)", style="bold")
    statuses = Text("  ".join(f"{code}: {n}" for code, n in sorted(t.statuses.items())
                              if code >= 500) or "no 5xx")
    table = Table("symptom", "upstream", "attempts", title="top failed upstream attempts",
                  title_justify="left")
    for (symptom, upstream), n in t.symptoms.most_common(8):
        table.add_row(Text(symptom), Text(strip_terminal_escapes(upstream) or "-"), str(n))
    inc = watch.incident
    if inc is None:
        state = Text("no open incident", style="green")
    else:
        state = Text(f"INCIDENT {inc.id}: {inc.cause} -- {strip_terminal_escapes(inc.title)}\n"
                     f"  {strip_terminal_escapes(inc.evidence)}\n  fix: "
                     f"{strip_terminal_escapes(inc.fix)}", style="bold red")
    return Group(head, statuses, table, state)


def run_live(watch: Watch) -> None:
    """The watch loop with a view refreshed about once a second."""
    o = watch.options
    with Live(render(watch), refresh_per_second=2, transient=False) as live:
        last = 0.0
        while not watch.stopping:
            busy = watch.step()
            if time.monotonic() - last >= 1:
                live.update(render(watch))
                last = time.monotonic()
            if o.duration is not None and time.monotonic() - watch.started >= o.duration:
                break
            if o.max_events is not None and watch.events >= o.max_events:
                break
            if not busy:
                time.sleep(o.poll_interval)
