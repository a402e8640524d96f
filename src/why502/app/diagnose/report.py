"""Run the analyzers on the evidence and assemble the ``Report`` (what every reporter renders).

Besides the findings, the report carries the incident's shape for the HTML and Markdown pages:
a per-minute timeline of 5xx, the events (OOM kills, restarts, the first error of each kind)
and a panel per upstream (its targets, symptoms, statuses and the live probes).
"""

from __future__ import annotations

import dataclasses
import hashlib
import socket
import time
from collections import Counter
from datetime import datetime
from typing import Any

from why502 import __version__
from why502.analyzers.rank import run_all
from why502.app.diagnose.gather import Gathered
from why502.app.diagnose.judged import judged
from why502.evidence.model import Evidence
from why502.evidence.stats import AccessStats
from why502.findings.model import Finding, Report, TimelineEvent, TimelinePoint, UpstreamSummary
from why502.findings.patch import files_of
from why502.parsers.configread import digest_read


def report_from(g: Gathered, started: float | None = None) -> Report:
    """Run the analyzers on gathered evidence and build the Report."""
    findings, adiags = run_all(g.evidence)
    if g.edge_config is not None:  # an edge proxy's --config: its facts name the group, route, timeout
        from why502.analyzers.edge_config import with_config

        c = g.edge_config
        findings = with_config(findings, c.proxy, c.targets, c.groups, c.files, c.live)
    inputs = dict(g.inputs)
    # what the verdict rests on: none of it is no verdict (app.diagnose.judged)
    rests_on: list[str] = list(judged(g.evidence, inputs, probed=bool(g.probe_dicts)))
    if started is not None:
        inputs["elapsed_ms"] = round((time.monotonic() - started) * 1000)
    digests: dict[str, str | None] = {}
    return Report(
        findings=[with_hashes(f, digests) for f in findings],
        diagnostics=[*g.diagnostics, *adiags], inputs=inputs,
        timeline=timeline(g.evidence, g.access_stats), events=events(g.evidence),
        upstreams=upstreams(g.evidence, g.probe_dicts),
        generated_at=datetime.now().astimezone().isoformat(timespec="seconds"),
        host=socket.gethostname(), tool_version=__version__, judged=rests_on)


def with_hashes(finding: Finding, digests: dict[str, str | None] | None = None) -> Finding:
    """``finding`` with the SHA-256 of each file its config fix changes (of the bytes the run's
    config reader read, when the file is unchanged since; else read now): ``why502 fix``
    refuses to apply the diff to a file edited after the report (schema 1.1, ``fix.hashes``;
    a fix of one defect in many files, schema 1.3, pins each of them).

    ``digests`` keeps each file's digest for the run: a config of 5000 server blocks can carry
    5000 fixes to the same file, and hashing it once per fix made the report quadratic."""
    fix = finding.fix
    if fix is None or not fix.diff or not fix.file:
        return finding
    cache = {} if digests is None else digests
    hashes: dict[str, str] = {}
    for path in dict.fromkeys([fix.file, *files_of(fix.diff, fix.file)]):
        if path not in cache and (read := digest_read(path)) is not None:
            cache[path] = read  # the bytes this run's config reader read (parsers.configread)
        if path not in cache:
            try:
                with open(path, "rb") as fh:
                    cache[path] = hashlib.sha256(fh.read()).hexdigest()
            except OSError:
                cache[path] = None  # a config read from a dump or a copy: nothing on disk to pin
        digest = cache[path]
        if digest is not None:
            hashes[path] = digest
    if not hashes:
        return finding
    return dataclasses.replace(finding, fix=dataclasses.replace(fix, hashes=hashes))


def timeline(ev: Evidence, stats: AccessStats | None) -> list[TimelinePoint]:
    """Per-minute 5xx counts: from the access log when read, else from the error-log times; an
    edge's log (``Evidence.edge``) adds its 5xx and its requests."""
    per_minute: dict[str, Counter[str]] = {}
    totals: Counter[str] = Counter()
    if stats is not None and stats.timeline:
        for row in stats.timeline:
            by_status = {"502": row["502"], "503": row["503"], "504": row["504"]}
            per = Counter({k: v for k, v in by_status.items() if v})
            if row["other_5xx"]:
                per["5xx"] = row["other_5xx"]
            minute = row["minute"][:16]
            per_minute[minute] = per
            totals[minute] = row["requests"]
    else:
        for m, c in ev.logs.per_minute.items():
            per_minute[m] = Counter(c)
            totals[m] = sum(c.values())
    for lb in ev.edge.families:
        totals.update(lb.totals_per_minute)
        for m, c in lb.per_minute.items():
            per_minute.setdefault(m, Counter()).update(c)
    # in name order: a Counter keeps its update order, which followed the string hash (a
    # report differed between runs only there)
    return [TimelinePoint(minute=m, counts=dict(sorted(c.items())), total=totals.get(m, 0))
            for m, c in sorted(per_minute.items())][-1440:]


def events(ev: Evidence) -> list[TimelineEvent]:
    """Other programs' events and the first line of each symptom group, in time order."""
    out = [TimelineEvent(time=e.time.isoformat(timespec="seconds"), kind=e.kind,
                         label=e.detail or e.kind, source=e.file, text=e.text)
           for e in ev.all_events if e.time][:200]
    for g in ev.logs.symptoms:
        if g.first:
            # a group of failures whose line names no symptom (Caddy's "dialing backend: dial
            # unix ...: no such file or directory" is a 502 it made, without a catalog word yet)
            # is the proxy's own reply: the schema's ``kind`` is a string, never null
            kind = g.symptom or "proxy-reply"
            out.append(TimelineEvent(time=g.first.isoformat(timespec="seconds"), kind=kind,
                                     label=f"first {kind}" + (f" to {g.peer}" if g.peer else ""),
                                     source=g.samples[0].file if g.samples else None,
                                     text=g.samples[0].text if g.samples else None))
    out.sort(key=lambda e: e.time)
    return out


def upstreams(ev: Evidence, probe_dicts: dict[str, dict[str, Any]]) -> list[UpstreamSummary]:
    """One panel per upstream group (or lone target): symptoms, statuses, probes, config line."""
    # dicts as ordered sets: a list's `in` made a 100k-server upstream quadratic (50 s)
    names: dict[str, dict[str, None]] = {}
    where: dict[str, str] = {}
    for t in ev.config.targets:
        name = t.group or t.key
        names.setdefault(name, {})[t.key] = None
        if t.pass_file:
            where.setdefault(name, f"{t.pass_file}:{t.pass_line}")
    out = []
    for name, keyset in names.items():
        keys = list(keyset)
        sym: Counter[str] = Counter()
        statuses: Counter[str] = Counter()
        for g in ev.logs.symptoms:
            if g.peer in keyset or g.peer == name:
                sym[g.symptom] += g.count
                for s, n in g.statuses.items():
                    statuses[str(s)] += n
        # the access log names the peer ($upstream_addr), a group's panel sums its servers
        seen: Counter[str] = Counter()
        for key in dict.fromkeys([name, *keys]):
            timing = ev.logs.access.get(key)
            for status, n in (timing.statuses.items() if timing else ()):
                seen[str(status)] += n
        for label, total in seen.items():
            statuses[label] = max(statuses[label], total)
        out.append(UpstreamSummary(name=name, targets=keys, symptoms=dict(sym),
                                   statuses=dict(statuses),
                                   probes=[probe_dicts[k] for k in keys if k in probe_dicts],
                                   config=where.get(name)))
    return out
