"""What ``why502 fix`` would change (and ``lint --fix``, ``mitigate``): the result of a fix plan.

``Plan`` and ``Change`` are the plain result the text reporter renders (``reporters.text.plan``)
and ``fix --apply`` applies; how a plan is made from a report or a lint run, and how a diff is
applied to a file, is ``app.fix.plan``.  Moved from there (issue 23, item 5: every result a
``findings`` type; the reporter read it through ``Protocol`` stand-ins), field for field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from why502.findings.targets import ProbeTarget


@dataclass(frozen=True)
class Change:
    """One proposed config change: the finding it fixes, the file, the diff."""

    key: str  # root-cause ID or lint rule code (what --only selects)
    title: str
    file: str
    diff: str
    expected_sha256: str | None = None  # from the report; None for a fresh lint run
    commands: tuple[str, ...] = ()
    targets: tuple[ProbeTarget, ...] = ()  # the backends of the finding, probed again to verify
    # every file's SHA-256 when the report was made: a fix of the same defect in many files
    # (schema 1.3, ``places``) pins each of them, not only ``file``
    hashes: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Plan:
    """Every change, the commands only printed, and notes (skipped fixes and why)."""

    changes: list[Change] = field(default_factory=list)
    commands: list[tuple[str, str]] = field(default_factory=list)  # (key, command)
    notes: list[str] = field(default_factory=list)
    config: str | None = None  # the proxy's main config
    # a name of the registry (``why502.proxies``, above this layer: every maker of a plan names
    # it, app.fix.plan and app.mitigate): whose fix service tests and reloads it
    proxy: str = ""
