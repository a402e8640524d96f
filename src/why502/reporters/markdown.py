"""The incident report as Markdown (``--format markdown``), for tickets and chat.

Answer first: root cause, confidence, the fix (fenced ``diff`` block), then the evidence, the
incident timeline (minutes with 5xx and the evidence events), other possible causes, the
upstreams and what could not be read.

Log content is hostile, and Markdown renders HTML and links, so every string that came from an
input is neutralised before it is written:

* prose (titles, summaries, messages) has Markdown punctuation backslash-escaped and ``<``,
  ``>``, ``&`` written as entities, so it can neither open a tag nor a link nor a table cell;
* raw log lines and paths go into code spans whose backtick fence is longer than any backtick
  run inside (CommonMark "Code spans"), where nothing is interpreted; inside tables the pipe is
  still escaped as ``\\|`` because GFM splits cells before inline parsing (GFM spec, "Tables");
* diffs and commands go into fenced blocks whose fence is longer than any backtick run inside;
* terminal escapes and bidi overrides are stripped everywhere (``safe_text``).
"""

from __future__ import annotations

import re
from typing import Any

from why502 import proxies
from why502.findings.model import EvidenceItem, Finding, Fix, Report
from why502.findings.redact import notice
from why502.reporters.html import chart_data, confidence_label, safe_text
from why502.reporters.options import RenderOptions
from why502.reporters.text.report import nothing_judged, read_line, to_decide

__all__ = ["md_code", "md_text", "render_markdown"]

# ASCII punctuation that can start Markdown/GFM syntax anywhere in a line (emphasis, code,
# links, images, tables, strikethrough, backslash itself).
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
# Block syntax that only matters at the start of a line (headings, lists, setext underlines).
_MD_LEADING = re.compile(r"^([#+=-]|\d+(?=[.)]))")
# GFM extended autolinks ("www.", "http://"): break them so a log cannot plant a clickable link.
_AUTOLINK = re.compile(r"(?i)(www)\.|(://)")
_BACKTICKS = re.compile(r"`+")
# The timeline table lists at most this many minutes (those with the most 5xx are kept).
MAX_TIMELINE_ROWS = 40
# Tickets and chat have limits: at most this many events, raw lines cut to this many characters.
MAX_EVENT_ROWS = 50
MAX_RAW_CHARS = 600


def md_text(value: object) -> str:
    """Inert Markdown prose: one line, punctuation escaped, ``<``/``>``/``&`` as entities."""
    text = " ".join(safe_text(value).split())
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    text = _AUTOLINK.sub(lambda m: f"{m.group(1)}&#46;" if m.group(1) else ":&#47;/", text)
    return _MD_LEADING.sub(
        lambda m: m.group(1) + "\\" if m.group(1)[0].isdigit() else "\\" + m.group(1), text
    )


def md_code(value: object) -> str:
    """A code span that shows ``value`` verbatim (one line) and is safe inside a table cell."""
    text = " ".join(safe_text(value).split())
    if not text:
        return ""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or longest else ""
    # GFM splits table cells on unescaped pipes before it parses code spans.
    return f"{fence}{pad}{text.replace('|', chr(92) + '|')}{pad}{fence}"


def _fenced(body: str, info: str = "") -> str:
    text = safe_text(body).rstrip("\n")
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{info}\n{text}\n{fence}"


def _cell(value: object) -> str:
    return md_text(value) if value not in (None, "") else ""


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out.extend("| " + " | ".join(row) + " |" for row in rows)
    return out


def _where(item: EvidenceItem) -> str:
    if not item.source:
        return ""
    return f"{item.source}:{item.line}" if item.line is not None else item.source


def _facts(finding: Finding) -> list[str]:
    lines = [
        f"- **Cause:** {md_code(finding.cause)} — confidence {md_text(confidence_label(finding.confidence))}",
    ]
    if finding.status_codes:
        lines.append(f"- **Status:** {md_text(', '.join(str(s) for s in finding.status_codes))}")
    if finding.count:
        lines.append(f"- **Failed requests:** {finding.count:,}")
    if finding.symptoms:
        lines.append("- **Symptoms:** " + ", ".join(md_code(s) for s in finding.symptoms))
    if finding.proxy:
        lines.append(f"- **Proxy:** {md_text(proxies.long_title(finding.proxy))}")
    if finding.upstream or finding.target:
        parts = [x for x in (finding.upstream, finding.target) if x]
        where = " → ".join(md_code(x) for x in dict.fromkeys(parts))  # once when they are the same
        lines.append(f"- **Upstream:** {where}")
    if finding.first_seen or finding.last_seen:
        lines.append(
            f"- **Seen:** {md_text(finding.first_seen or '?')} → {md_text(finding.last_seen or '?')}"
        )
    return lines


def _explanation(text: str) -> list[str]:
    out: list[str] = []
    for chunk in safe_text(text).split("\n\n"):
        if chunk.strip():
            out += [md_text(chunk), ""]
    return out


def _fix(fix: Fix | None, level: str) -> list[str]:
    out = [f"{level} Fix", ""]
    if fix is None:
        return [*out, "No fix is known for this cause.", ""]
    out += [md_text(fix.summary), ""]
    if fix.diff:
        if fix.file:
            out += [f"Change in {md_code(fix.file)}:", ""]
        out += [_fenced(fix.diff, "diff"), ""]
    elif fix.file:
        out += [f"File: {md_code(fix.file)}", ""]
    if fix.commands:
        out += [_fenced("\n".join(fix.commands), "sh"), ""]
    out += [f"- {md_text(note)}" for note in fix.notes]
    if fix.notes:
        out.append("")
    return out


def _evidence(items: list[EvidenceItem]) -> list[str]:
    if not items:
        return ["No evidence items recorded.", ""]
    rows = []
    for item in items:
        what = md_text(item.summary)
        if item.text:
            raw = item.text if len(item.text) <= MAX_RAW_CHARS else item.text[:MAX_RAW_CHARS] + "…"
            what += "<br>" + md_code(raw)
        if item.count is not None:
            what += f" ×{item.count}"
        rows.append([md_text(item.kind), md_code(_where(item)), _cell(item.time), what])
    return [*_table(["kind", "where", "time", "what"], rows), ""]


def _timeline(report: Report) -> list[str]:
    data = chart_data(report)
    out: list[str] = []
    if data["x"]:
        from datetime import datetime, timezone

        statuses = [s["status"] for s in data["series"]]
        sums = [sum(s["values"][i] for s in data["series"]) for i in range(len(data["x"]))]
        busy = [i for i, total in enumerate(sums) if total]
        kept = sorted(sorted(busy, key=lambda i: -sums[i])[:MAX_TIMELINE_ROWS])
        first = datetime.fromtimestamp(data["x"][0], tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
        last = datetime.fromtimestamp(data["x"][-1], tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
        totals = ", ".join(f"{md_text(s['status'])}: {sum(s['values'])}" for s in data["series"])
        out += [f"{first} → {last} ({len(data['x'])} minutes); 5xx by status: {totals or 'none'}.", ""]
        rows = []
        for i in kept:
            minute = datetime.fromtimestamp(data["x"][i], tz=timezone.utc).strftime("%Y-%m-%d %H:%M")
            rows.append([minute] + [str(s["values"][i]) for s in data["series"]] + [str(data["totals"][i])])
        if rows:
            total_head = "all requests" if data["requests"] else "5xx"
            out += _table(["minute", *[md_text(s) for s in statuses], total_head], rows)
            if len(busy) > len(kept):
                out.append(f"\n({len(busy) - len(kept)} more minutes with 5xx not shown.)")
            out.append("")
    if report.events:
        rows = [
            [str(n), _cell(e.time), md_code(e.kind), md_text(e.label), md_code(e.source or "")]
            for n, e in enumerate(report.events[:MAX_EVENT_ROWS], start=1)
        ]
        out += ["**Events**", "", *_table(["#", "time", "kind", "what", "where"], rows), ""]
        if len(report.events) > MAX_EVENT_ROWS:
            out += [f"({len(report.events) - MAX_EVENT_ROWS} more events in the JSON/HTML report.)", ""]
    if not out:
        out = ["No per-minute data and no events.", ""]
    return out


def _scalar(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(md_code(v) for v in value) or "none"
    return md_code(value if isinstance(value, str) else repr(value))


def render_markdown(report: Report) -> str:
    """Render ``report`` as GitHub-flavoured Markdown, answer first (see the module docstring)."""
    out: list[str] = []
    # under every verdict, healthy or not: the config and logs read, and how many inputs were not
    # (issue 31: a verdict about the wrong config looked like one about the right one)
    read = [] if report.inputs.get("demo") else [f"*{md_text(read_line(report).strip())}*", ""]
    if report.no_evidence:  # nothing judged: no verdict (diagnose exits 3), never "healthy"
        out += ["# why502: no evidence", "", md_text(f"Nothing to judge: {nothing_judged(report)}."), "",
                md_text(f"To decide: {to_decide(report)}."), "", *read]
    elif report.config_only:  # a config read alone: no verdict on the 5xx
        out += ["# why502: no config pitfall found", "",
                "No log line to judge and nothing probed: the config holds no known pitfall, and "
                "nothing was read that would show the proxy failing now.", "", *read]
    elif not report.findings:
        out += ["# why502: no root cause found", "", "why502 saw nothing wrong in what it could read.", "",
                *read]
    else:
        top = report.findings[0]
        out += [f"# why502: {md_text(top.title)}", "", *read, *_facts(top), "",
                *_explanation(top.explanation)]
        out += _fix(top.fix, "##")
        out += ["## Evidence", "", *_evidence(top.evidence)]
    out += ["## Incident timeline", "", *_timeline(report)]
    if len(report.findings) > 1:
        out += ["## Other possible causes", ""]
        for finding in report.findings[1:]:
            out += [
                f"### {md_text(finding.title)}",
                "",
                *_facts(finding),
                "",
                *_explanation(finding.explanation),
            ]
            out += _fix(finding.fix, "####")
            out += ["#### Evidence", "", *_evidence(finding.evidence)]
    if report.upstreams:
        out += ["## Upstreams", ""]
        rows = []
        for up in report.upstreams:
            statuses = ", ".join(f"{md_text(k)}: {v}" for k, v in sorted(up.statuses.items()))
            symptoms = ", ".join(f"{md_code(k)}: {v}" for k, v in sorted(up.symptoms.items()))
            probes = ", ".join(
                ("ok" if p.get("ok") else "failed" if p.get("ok") is False else "?")
                + (f" ({md_text(p.get('error'))})" if p.get("error") else "")
                for p in up.probes
                if isinstance(p, dict)
            )
            rows.append(
                [
                    md_code(up.name),
                    ", ".join(md_code(t) for t in up.targets),
                    md_code(up.config or ""),
                    statuses,
                    symptoms,
                    probes,
                ]
            )
        out += [*_table(["upstream", "targets", "config", "statuses", "symptoms", "probes"], rows), ""]
    out += ["## What could not be read", ""]
    if report.diagnostics:
        out += [
            f"- **{md_text(d.severity)}:** {md_text(d.message)}"
            + (f" ({md_code(d.source)})" if d.source else "")
            for d in report.diagnostics
        ]
    else:
        out.append("Every input was read.")
    out.append("")
    if report.inputs:
        out += ["## Inputs", "", *[f"- {md_text(k)}: {_scalar(v)}" for k, v in report.inputs.items()], ""]
    footer = " · ".join(
        md_text(p)
        for p in (
            f"host {report.host}" if report.host else "",
            f"generated {report.generated_at}" if report.generated_at else "",
            f"why502 {report.tool_version}" if report.tool_version else "",
            f"schema {report.schema_version}",
        )
        if p
    )
    if report.redacted:
        out += [f"_{md_text(notice(report.redacted))}_", ""]
    out += ["---", f"_{footer}_", ""]
    return "\n".join(out)


def render(result: Report, options: RenderOptions) -> str:
    """``--format markdown``: a diagnose ``Report`` (the one result this format renders)."""
    if not isinstance(result, Report):
        raise TypeError(f"no markdown reporter for {type(result).__name__}")
    return render_markdown(result)
