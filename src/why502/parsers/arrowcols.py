"""Columns a native pass built, handed to polars through the Arrow PyCapsule interface.

The C passes (nginx's ``_scan.access_columns``, the ALB reader's ``_albscan.alb_columns``) build
their columns without the GIL and return them as an ``arrow_schema`` and an ``arrow_array``
capsule (``src/why502/native/arrow_buf.h``); ``pl.DataFrame`` imports any object that hands them
out from ``__arrow_c_array__`` (a struct array unnested into columns), one copy per column in
polars' Rust and none per row in Python.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import polars as pl


class ArrowColumns:
    """A native pass's capsules as an object of the Arrow PyCapsule interface."""

    def __init__(self, schema: object, array: object) -> None:
        self._capsules = (schema, array)

    def __arrow_c_array__(self, requested_schema: object | None = None) -> tuple[object, object]:
        return self._capsules


def frame(schema: object, array: object) -> pl.DataFrame:
    """The capsules of a native pass as a frame."""
    return pl.DataFrame(ArrowColumns(schema, array))


def joined_bytes(lines: pl.Series) -> bytes:
    """The lines of a string column joined by newlines, as the UTF-8 bytes a native pass reads
    (nulls left out, as ``str.join`` leaves them).  Polars' strings are UTF-8 already: the join
    cast to binary is those bytes, where ``.item().encode()`` made a Python ``str`` of the whole
    block (its decoding and a copy) and then encoded it (another copy): 0.07 -> 0.03 s per 200k
    HAProxy lines (BENCHMARKS.md stop 61)."""
    return bytes(lines.str.join("\n").cast(pl.Binary).item() or b"")


def group_flags(flags: list[bool], group: pl.Series) -> pl.Series:
    """Each line's flag of its group, from a native pass's group of each line (``group``: int,
    -1 a line it did not take, whose flag is False): ``flags`` with a False appended, gathered at
    ``(g + n + 1) mod (n + 1)`` -- -1 lands on the appended slot -- with no hash table (a
    ``replace`` would build one).  The finders' masks of the lines they read (HAProxy's session
    groups, Apache's keys)."""
    slots = len(flags) + 1
    return pl.Series([*flags, False], dtype=pl.Boolean).gather((group + slots) % slots)


def native_on() -> bool:
    """Whether the native passes may run (``WHY502_NATIVE=0`` turns every one off: the polars
    readers then do everything, for comparison and tests)."""
    return os.environ.get("WHY502_NATIVE", "1") != "0"


def native_pass(module: str, entry: str | None = None) -> ModuleType | None:
    """A native pass's module (``module``, dotted), when it was built (``setup.py``: optional),
    has ``entry`` (a build from before that function was added lacks it) and is not turned off
    (:func:`native_on`); else None, and the polars readers do its work."""
    if not native_on():
        return None
    try:
        found = importlib.import_module(module)
    except ImportError:
        return None
    return found if entry is None or hasattr(found, entry) else None
