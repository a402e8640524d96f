"""``--format json`` and ``--format jsonl`` of every typed result: ``render(result, options)``.

One renderer for the JSON of ``stats``, ``classify``, ``explain``, ``causes``, ``fleet`` and
``watch`` (``findings.results``): the result's ``to_dict()`` through ``textutil.dump_json``
(strict, inert), one document or one line.  Before, each command dumped its own dict in its own
way.  ``reporters.json`` dispatches: diagnose's ``Report`` keeps ``json.report.to_json``, lint its
``json.lint``/``sarif`` (they need the tool's version).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from why502.textutil import dump_json


class JsonResult(Protocol):
    """A typed result: its JSON document."""

    def to_dict(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class JsonOptions:
    """``indent``: 2 for a document a person may read, None for one line (jsonl, or classify's
    one object); ``default``: how a value JSON has no type for is written (stats: ``str``)."""

    indent: int | None = 2
    default: Callable[[Any], object] | None = None


DOCUMENT = JsonOptions()
LINE = JsonOptions(indent=None)


def render(result: JsonResult | Sequence[JsonResult], options: JsonOptions = DOCUMENT) -> str:
    """The result (or a list of results: one JSON array) as JSON text, ending with a newline."""
    doc: object = ([r.to_dict() for r in result] if isinstance(result, Sequence)
                   else result.to_dict())
    return dump_json(doc, indent=options.indent, default=options.default) + "\n"
