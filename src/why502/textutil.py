"""Small pure text helpers shared by every layer.

Log content is hostile: clients control request lines, so anything that came from a log must be
made inert before it reaches a terminal (escape sequences) or a page (HTML escaping is done by the
HTML reporter itself).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import Any, TextIO

# The C0/C1 control characters except tab and newline (ESC starts CSI/OSC sequences, U+009B and U+009D are
# one-character CSI/OSC), DEL, and the bidi embeddings/overrides/isolates that reorder what is
# displayed (U+202A-U+202E, U+2066-U+2069: "Trojan Source", CVE-2021-42574).
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def strip_terminal_escapes(text: str) -> str:
    """Make ``text`` inert for a terminal: every control character is shown as ``\\xNN``.

    Used on every string that came from an input before it is printed to a terminal, so a
    request line such as ``GET /\\x1b]0;pwned\\x07`` cannot retitle or recolour the user's
    terminal.  The characters are replaced by a visible escape rather than removed: removing
    them would show ``/adm\\x1b[2Jin`` as ``/admin``, a path the client never asked for.
    """
    return _CONTROLS.sub(_visible, text)


# C1 controls (U+0080-U+009F: CSI, OSC, ST as single code points) and the line/paragraph
# separators and bidi overrides: json.dumps(ensure_ascii=False) and polars' ndjson writer pass them raw, and a
# terminal that shows the JSON (`jq`, `less -R`, `cat`) acts on a raw U+009B like on ESC [.
_JSON_RAW = re.compile("[\u0080-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def json_inert(text: str) -> str:
    """Escape the C1 controls (and U+2028/U+2029, the bidi overrides) of serialised JSON text as ``\\u00XX``.

    Valid on any JSON document: these characters can only occur inside strings, where the
    ``\\u`` form means the same value (RFC 8259 section 7), so the data is unchanged and the
    bytes carry no control sequence.  ASCII text (most logs) has none of them: ``str.isascii``
    answers that at memory speed, where the regex scan cost ~20 % of ``classify --format jsonl``.
    """
    if text.isascii():
        return text
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


# Strict JSON: Python's json writes NaN, Infinity and -Infinity for non-finite floats by default;
# RFC 8259 section 6 says "Numeric values that cannot be represented in the grammar below (such as
# Infinity and NaN) are not permitted", and jq, JavaScript's JSON.parse and Go's encoding/json
# refuse them.  So the writers below pass allow_nan=False (a non-finite float is a bug that raises,
# never invalid output), and a value that may be non-finite is made finite() where it is produced.


def finite(value: float | None) -> float | None:
    """``value`` when it is a finite number, else ``None`` (JSON ``null``)."""
    if value is None or not math.isfinite(value):
        return None
    return value


def dump_json(data: object, *, indent: int | None = 2, sort_keys: bool = False,
              default: Callable[[Any], object] | None = None) -> str:
    """``json.dumps`` of ``data`` as UTF-8 text with control characters escaped (no raw C1),
    strict (``ValueError`` on NaN or an infinity, never ``NaN`` in the output)."""
    return json_inert(json.dumps(data, indent=indent, ensure_ascii=False, sort_keys=sort_keys,
                                 default=default, allow_nan=False))


def write_json(out: TextIO, data: object, *, indent: int | None = 2, chunk: int = 1 << 16) -> None:
    """:func:`dump_json` written to ``out`` piece by piece: the same text, without holding it
    whole (lint's SARIF of a 4 MiB config is ~40 MB, and the string plus its escaped copy were
    ~100 MB of the peak).  :func:`json_inert` works character by character, so escaping each
    piece gives the escaped whole."""
    pending: list[str] = []
    size = 0
    for part in json.JSONEncoder(indent=indent, ensure_ascii=False, allow_nan=False).iterencode(data):
        pending.append(part)
        size += len(part)
        if size >= chunk:
            out.write(json_inert("".join(pending)))
            pending, size = [], 0
    out.write(json_inert("".join(pending)))


def shorten(text: str, width: int) -> str:
    """Cut ``text`` to ``width`` characters, marking the cut with an ellipsis."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def plural(count: int, noun: str, plural_form: str | None = None) -> str:
    """``"1 line"``, ``"2,000 lines"``: a count with its noun, thousands separated."""
    word = noun if count == 1 else (plural_form or noun + "s")
    return f"{count:,} {word}"
