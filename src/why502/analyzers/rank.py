"""Run every analyzer, then order and fold (most likely first, symptoms counted once).

Order: confidence weighted by impact (``score``).  Folding: each candidate claims the symptom
groups it explains.  Walking candidates from the most
to the least confident, a *fallback* candidate (a generic reading of symptoms, e.g. "the backend
crashed" from premature closes alone) whose groups are all claimed already is dropped, and any
candidate that explains nothing new beyond what a stronger one explains is folded into it (its
evidence kept as "also consistent with").  Candidates that explain no log line at all (config-only
or access-log-only findings) are kept only if nothing else was found or they are confident.
"""

from __future__ import annotations

from dataclasses import replace

from why502.analyzers.base import Candidate, GroupKey
from why502.analyzers.registry import REGISTRY
from why502.evidence.model import Evidence
from why502.findings.model import Diagnostic, EvidenceItem, Finding

# Config-only candidates (no symptom seen) below this are pitfalls for `why502 lint`, not causes.
MIN_UNOBSERVED = 0.5


def run_all(ev: Evidence) -> tuple[list[Finding], list[Diagnostic]]:
    """All findings, ordered most likely first, plus diagnostics for analyzers that failed."""
    candidates: list[Candidate] = []
    diagnostics: list[Diagnostic] = []
    for family, (analyze, _) in REGISTRY.items():
        try:
            candidates.extend(analyze(ev))
        except Exception as err:
            diagnostics.append(Diagnostic("warning", f"analyzer {family} failed: "
                                          f"{type(err).__name__}: {err}"))
    return fold(candidates), diagnostics


def score(f: Finding, biggest: int) -> float:
    """Rank = confidence weighted by impact: among equally sure explanations, the one behind
    thousands of failed requests comes before one behind a handful (background noise)."""
    share = f.count / biggest if biggest else 0.0
    return f.confidence * (0.6 + 0.4 * share) if biggest else f.confidence


def fold(candidates: list[Candidate]) -> list[Finding]:
    """Order most likely first and fold candidates whose symptoms a stronger one explains."""
    kept: list[tuple[Candidate, list[EvidenceItem]]] = []
    owner: dict[GroupKey, int] = {}
    biggest = max((c.finding.count for c in candidates), default=0)

    def _order(c: Candidate) -> tuple[float, float, int, int]:
        return (-score(c.finding, biggest), -c.finding.confidence, -len(c.claims), -c.finding.count)

    for c in sorted(candidates, key=_order):
        new = c.claims - owner.keys()
        if c.claims and not new:
            if c.fallback:
                continue
            # fold: a weaker explanation of symptoms already explained
            idx = owner[next(iter(c.claims))]
            kept[idx][1].append(EvidenceItem(
                kind="stat", summary=f"also consistent with {c.finding.cause} "
                f"(confidence {c.finding.confidence:.2f}), judged less likely"))
            continue
        if not c.claims and c.finding.confidence < MIN_UNOBSERVED:
            continue
        for key in c.claims:
            owner.setdefault(key, len(kept))
        kept.append((c, []))
    out: list[Finding] = []
    for c, extra in kept:
        f = c.finding
        if extra:
            f = replace(f, evidence=[*f.evidence, *extra[:2]])
        out.append(f)
    return out
