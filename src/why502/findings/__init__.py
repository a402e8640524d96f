"""Findings: the typed results (``Finding``, ``Report``; ``findings.results``, ``findings.lint``,
``findings.plan``, ``findings.explain``) and their JSON form.

The names below are loaded on first use (PEP 562): ``why502 explain ID`` imports
``findings.explain`` only, and its start-up must not pay for ``findings.model``
(``bench/startup.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from why502.findings.model import (
        SCHEMA_VERSION,
        Diagnostic,
        EvidenceItem,
        Finding,
        Fix,
        Place,
        Report,
        TimelineEvent,
        TimelinePoint,
        UpstreamSummary,
    )

__all__ = [
    "SCHEMA_VERSION",
    "Diagnostic",
    "EvidenceItem",
    "Finding",
    "Fix",
    "Place",
    "Report",
    "TimelineEvent",
    "TimelinePoint",
    "UpstreamSummary",
]


def __getattr__(name: str) -> Any:  # Any: each name is typed by the TYPE_CHECKING imports above
    if name in __all__:
        from why502.findings import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
