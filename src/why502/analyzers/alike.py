"""One finding for the same config defect in many blocks.

A config of 5000 virtual hosts written from one template has the same defect 5000 times (an
upstream ``keepalive`` without ``proxy_http_version 1.1``): 5000 findings, each with its own
diff, bury the answer and cannot be applied as one change.  What the person on call needs is
one finding that says how many blocks have it and where (``places``, schema 1.3), with one
diff that fixes all of them (``findings.patch.edits_diff`` of every place's edit, per file).

Only findings about the config alone are put together: no log line, no request count, no time
(those are incidents, each with its own evidence and target), the same cause, title,
confidence, proxy and fix (summary and commands).  Places whose edits overlap (two fixes of one
line) cannot be one diff: such a set stays as it was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from itertools import pairwise

from why502.findings.model import EvidenceItem, Finding, Place
from why502.findings.patch import Edit, combine, diff_edits, edits_diff

NAMED = 5
"""Places named in the evidence line the text report shows (all are in ``places``)."""


def _key(f: Finding) -> tuple[object, ...] | None:
    """What makes two findings the same defect, or ``None`` for a finding that is an incident."""
    if f.count or f.first_seen or f.last_seen or f.places:
        return None
    if any(e.kind != "config" for e in f.evidence):  # a count, a probe, a socket: this block's own
        return None
    fix = f.fix
    return (f.cause, f.title, f.confidence, f.proxy, tuple(f.status_codes),
            fix.summary if fix else None, tuple(fix.commands) if fix else (),
            tuple(fix.notes) if fix else (), bool(fix and fix.diff))


def group_alike(findings: Sequence[Finding], files: Mapping[str, Sequence[str]]) -> list[Finding]:
    """``findings`` (ordered) with each set of the same config defect made one finding, at the
    place of its first member; ``files``: the config's lines (``Evidence.files``)."""
    members: dict[tuple[object, ...], list[int]] = {}
    for i, f in enumerate(findings):
        key = _key(f)
        if key is not None:
            members.setdefault(key, []).append(i)
    merged: dict[int, Finding] = {}
    dropped: set[int] = set()
    for idx in members.values():
        if len(idx) < 2:
            continue
        one = _merge([findings[i] for i in idx], files)
        if one is not None:
            merged[idx[0]] = one
            dropped.update(idx[1:])
    return [merged.get(i, f) for i, f in enumerate(findings) if i not in dropped]


def _merge(same: list[Finding], files: Mapping[str, Sequence[str]]) -> Finding | None:
    """One finding for ``same`` (two or more), or ``None`` when their diffs cannot be one."""
    first = same[0]
    edits = [_edits(f) for f in same]  # each member's diff read back once
    places = [_place(f, e) for f, e in zip(same, edits, strict=True)]
    fix = first.fix
    if fix is not None and fix.diff:
        diff = _one_diff(edits, files)
        if diff is None:
            return None
        fix = replace(fix, diff=diff, hashes={})
    n = len(same)
    named = ", ".join(_label(p) for p in places[1:NAMED + 1])
    more = f", and {n - 1 - NAMED:,} more" if n - 1 > NAMED else ""
    also = EvidenceItem(kind="config", summary=f"the same in {n - 1:,} more place{'s' if n > 2 else ''}: "
                        f"{named}{more} (every place: --format json, \"places\")", count=n)
    return replace(first, explanation=f"{first.explanation} The same holds in {n - 1:,} more "
                   f"place{'s' if n > 2 else ''} ({n:,} in all); the fix covers every one.",
                   evidence=[*first.evidence, also], fix=fix, places=places)


def _edits(f: Finding) -> dict[str, list[Edit]] | None:
    """The edits of a member's fix, per file; ``None`` when it has no diff or it cannot be read."""
    if f.fix is None or not f.fix.diff or not f.fix.file:
        return None
    return diff_edits(f.fix.diff, f.fix.file)


def _place(f: Finding, edits: dict[str, list[Edit]] | None) -> Place:
    """Where one member is: its upstream and target, and the line its fix changes (else its
    first config evidence)."""
    file, line = None, None
    if edits:
        for path, found in edits.items():
            if found:  # the line replaced, or the line an insertion follows
                start, stop, _ = found[0]
                file, line = path, start if start == stop and start else start + 1
                break
    if file is None:
        item = next((e for e in f.evidence if e.kind == "config" and e.source), None)
        file, line = (item.source, item.line) if item else (None, None)
    return Place(upstream=f.upstream, target=f.target, file=file, line=line)


def _label(p: Place) -> str:
    name = p.upstream or p.target or "?"
    return f"{name} ({p.file}:{p.line})" if p.file and p.line else name


def _one_diff(members: list[dict[str, list[Edit]] | None], files: Mapping[str, Sequence[str]]) -> str | None:
    """Every member's edits as one diff (one part per file, in the order files first appear),
    or ``None`` when a member's diff could not be read back or two edits touch the same lines."""
    per_file: dict[str, list[Edit]] = {}
    for read in members:
        if read is None:
            return None
        for path, found in read.items():
            per_file.setdefault(path, []).extend(found)
    parts: list[str | None] = []
    for path, edits in per_file.items():
        lines = files.get(path)
        if lines is None:
            return None
        edits.sort(key=lambda e: (e[0], e[1]))
        if any(b[0] < a[1] or b[0] == a[0] for a, b in pairwise(edits)):
            return None  # overlapping edits, or two insertions at one place: no single diff
        parts.append(edits_diff(path, lines, edits))
    return combine(parts)
