"""Findings: the typed result of a diagnosis (``Finding``, ``Report``) and its JSON form."""

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
