"""What two runs' JSON reports are compared by: the report without the fields that say when and
how long (``generated_at``, ``elapsed_ms``), recursively."""

from __future__ import annotations

from typing import Any


def without_timing(doc: Any) -> Any:
    if isinstance(doc, dict):
        return {k: without_timing(v) for k, v in doc.items() if k not in ("generated_at", "elapsed_ms")}
    if isinstance(doc, list):
        return [without_timing(x) for x in doc]
    return doc
