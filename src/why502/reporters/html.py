"""The incident report as one self-contained HTML page (``--format html``).

Why one file with everything inline: the page is attached to tickets, mailed, opened from
``file://`` on a laptop with no network.  So the charting library (uPlot, MIT, see
``assets/README.md``) and all styles are inlined, and a strict Content-Security-Policy meta tag
(``default-src 'none'``, scripts allowed only by their SHA-256) makes the browser refuse any
request the page might try to make and any script that is not ours.

Why it is built the way it is:

* Answer first: the root cause, its confidence and the fix (diff coloured line by line) come
  before anything else; then the incident timeline (5xx per minute by status with markers for
  the evidence events), the evidence with file:line, the per-upstream panels, and what could not
  be read (diagnostics).
* Log content is hostile (clients write request lines).  Every string is escaped with
  ``html.escape`` after terminal escapes and bidi overrides are stripped; the data the chart
  needs goes into a ``<script type="application/json">`` block with ``<``, ``>``, ``&`` and
  U+2028/U+2029 written as ``\\uXXXX`` so no byte sequence can close the block, and the page's
  own JavaScript reads it with ``JSON.parse`` and writes text only through ``textContent`` /
  ``setAttribute`` -- never ``innerHTML``.
* The timeline's minutes (``TimelinePoint.minute``) carry no zone; events are placed by their
  wall-clock time (the zone suffix, if any, is ignored) so both stay on the clock the logs used.
"""

from __future__ import annotations

import base64
import hashlib
import html
import re
from datetime import datetime, timedelta, timezone
from importlib import resources
from typing import Any

from why502 import proxies
from why502.findings.model import EvidenceItem, Finding, Fix, Report, UpstreamSummary
from why502.findings.redact import notice
from why502.reporters.options import RenderOptions
from why502.textutil import dump_json, strip_terminal_escapes

__all__ = ["chart_data", "content_security_policy", "render_html", "safe_text", "script_json"]

# Colours per status (also used by the JS legend); anything else falls back to grey.
STATUS_COLOURS: dict[str, str] = {
    "502": "#d62728",
    "504": "#ff7f0e",
    "503": "#9467bd",
    "500": "#8c564b",
    "009": "#17becf",
}
_FALLBACK_COLOURS = ["#7f7f7f", "#bcbd22", "#1f77b4", "#e377c2", "#2ca02c"]

# Marker colour per evidence-event family (docs/causes/README.md "Evidence events"); symptoms are grey.
EVENT_COLOURS: dict[str, str] = {
    "oom-kill": "#b00020",
    "worker-crashed": "#b00020",
    "unit-restart": "#1f5fbf",
    "unit-failed": "#1f5fbf",
    "listen-failed": "#1f5fbf",
    "fpm-max-children": "#d9730d",
    "worker-timeout": "#d9730d",
    "slow-request": "#d9730d",
    "listen-queue-full": "#d9730d",
    "config-reload": "#2e7d32",
    "reload": "#2e7d32",
    "selinux-avc": "#6a1b9a",
    "upstream-marked-down": "#6a1b9a",
}
_SYMPTOM_COLOUR = "#555555"


def content_security_policy(*scripts: str) -> str:
    """The page's CSP: nothing may load; only *our* inline scripts may run.

    ``script-src`` lists the SHA-256 of each inline script we emit (CSP Level 2 hash sources)
    instead of ``'unsafe-inline'``: if some string ever escaped escaping, an injected
    ``<script>`` or ``onerror=`` would still be refused by the browser.  Styles stay
    ``'unsafe-inline'`` (style attributes; CSS cannot run script).
    """
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode("utf-8")).digest()).decode("ascii") + "'"
        for s in scripts
    )
    return (
        f"default-src 'none'; script-src {hashes}; style-src 'unsafe-inline'; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )


# Bidi overrides/isolates can make a log line read differently from what it is ("trojan
# source"); they are removed with the terminal escapes.
_BIDI = re.compile("[\u202a-\u202e\u2066-\u2069\u200e\u200f]")
_WALL_CLOCK = re.compile(r"^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d)(?::(\d\d))?")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Events this close to the charted window widen it; farther ones are listed but not drawn.
_EVENT_MARGIN = timedelta(minutes=15)
# A gap-filled timeline longer than this (one week of minutes) is drawn as given.
_MAX_FILL_MINUTES = 7 * 24 * 60
# The per-minute table lists every minute up to this many, else only the minutes with 5xx.
_MAX_TABLE_MINUTES = 120
# Raw log lines longer than this are cut in the page (the JSON report keeps them whole).
MAX_RAW_CHARS = 4000


def safe_text(value: object) -> str:
    """Make an input-derived string inert for display: no terminal escapes, no bidi overrides.

    HTML escaping is done separately (``_e``); Markdown has its own rules.
    """
    return _BIDI.sub("", strip_terminal_escapes(str(value)))


def _cut(text: str) -> str:
    """Cut a huge raw line for display, saying how much was left out."""
    if len(text) <= MAX_RAW_CHARS:
        return text
    return f"{text[:MAX_RAW_CHARS]}… ({len(text) - MAX_RAW_CHARS:,} more characters)"


def _e(value: object) -> str:
    """Escape for HTML text and double-quoted attribute values."""
    return html.escape(safe_text(value), quote=True)


def script_json(data: object) -> str:
    """JSON that is safe inside ``<script type="application/json">``.

    ``<``, ``>`` and ``&`` become ``\\u003c`` etc. so ``</script>`` or ``<!--`` in a log line
    cannot end or alter the block; U+2028/U+2029 are escaped for old JS parsers.  Terminal
    escapes are already gone because every string passes ``safe_text`` first.
    """
    text = dump_json(data, indent=None, separators=(",", ":"))  # strict: JSON.parse refuses NaN
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


# the years a time may have to be charted: the chart reaches a day either side of its minutes
_MIN_YEAR, _MAX_YEAR = 2, 9998


def wall_clock(value: str | None) -> datetime | None:
    """Parse the wall-clock part of an ISO 8601 time (zone suffix ignored), or None."""
    if not value:
        return None
    match = _WALL_CLOCK.match(value.strip())
    if not match:
        return None
    year, month, day, hour, minute, second = (int(g) if g else 0 for g in match.groups())
    if not _MIN_YEAR <= year <= _MAX_YEAR:
        # a year-1 or year-9999 minute (a hostile or damaged report): the chart's margins around
        # it would overflow ``datetime`` (OverflowError, exit 4); it is left off like a bad one
        return None
    try:
        return datetime(year, month, day, hour, minute, second, tzinfo=timezone.utc)
    except ValueError:
        return None


def _epoch(moment: datetime) -> int:
    return int((moment - _EPOCH).total_seconds())


def confidence_label(confidence: float) -> str:
    """``0.92`` -> ``"92 % (high)"``; the thresholds are the ones the terminal report uses."""
    value = max(0.0, min(1.0, float(confidence)))
    word = "high" if value >= 0.8 else "medium" if value >= 0.5 else "low"
    return f"{round(value * 100)} % ({word})"


def status_colour(status: str, index: int) -> str:
    """Stable colour for a status code; unknown codes cycle through a fallback palette."""
    return STATUS_COLOURS.get(status, _FALLBACK_COLOURS[index % len(_FALLBACK_COLOURS)])


def _asset(name: str) -> str:
    text = resources.files("why502.reporters").joinpath("assets", name).read_text(encoding="utf-8")
    lowered = text.lower()
    if "</script" in lowered or "</style" in lowered or "<!--" in lowered:
        # Inlined verbatim: such a sequence would end the element early.
        raise ValueError(f"asset {name} cannot be inlined safely")
    return text


# --------------------------------------------------------------------------- chart data


def chart_data(report: Report) -> dict[str, Any]:
    """What the page's JavaScript needs: x (epoch seconds of wall-clock minutes), one series per
    status, totals, and the events that fall inside (or near) the charted window."""
    points: dict[datetime, dict[str, int]] = {}
    totals: dict[datetime, int] = {}
    statuses: list[str] = []
    for point in report.timeline:
        minute = wall_clock(point.minute)
        if minute is None:
            continue
        counts = points.setdefault(minute, {})
        for status, count in point.counts.items():
            key = safe_text(status)
            if key not in statuses:
                statuses.append(key)
            counts[key] = counts.get(key, 0) + int(count)
        totals[minute] = totals.get(minute, 0) + int(point.total or 0)
    statuses.sort()
    minutes = sorted(points)
    if minutes:
        span = int((minutes[-1] - minutes[0]).total_seconds() // 60)
        if span <= _MAX_FILL_MINUTES:
            # A minute with no line is a minute with no 5xx seen: fill it so the chart is honest.
            minutes = [minutes[0] + timedelta(minutes=i) for i in range(span + 1)]
    events: list[dict[str, Any]] = []
    lo = minutes[0] - _EVENT_MARGIN if minutes else None
    hi = minutes[-1] + timedelta(minutes=1) + _EVENT_MARGIN if minutes else None
    for number, event in enumerate(report.events, start=1):
        moment = wall_clock(event.time)
        inside = moment is not None and lo is not None and hi is not None and lo <= moment <= hi
        events.append(
            {
                "n": number,
                "t": _epoch(moment) if moment is not None and inside else None,
                "kind": safe_text(event.kind),
                "label": safe_text(event.label),
                "time": safe_text(event.time),
                "colour": EVENT_COLOURS.get(event.kind, _SYMPTOM_COLOUR),
            }
        )
    return {
        "x": [_epoch(m) for m in minutes],
        "series": [
            {
                "status": status,
                "colour": status_colour(status, i),
                "values": [points.get(m, {}).get(status, 0) for m in minutes],
            }
            for i, status in enumerate(statuses)
        ],
        "totals": [totals.get(m, 0) for m in minutes],
        # ``total`` is all requests of the minute when diagnose read an access log, else just the
        # 5xx sum; only in the first case is it a series of its own (traffic context).
        "requests": any(totals.get(m, 0) > sum(points.get(m, {}).values()) for m in minutes),
        "events": events,
    }


# --------------------------------------------------------------------------- HTML pieces


def _diff_html(diff: str) -> str:
    rows = []
    for line in safe_text(diff).splitlines():
        if line.startswith(("+++", "---")):
            cls = "d-meta"
        elif line.startswith("@@"):
            cls = "d-hunk"
        elif line.startswith("+"):
            cls = "d-add"
        elif line.startswith("-"):
            cls = "d-del"
        else:
            cls = "d-ctx"
        rows.append(f'<span class="{cls}">{html.escape(line, quote=True) or " "}</span>')
    # Each line is a block span, so no newline between them (it would render as an empty row).
    return '<pre class="diff" aria-label="unified diff">' + "".join(rows) + "</pre>"


def _fix_html(fix: Fix | None, heading: str = "h2") -> str:
    if fix is None:
        return (
            f'<section class="fix"><{heading}>Fix</{heading}>'
            '<p class="muted">No fix is known for this cause.</p></section>'
        )
    parts = [
        f'<section class="fix"><{heading}>Fix</{heading}>',
        f'<p class="fix-summary">{_e(fix.summary)}</p>',
    ]
    if fix.diff:
        where = f' <span class="muted">in <code>{_e(fix.file)}</code></span>' if fix.file else ""
        parts.append(f"<h3>Config change{where}</h3>")
        parts.append(_diff_html(fix.diff))
    elif fix.file:
        parts.append(f"<p>File: <code>{_e(fix.file)}</code></p>")
    if fix.commands:
        parts.append("<h3>Commands</h3>")
        parts.append('<pre class="commands">' + "\n".join(_e(c) for c in fix.commands) + "</pre>")
    if fix.notes:
        parts.append('<ul class="notes">' + "".join(f"<li>{_e(n)}</li>" for n in fix.notes) + "</ul>")
    parts.append("</section>")
    return "".join(parts)


def _where(item: EvidenceItem) -> str:
    if not item.source:
        return ""
    return f"{item.source}:{item.line}" if item.line is not None else item.source


def _evidence_html(items: list[EvidenceItem]) -> str:
    if not items:
        return '<p class="muted">No evidence items recorded.</p>'
    rows = []
    for item in items:
        what = f"<div>{_e(item.summary)}</div>"
        if item.text:
            what += f'<pre class="raw">{_e(_cut(item.text))}</pre>'
        extra = []
        if item.symptom:
            extra.append(f'<span class="tag">{_e(item.symptom)}</span>')
        if item.count is not None:
            extra.append(f'<span class="count">×{_e(item.count)}</span>')
        rows.append(
            "<tr>"
            f'<td><span class="kind">{_e(item.kind)}</span></td>'
            f"<td><code>{_e(_where(item))}</code></td>"
            f'<td class="nowrap">{_e(item.time or "")}</td>'
            f"<td>{what}{' '.join(extra)}</td>"
            "</tr>"
        )
    return (
        '<table class="evidence"><thead><tr><th>kind</th><th>where</th><th>time</th>'
        "<th>what</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>"
    )


def _facts_html(finding: Finding) -> str:
    facts: list[tuple[str, str]] = [
        ("cause", f"<code>{_e(finding.cause)}</code>"),
        ("confidence", _e(confidence_label(finding.confidence))),
    ]
    if finding.status_codes:
        facts.append(("status", ", ".join(_e(s) for s in finding.status_codes)))
    if finding.count:
        facts.append(("failed requests", _e(f"{finding.count:,}")))
    if finding.symptoms:
        facts.append(("symptoms", " ".join(f'<span class="tag">{_e(s)}</span>' for s in finding.symptoms)))
    if finding.proxy:
        facts.append(("proxy", _e(proxies.long_title(finding.proxy))))
    if finding.upstream:
        facts.append(("upstream", f"<code>{_e(finding.upstream)}</code>"))
    if finding.target and finding.target != finding.upstream:
        facts.append(("target", f"<code>{_e(finding.target)}</code>"))
    if finding.first_seen or finding.last_seen:
        facts.append(("seen", f"{_e(finding.first_seen or '?')} → {_e(finding.last_seen or '?')}"))
    return '<dl class="facts">' + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in facts) + "</dl>"


def _paragraphs(text: str) -> str:
    chunks = [c.strip() for c in safe_text(text).split("\n\n") if c.strip()]
    return "".join(f"<p>{html.escape(c, quote=True)}</p>" for c in chunks)


def _verdict_html(report: Report) -> str:
    if report.no_evidence:  # nothing judged: no verdict (diagnose exits 3), never "healthy"
        from why502.reporters.text.report import nothing_judged, to_decide

        return (
            '<section class="verdict" id="verdict"><h1>No evidence</h1>'
            f"<p>Nothing to judge: {_e(nothing_judged(report, files=True))}.</p>"
            f"<p>To decide: {_e(to_decide(report))}.</p></section>"
        )
    if report.config_only:  # a config read alone: no verdict on the 5xx
        return (
            '<section class="verdict" id="verdict"><h1>No config pitfall found</h1>'
            "<p>No log line to judge and nothing probed: the config holds no known pitfall, and "
            "nothing was read that would show the proxy failing now.</p></section>"
        )
    if not report.findings:
        diag = (
            f" {len(report.diagnostics)} input(s) could not be fully read — see below."
            if report.diagnostics
            else ""
        )
        return (
            '<section class="verdict healthy" id="verdict"><h1>No root cause found</h1>'
            f"<p>why502 saw nothing wrong in what it could read.{_e(diag)}</p></section>"
        )
    top = report.findings[0]
    conf = max(0.0, min(1.0, float(top.confidence)))
    return (
        '<section class="verdict" id="verdict">'
        '<p class="eyebrow">Root cause</p>'
        f"<h1>{_e(top.title)}</h1>"
        f'<div class="confbar" title="confidence"><span style="width:{round(conf * 100)}%"></span></div>'
        + _facts_html(top)
        + f'<div class="explanation">{_paragraphs(top.explanation)}</div>'
        + _fix_html(top.fix)
        + "</section>"
    )


def _timeline_html(report: Report, data: dict[str, Any]) -> str:
    if not data["x"]:
        chart = (
            '<p class="muted" id="chart-empty">'
            "No per-minute data: no access or error log with times was read.</p>"
        )
        table = ""
    else:
        statuses = [s["status"] for s in data["series"]]
        head = "".join(f"<th>{_e(s)}</th>" for s in statuses)
        total_head = "all requests" if data["requests"] else "5xx"
        rows = []
        shown: list[int] = list(range(len(data["x"])))
        note = ""
        if len(data["x"]) > _MAX_TABLE_MINUTES:
            # A long window: list the minutes that had 5xx, not hours of zeros.
            shown = [i for i in shown if any(s["values"][i] for s in data["series"])]
            note = f'<p class="muted">{len(data["x"]) - len(shown)} minutes without 5xx not listed.</p>'
        for i in shown:
            x = data["x"][i]
            minute = datetime.fromtimestamp(x, tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
            cells = "".join(f"<td>{s['values'][i]}</td>" for s in data["series"])
            rows.append(f"<tr><td>{minute}</td>{cells}<td>{data['totals'][i]}</td></tr>")
        table = (
            '<details><summary>Per-minute counts (table)</summary><table class="minutes">'
            f"<thead><tr><th>minute</th>{head}<th>{total_head}</th></tr></thead><tbody>"
            + "".join(rows)
            + "</tbody></table>"
            + note
            + "</details>"
        )
        chart = (
            '<div id="chart" role="img" aria-label="5xx per minute by status"></div>'
            '<p id="chart-summary" class="muted">'
            "(The chart needs JavaScript; the table below has the same numbers.)</p>"
        )
    events = ""
    if report.events:
        items = []
        for event, meta in zip(report.events, data["events"]):
            where = f' <span class="muted">{_e(event.source)}</span>' if event.source else ""
            raw = f'<pre class="raw">{_e(_cut(event.text))}</pre>' if event.text else ""
            off = (
                ""
                if meta["t"] is not None or not data["x"]
                else ' <span class="muted">(outside the chart)</span>'
            )
            items.append(
                f'<li><span class="evnum" style="background:{meta["colour"]}">{meta["n"]}</span> '
                f'<span class="nowrap">{_e(event.time)}</span> <span class="tag">{_e(event.kind)}</span> '
                f"{_e(event.label)}{where}{off}{raw}</li>"
            )
        events = '<h3>Events</h3><ol class="events" id="events">' + "".join(items) + "</ol>"
    return (
        '<section id="timeline"><h2>Incident timeline</h2>'
        '<p class="muted">Proxy 5xx per minute by status (left axis); '
        + ("all requests per minute dashed (right axis); " if data["requests"] else "")
        + "numbered markers are the evidence events listed below.</p>"
        + chart
        + table
        + events
        + "</section>"
    )


def _other_findings_html(findings: list[Finding]) -> str:
    if not findings:
        return ""
    parts = ['<section id="other-findings"><h2>Other possible causes</h2>']
    for finding in findings:
        parts.append(
            '<details class="finding"><summary>'
            f"<strong>{_e(finding.title)}</strong> "
            f'<span class="muted">{_e(finding.cause)} · {_e(confidence_label(finding.confidence))}</span>'
            "</summary>"
            + _facts_html(finding)
            + f'<div class="explanation">{_paragraphs(finding.explanation)}</div>'
            + _fix_html(finding.fix, heading="h3")
            + "<h3>Evidence</h3>"
            + _evidence_html(finding.evidence)
            + "</details>"
        )
    parts.append("</section>")
    return "".join(parts)


def _counts_table(counts: dict[str, int], label: str) -> str:
    if not counts:
        return ""
    rows = "".join(
        f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>"
        for k, v in sorted(counts.items(), key=lambda kv: (-int(kv[1]), str(kv[0])))
    )
    head = f"<thead><tr><th>{label}</th><th>count</th></tr></thead>"
    return f'<table class="small">{head}<tbody>{rows}</tbody></table>'


def _probe_html(probe: dict[str, Any]) -> str:
    ok = probe.get("ok")
    badge = '<span class="ok">ok</span>' if ok else '<span class="bad">failed</span>' if ok is False else ""
    fields = "".join(
        f"<dt>{_e(k)}</dt><dd>{_e(v if isinstance(v, str) else dump_json(v, indent=None))}</dd>"
        for k, v in probe.items()
        if k != "ok" and v not in (None, "", [], {})
    )
    return f'<div class="probe">{badge}<dl class="facts">{fields}</dl></div>'


def _upstream_html(upstreams: list[UpstreamSummary]) -> str:
    if not upstreams:
        return ""
    panels = []
    for up in upstreams:
        targets = "".join(f"<li><code>{_e(t)}</code></li>" for t in up.targets)
        config = f'<p class="muted">config: <code>{_e(up.config)}</code></p>' if up.config else ""
        probes = "".join(_probe_html(p) for p in up.probes if isinstance(p, dict))
        panels.append(
            '<div class="panel upstream">'
            f"<h3>{_e(up.name)}</h3>{config}"
            + (f"<ul>{targets}</ul>" if targets else "")
            + '<div class="cols">'
            + _counts_table(up.statuses, "status")
            + _counts_table(up.symptoms, "symptom")
            + "</div>"
            + (f"<h4>Probes</h4>{probes}" if probes else "")
            + "</div>"
        )
    return (
        '<section id="upstreams"><h2>Upstreams</h2><div class="panels">'
        + "".join(panels)
        + "</div></section>"
    )


def _diagnostics_html(report: Report) -> str:
    if not report.diagnostics:
        body = '<p class="muted">Every input was read.</p>'
    else:
        body = (
            '<ul class="diagnostics">'
            + "".join(
                f'<li class="sev-{_e(d.severity)}"><span class="tag">{_e(d.severity)}</span> {_e(d.message)}'
                + (f" <code>{_e(d.source)}</code>" if d.source else "")
                + "</li>"
                for d in report.diagnostics
            )
            + "</ul>"
        )
    return f'<section id="diagnostics"><h2>What could not be read</h2>{body}</section>'


def _inputs_html(report: Report) -> str:
    if not report.inputs:
        return ""
    rows = []
    for key, value in report.inputs.items():
        if isinstance(value, list):
            shown = (
                "".join(f"<div><code>{_e(v)}</code></div>" for v in value)
                or '<span class="muted">none</span>'
            )
        elif isinstance(value, str):
            shown = f"<code>{_e(value)}</code>"
        else:
            shown = f"<code>{_e(dump_json(value, indent=None, sort_keys=True))}</code>"
        rows.append(f"<dt>{_e(key)}</dt><dd>{shown}</dd>")
    return f'<section id="inputs"><h2>Inputs</h2><dl class="facts">{"".join(rows)}</dl></section>'


def render_html(report: Report) -> str:
    """Render ``report`` as one self-contained, offline HTML page (see the module docstring)."""
    data = chart_data(report)
    uplot_js = _asset("uPlot.iife.min.js")
    uplot_css = _asset("uPlot.min.css")
    report_css = _asset("why502-report.css")
    report_js = _asset("why502-report.js")
    csp = content_security_policy(uplot_js, report_js)
    title = (f"why502: {report.findings[0].title}" if report.findings
             else "why502: no evidence" if report.no_evidence
             else "why502: no config pitfall found" if report.config_only else "why502: no root cause found")
    if report.host:
        title += f" on {report.host}"
    meta = " · ".join(
        _e(part)
        for part in (
            f"host {report.host}" if report.host else "",
            f"generated {report.generated_at}" if report.generated_at else "",
            f"why502 {report.tool_version}" if report.tool_version else "",
            f"schema {report.schema_version}",
        )
        if part
    )
    top_evidence = ""
    if report.findings:
        top_evidence = (
            '<section id="evidence"><h2>Evidence</h2>'
            + _evidence_html(report.findings[0].evidence)
            + "</section>"
        )
    body = (
        f'<header class="top"><strong>why502 incident report</strong><span>{meta}</span></header>'
        + _verdict_html(report)
        + _timeline_html(report, data)
        + top_evidence
        + _other_findings_html(report.findings[1:])
        + _upstream_html(report.upstreams)
        + _diagnostics_html(report)
        + (f'<p id="redacted" class="note">{_e(notice(report.redacted))}</p>' if report.redacted else "")
        + _inputs_html(report)
        + "<footer>Made by why502. Charts: uPlot (MIT licence, © Leon Sorokin), embedded.</footer>"
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="referrer" content="no-referrer">\n'
        f"<title>{_e(title)}</title>\n"
        f"<style>{uplot_css}</style>\n<style>{report_css}</style>\n"
        "</head><body><main>\n"
        + body
        + "\n</main>\n"
        + f'<script type="application/json" id="why502-data">{script_json(data)}</script>\n'
        + f"<script>{uplot_js}</script>\n"
        + f"<script>{report_js}</script>\n"
        + "</body></html>\n"
    )


def render(result: Report, options: RenderOptions) -> str:
    """``--format html``: a diagnose ``Report`` (the one result this format renders)."""
    if not isinstance(result, Report):
        raise TypeError(f"no html reporter for {type(result).__name__}")
    return render_html(result)
