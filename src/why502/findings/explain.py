"""The answer to one ``why502 explain`` argument (``Explanation``): catalog entries, a status
page, a proxy's word, or a pasted log line as the classifier read it (``LineInfo``).

A plain result of catalog types, rendered for a person by ``reporters.text.explain`` and as
``explain --format json`` by ``ExplainResult`` (``findings.results``, built by
:meth:`Explanation.result`).  How an argument is resolved (the catalog, the classifier, the
registry's page of a proxy) is ``app.explain``.  Moved from there (issue 23, item 5: every
result a ``findings`` type; the reporter read it through ``Protocol`` stand-ins).  Importing it
loads no other ``findings`` module: ``explain ID`` starts fast (``bench/startup.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from why502.catalog import Entry, StatusPage
from why502.catalog import explain as cat
from why502.catalog.terms import Term

if TYPE_CHECKING:
    from why502.findings.results import ExplainResult


@dataclass(frozen=True)
class LineInfo:
    """What the classifier recognised in a pasted line (fields of ``classify --format jsonl``)."""

    fields: dict[str, str | int | None]  # Classified.to_dict()
    unseen: tuple[str, ...] = ()  # what a whole line would say and this one does not (a fragment)
    repaired: tuple[str, ...] = ()  # paste damage undone before it could be read (normalize)
    # the page of the program that wrote the line (docs/proxies/<proxy>.md), or None: the
    # registry's answer, asked by app.explain (proxy_page) when it read the line
    page: str | None = None

    @property
    def symptom(self) -> str:
        return str(self.fields.get("symptom") or "")


@dataclass(frozen=True)
class Explanation:
    """The answer to one ``explain`` argument: catalog entries, a status page, or a classified line."""

    query: str
    type: str  # "id" | "status" | "line" | "term"
    entries: list[Entry] = field(default_factory=list)
    status: StatusPage | None = None
    line: LineInfo | None = None
    # a load balancer's / proxy's own word (Envoy flag, ALB condition, Cloudflare 52x ...)
    terms: list[Term] = field(default_factory=list)

    def result(self) -> ExplainResult:
        """The typed result of ``explain --format json`` (``schemas/explain.schema.json``);
        imported here, not at module level: the text page (``explain ID``'s start-up) needs none of it."""
        from why502.findings.results import ExplainResult

        return ExplainResult(
            query=self.query, type=self.type, entries=[cat.entry_to_dict(e) for e in self.entries],
            status=cat.status_to_dict(self.status) if self.status else None,
            line=({**self.line.fields, "unseen": list(self.line.unseen),
                   "repaired": list(self.line.repaired), "page": self.line.page} if self.line else None),
            terms=[t.to_dict() for t in self.terms])

    def to_dict(self) -> dict[str, Any]:  # Any: the JSON document of ``explain --format json``
        return self.result().to_dict()
