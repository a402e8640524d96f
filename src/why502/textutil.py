"""Small pure text helpers shared by every layer.

Log content is hostile: clients control request lines, so anything that came from a log must be
made inert before it reaches a terminal (escape sequences) or a page (HTML escaping is done by the
HTML reporter itself).
"""

from __future__ import annotations

import re

# CSI / OSC / other ESC sequences and the C0/C1 control characters except tab.
_ESCAPES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI ... final byte
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC ... BEL or ST
    r"|\x1b[@-Z\\-_]"  # two-byte escapes
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"  # remaining control characters
)


def strip_terminal_escapes(text: str) -> str:
    """Return ``text`` with terminal escape sequences and control characters removed.

    Used on every string that came from an input before it is printed to a terminal, so a
    request line such as ``GET /\\x1b]0;pwned\\x07`` cannot retitle or recolour the user's
    terminal.
    """
    return _ESCAPES.sub("", text)


def shorten(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` characters, marking the cut with an ellipsis."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``"1 line"``, ``"2,000 lines"``: a count with its noun, thousands separated."""
    word = noun if count == 1 else (plural_form or noun + "s")
    return f"{count:,} {word}"
