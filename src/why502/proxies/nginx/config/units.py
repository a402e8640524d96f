"""nginx's value syntax: sizes (``4k``), times (``1m30s``), and seconds back to text.

The same parse rules as ``ngx_parse_size()`` and ``ngx_parse_time()`` (``src/core/ngx_parse.c``),
so a value read from a config means what it means to nginx.
"""

from __future__ import annotations

import re

from why502.textutil import parse_size as parse_size  # the CLI's sizes read the same (textutil)

_TIME_UNITS = {
    "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0,
    "M": 2592000.0, "y": 31536000.0,
}
_TIME_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|M|y)?")


def parse_time(text: str) -> float | None:
    """``60s`` -> 60.0, ``1m30s`` -> 90.0, ``500ms`` -> 0.5, ``75`` -> 75.0 seconds.

    ``ngx_parse_time`` (src/core/ngx_parse.c): a bare number is seconds; parts combine
    (``1h 30m`` with or without spaces).  ``None`` when the text is not a time.
    """
    compact = text.strip().replace(" ", "")
    if not compact:
        return None
    pos, total = 0, 0.0
    while pos < len(compact):
        m = _TIME_PART.match(compact, pos)
        if not m or m.end() == pos:
            return None
        total += int(m.group(1)) * _TIME_UNITS[m.group(2) or "s"]
        pos = m.end()
    return total


def format_seconds(seconds: float) -> str:
    """60.0 -> ``60s``, 0.5 -> ``500ms`` (for messages)."""
    if seconds < 1 and seconds > 0:
        return f"{round(seconds * 1000)}ms"
    return f"{seconds:g}s"

