"""The knowledge catalog: every symptom, evidence event and root cause, as data.

The entries live in ``catalog/data/*.toml`` (one file per kind) and carry their provenance: which
nginx/Apache/HAProxy/PHP-FPM/kernel/systemd source file emits each message.  ``why502 explain``,
``why502 causes`` and the generated pages in ``docs/causes/`` all read this one place.

Status-code pages (500, 502, 503, 504, 499, 009, Cloudflare 52x/530, AWS ALB 46x/561) live in
``catalog/data/statuses.toml`` and are loaded by :func:`load_statuses`.

Loading uses only the standard library (``tomllib``, through ``catalog.tomldata``) so
``why502 explain`` stays fast.

One ID may exist in two kinds (``port-exhaustion`` is both the symptom nginx logs and the root
cause behind it); :meth:`Catalog.get` without a kind then prefers the root cause, and
:meth:`Catalog.find` returns every entry with that ID.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from why502.catalog import tomldata

Kind = Literal["symptom", "event", "cause"]
KINDS: tuple[Kind, ...] = ("symptom", "event", "cause")
_FILES: dict[Kind, str] = {"symptom": "symptoms.toml", "event": "events.toml", "cause": "causes.toml"}
# Which kind wins when an ID exists in several kinds and no kind was asked for.
_PREFERENCE: tuple[Kind, ...] = ("cause", "symptom", "event")
KIND_LABELS: dict[Kind, str] = {"symptom": "symptom", "event": "evidence event", "cause": "root cause"}


@dataclass(frozen=True)
class Provenance:
    """Where a message comes from: the exact text, ``repo path function()`` of the program that
    writes it, and an optional note (level, status, version differences)."""

    message: str
    source: str
    note: str | None = None


@dataclass(frozen=True)
class Entry:
    """One catalog entry.  Every field is required data for the docs page and ``explain``.

    ``confirm`` and ``fix`` are shell lines a person can paste; a line starting with ``#`` is a
    comment (a manual step or the reason for the next command).  ``status_codes`` uses 9 for the
    access-log status ``009`` (an HTTP/0.9 response passed through by nginx).
    """

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
    evidence: str | None = None  # causes: what proves it (the evidence column of docs/causes/README.md)
    summary: str | None = None  # one line for listings; defaults to the title


@dataclass(frozen=True)
class Producer:
    """One proxy/CDN/load balancer that emits a status code, and when it does."""

    proxy: str
    when: str


@dataclass(frozen=True)
class StatusPage:
    """A status-code page: what produces ``code`` per proxy and which symptoms/causes lead to it.

    ``code`` is a string because ``009`` (nginx's access-log status for an HTTP/0.9 response) must
    keep its leading zeros.
    """

    code: str
    title: str
    family: str
    explanation: str
    produced_by: list[Producer]
    confirm: list[str]
    references: list[str]
    symptoms: list[str] = field(default_factory=list)
    causes: list[str] = field(default_factory=list)
    related_statuses: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Catalog:
    """All entries, per kind.  ``entries`` maps an ID to its preferred entry (cause first)."""

    by_kind: dict[Kind, dict[str, Entry]]
    entries: dict[str, Entry] = field(init=False)

    def __post_init__(self) -> None:
        merged: dict[str, Entry] = {}
        for kind in reversed(_PREFERENCE):
            merged.update(self.by_kind.get(kind, {}))
        object.__setattr__(self, "entries", merged)

    def get(self, entry_id: str, kind: Kind | None = None) -> Entry | None:
        """The entry ``entry_id`` of ``kind``; without a kind the root cause wins a tie."""
        if kind is not None:
            return self.by_kind.get(kind, {}).get(entry_id)
        return self.entries.get(entry_id)

    def find(self, entry_id: str) -> list[Entry]:
        """Every entry with this ID, preferred kind first (usually zero or one)."""
        return [self.by_kind[k][entry_id] for k in _PREFERENCE if entry_id in self.by_kind.get(k, {})]

    def of_kind(self, kind: Kind) -> list[Entry]:
        return list(self.by_kind.get(kind, {}).values())

    def all(self) -> list[Entry]:
        """Every entry: symptoms, then events, then causes, each in file order."""
        return [e for kind in KINDS for e in self.by_kind.get(kind, {}).values()]

    def ids(self) -> set[str]:
        return set(self.entries)


def _entry(kind: Kind, raw: dict[str, Any]) -> Entry:
    raw = dict(raw)
    prov = [Provenance(**p) for p in raw.pop("provenance", [])]
    return Entry(kind=kind, provenance=prov, **raw)


_DATA_DIR = Path(__file__).resolve().parent / "data"


def _data_table(name: str) -> dict[str, Any]:
    """A packaged data file, parsed (``catalog.tomldata``: from its cache when the text is the
    same).  A plain path when the package is on disk (always, for a pip or editable install:
    importlib.resources alone costs ~9 ms of start-up); importlib.resources only for zipped
    installs."""
    path = _DATA_DIR / name
    if path.is_file():
        return tomldata.load(path)
    from importlib import resources  # pragma: no cover - zipapp / zipped egg

    return tomldata.table(resources.files("why502.catalog").joinpath("data", name))  # pragma: no cover


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    """Read the TOML data once per process."""
    by_kind: dict[Kind, dict[str, Entry]] = {}
    for kind, name in _FILES.items():
        data = _data_table(name)
        table: dict[str, Entry] = {}
        for raw in data.get(kind, []):
            entry = _entry(kind, raw)
            if entry.id in table:
                raise ValueError(f"duplicate catalog id {entry.id!r} in {name}")
            table[entry.id] = entry
        by_kind[kind] = table
    return Catalog(by_kind)


@lru_cache(maxsize=1)
def load_statuses() -> dict[str, StatusPage]:
    """Status-code pages keyed by the code as written in logs (``"502"``, ``"009"``)."""
    data = _data_table("statuses.toml")
    pages: dict[str, StatusPage] = {}
    for raw in data.get("status", []):
        raw = dict(raw)
        producers = [Producer(**p) for p in raw.pop("produced_by", [])]
        page = StatusPage(produced_by=producers, **raw)
        if page.code in pages:
            raise ValueError(f"duplicate status page {page.code!r} in statuses.toml")
        pages[page.code] = page
    return pages


def status_leads(page: StatusPage, catalog: Catalog) -> tuple[list[Entry], list[Entry]]:
    """(symptoms, causes) that lead to ``page.code``: the page's own list first (most common
    first), then every other entry whose ``status_codes`` contain the code, in catalog order."""
    result: list[list[Entry]] = []
    for kind, listed in (("symptom", page.symptoms), ("cause", page.causes)):
        k: Kind = "symptom" if kind == "symptom" else "cause"
        entries = [e for e in (catalog.get(i, k) for i in listed) if e is not None]
        entries += [e for e in catalog.of_kind(k)
                    if has_status(e.status_codes, page.code) and e not in entries]
        result.append(entries)
    return result[0], result[1]


def has_status(codes: list[int], code: str) -> bool:
    """True when ``code`` (as logged, ``"009"``) is one of ``codes``."""
    return any(format_status(c) == code for c in codes)


def format_status(code: int) -> str:
    """``9`` -> ``"009"``, ``502`` -> ``"502"``: how the access log writes it (``%03ui``)."""
    return f"{code:03d}"
