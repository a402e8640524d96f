"""The saved report of a closed incident: the diagnosis re-run over the whole incident when it
closes (the engine), plus what watch itself counted over it.

Issue 31: the saved report was the diagnosis made when the incident opened -- "502 x 4 over 2 s"
for an incident in which clients got 209 502s over 1 min 47 s.  The engine now diagnoses once
more at the close, over the whole span (``--since`` the window before the opening).

That closing diagnosis reads the logs only (``offline``): the live state at the close is the
*fixed* one -- a probe that now connects, the new backend process on the port -- and says
nothing about the incident.  Measured (bench/alert_timeline.py): a live closing diagnosis of a
stopped backend, started again, named ``backend-oom-killed``: the new backend's process name
matched another process's OOM kill in the host's kernel log within the longer span.  So the
incident's cause stays the one its live diagnoses named while it happened (the alert's labels do
not change at the close), and ``closing_report`` puts that cause's finding first, with its
evidence counted over the whole span.

This module adds watch's own counts of that span (``incidents.IncidentTraffic``: every access-log line
followed, so the totals are the clients' own): ``inputs["incident"]`` (id, opened, resolved,
first and last 5xx, peak minute, totals by status, per minute) and the incident's moments on the
report's timeline (``events``).  The timeline chart and the evidence are the re-diagnosis' own.
"""

from __future__ import annotations

from dataclasses import replace

from why502.app.watch.incidents import Incident
from why502.findings.model import Report, TimelineEvent

__all__ = ["closing_report", "incident_report", "incident_summary"]


def closing_report(closing: Report, live: Report | None, cause: str) -> Report:
    """The closing diagnosis with the findings of ``cause`` (the incident's, diagnosed live)
    first.  A cause only live evidence showed (a kernel OOM kill, a unit's state) may be
    missing from the logs-only closing diagnosis: then the live report's finding for it leads,
    as the live diagnosis made it."""
    first = [f for f in closing.findings if f.cause == cause]
    if not first and live is not None:
        first = [f for f in live.findings if f.cause == cause][:1]
    rest = [f for f in closing.findings if f.cause != cause]
    return replace(closing, findings=[*first, *rest])


def incident_summary(inc: Incident) -> str:
    """One line: what the clients saw over the incident (the HTML report's facts, the CLI)."""
    t = inc.traffic
    five = {s: n for s, n in sorted(t.statuses.items()) if s >= 500}
    shown = ", ".join(f"{s} x {n}" for s, n in five.items()) or "no 5xx in the access logs"
    peak = t.peak()
    span = f" from {t.first_error} to {t.last_error}" if t.first_error else ""
    return (f"{t.requests} requests, {t.errors} answered 5xx ({shown}){span}"
            + (f"; peak {peak[0]} with {peak[1]} 5xx" if peak else "")
            + (f"; {t.failures} failed upstream attempts" if t.failures else ""))


def incident_report(report: Report, inc: Incident) -> Report:
    """``report`` (the closing diagnosis) with the incident's span and totals added."""
    t = inc.traffic
    moments = [(inc.opened, "incident-opened", "why502 watch opened the incident"),
               (t.first_error, "first-5xx", "first 5xx of the incident"),
               (t.last_error, "last-5xx", "last 5xx of the incident"),
               (inc.resolved, "incident-resolved", "why502 watch closed the incident")]
    events = [TimelineEvent(time=when, kind=kind, label=label, source="why502 watch")
              for when, kind, label in moments if when]
    facts = {"id": inc.id, "opened": inc.opened, "resolved": inc.resolved,
             "trigger": list(inc.trigger), "clients_saw": incident_summary(inc), **t.to_dict()}
    return replace(report, inputs={**report.inputs, "incident": facts},
                   events=sorted([*report.events, *events], key=lambda e: e.time))
