"""What ``why502 fix`` would change (and ``lint --fix``, ``mitigate``): the result of a fix plan.

``Plan`` and ``Change`` are the plain result the text reporter renders (``reporters.text.plan``)
and ``fix --apply`` applies; how a plan is made from a report or a lint run, and how a diff is
applied to a file, is ``app.fix.plan``.  Moved from there (issue 23, item 5: every result a
``findings`` type; the reporter read it through ``Protocol`` stand-ins), field for field.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from why502.findings.targets import ProbeTarget

PLAN_SCHEMA = "why502.fix-plan/1"
"""The ``schema`` of ``why502 fix --format json`` (``schemas/fix-plan.schema.json``)."""


def _target(data: object) -> ProbeTarget:
    if not isinstance(data, dict):
        raise ValueError("not a why502 fix plan (a target is not a JSON object)")
    known = {f.name for f in dataclasses.fields(ProbeTarget)}
    return ProbeTarget(**{k: v for k, v in data.items() if k in known})


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

    def to_dict(self) -> dict[str, Any]:
        """Its JSON object in ``why502 fix --format json`` (``schemas/fix-plan.schema.json``)."""
        return {"key": self.key, "title": self.title, "file": self.file, "diff": self.diff,
                "expected_sha256": self.expected_sha256, "commands": list(self.commands),
                "targets": [dataclasses.asdict(t) for t in self.targets], "hashes": dict(self.hashes)}

    @classmethod
    def from_dict(cls, data: object) -> Change:
        """The inverse of :meth:`to_dict` (``from_dict(c.to_dict()) == c``)."""
        if not isinstance(data, dict):
            raise ValueError("not a why502 fix plan (a change is not a JSON object)")
        try:
            return cls(key=str(data["key"]), title=str(data["title"]), file=str(data["file"]),
                       diff=str(data["diff"]), expected_sha256=data.get("expected_sha256"),
                       commands=tuple(str(c) for c in data.get("commands", [])),
                       targets=tuple(_target(t) for t in data.get("targets", [])),
                       hashes=dict(data.get("hashes", {})))
        except KeyError as err:
            raise ValueError(f"not a why502 fix plan (a change has no {err.args[0]!r})") from None


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

    SCHEMA: ClassVar[str] = PLAN_SCHEMA

    def to_dict(self) -> dict[str, Any]:
        """``why502 fix --format json``: the dry run's plan, ``schema`` first."""
        return {"schema": self.SCHEMA, "proxy": self.proxy, "config": self.config,
                "changes": [c.to_dict() for c in self.changes],
                "commands": [{"key": key, "command": command} for key, command in self.commands],
                "notes": list(self.notes)}

    @classmethod
    def from_dict(cls, data: object) -> Plan:
        """The inverse of :meth:`to_dict`; a document of another schema is a ValueError."""
        if not isinstance(data, dict) or data.get("schema") != PLAN_SCHEMA:
            raise ValueError(f"not a why502 fix plan (expected schema {PLAN_SCHEMA!r})")
        commands = []
        for item in data.get("commands", []):
            if not isinstance(item, dict):
                raise ValueError("not a why502 fix plan (a command is not a JSON object)")
            commands.append((str(item.get("key", "")), str(item.get("command", ""))))
        return cls(changes=[Change.from_dict(c) for c in data.get("changes", [])], commands=commands,
                   notes=[str(n) for n in data.get("notes", [])], config=data.get("config"),
                   proxy=str(data.get("proxy", "")))
