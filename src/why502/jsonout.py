"""Strict JSON out: what why502 writes must be JSON every parser accepts.

Python's ``json.dumps`` writes ``NaN``, ``Infinity`` and ``-Infinity`` for non-finite floats by
default; RFC 8259 section 6 says "Numeric values that cannot be represented in the grammar below
(such as Infinity and NaN) are not permitted", and ``jq``, JavaScript's ``JSON.parse`` and Go's
``encoding/json`` refuse them.  So every JSON writer goes through :func:`dumps` (``allow_nan=False``:
a non-finite float is a bug that raises, never invalid output), and a value that may be
non-finite (a rate Prometheus computed, a ratio) is made :func:`finite` (``None`` -> ``null``)
where it is produced.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["dumps", "finite"]


def dumps(obj: Any, **kwargs: Any) -> str:
    """``json.dumps`` that refuses NaN and infinities (``ValueError``) instead of writing them."""
    return json.dumps(obj, allow_nan=False, **kwargs)


def finite(value: float | None) -> float | None:
    """``value`` when it is a finite number, else ``None`` (JSON ``null``)."""
    if value is None or not math.isfinite(value):
        return None
    return value
