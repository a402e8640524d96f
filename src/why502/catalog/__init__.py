"""The knowledge catalog: every symptom, evidence event and root cause of causes.md, as data.

The entries live in ``catalog/data/*.toml`` (one file per kind) and carry their provenance: which
nginx/Apache/HAProxy/PHP-FPM/kernel/systemd source file emits each message.  ``why502 explain``,
``why502 causes`` and the generated pages in ``docs/causes/`` all read this one place.

Loading uses only the standard library (``tomllib``) so ``why502 explain`` stays fast.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any, Literal

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

Kind = Literal["symptom", "event", "cause"]
KINDS: tuple[Kind, ...] = ("symptom", "event", "cause")
_FILES: dict[Kind, str] = {"symptom": "symptoms.toml", "event": "events.toml", "cause": "causes.toml"}


@dataclass(frozen=True)
class Provenance:
    """Where a message comes from: ``repo`` + ``path`` (+ ``function``) of the emitting program."""

    message: str
    source: str
    note: str | None = None


@dataclass(frozen=True)
class Entry:
    """One catalog entry.  Every field is required data for the docs page and ``explain``."""

    id: str
    kind: Kind
    title: str
    status_codes: list[int]
    proxies: list[str]
    explanation: str
    confirm: list[str]
    fix: list[str]
    references: list[str]
    provenance: list[Provenance] = field(default_factory=list)
    fix_snippet: str | None = None
    examples: list[str] = field(default_factory=list)
    related: list[str] = field(default_factory=list)
    evidence: str | None = None  # causes: what proves it (causes.md's third column)


@dataclass(frozen=True)
class Catalog:
    entries: dict[str, Entry]

    def get(self, entry_id: str) -> Entry | None:
        return self.entries.get(entry_id)

    def of_kind(self, kind: Kind) -> list[Entry]:
        return [e for e in self.entries.values() if e.kind == kind]


def _entry(kind: Kind, raw: dict[str, Any]) -> Entry:
    raw = dict(raw)
    prov = [Provenance(**p) for p in raw.pop("provenance", [])]
    return Entry(kind=kind, provenance=prov, **raw)


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    """Read the TOML data once per process."""
    entries: dict[str, Entry] = {}
    base = resources.files("why502.catalog").joinpath("data")
    for kind, name in _FILES.items():
        data = tomllib.loads(base.joinpath(name).read_text(encoding="utf-8"))
        for raw in data.get(kind, []):
            entry = _entry(kind, raw)
            if entry.id in entries:
                raise ValueError(f"duplicate catalog id {entry.id!r} in {name}")
            entries[entry.id] = entry
    return Catalog(entries)
