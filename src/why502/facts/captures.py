"""The facts a catalog pattern found in one log line (``catalog/data/patterns.toml``).

A pattern's named groups (``pid``, ``process``, ``pool``, ``unit``, ...) are kept with the
classified record and the evidence built from it, as ``(name, value)`` pairs in the order the
pattern found them, so no later layer recognises the same line again.
"""

from __future__ import annotations

Captures = tuple[tuple[str, str], ...]


def find_capture(captures: Captures, name: str) -> str | None:
    """The value captured as ``name``, or None."""
    return next((value for key, value in captures if key == name), None)
