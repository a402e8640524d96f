"""What two runs' JSON reports are compared by: the report without the fields that say when and
how long (``generated_at``, ``elapsed_ms``), or without any other named fields, recursively."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any


def without(doc: Any, keys: Collection[str]) -> Any:
    """``doc`` with no member named one of ``keys``, at any depth."""
    if isinstance(doc, dict):
        return {k: without(v, keys) for k, v in doc.items() if k not in keys}
    if isinstance(doc, list):
        return [without(x, keys) for x in doc]
    return doc


def without_timing(doc: Any) -> Any:
    return without(doc, ("generated_at", "elapsed_ms"))
