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


def finite(data: Any) -> Any:
    """``data`` with every NaN and infinity (at any depth) replaced by ``None``: JSON has no such
    numbers (RFC 8259 section 6), so they are written ``null``, as JavaScript's own
    ``JSON.stringify`` writes them (ECMA-262, SerializeJSONProperty).  Containers without one are
    returned as they are (no copy)."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        items = {k: finite(v) for k, v in data.items()}
        return data if all(items[k] is v for k, v in data.items()) else items
    if isinstance(data, (list, tuple)):
        values = [finite(v) for v in data]
        return data if all(a is b for a, b in zip(values, data)) else values
    return data


def dump_json(data: object, *, indent: int | None = 2, sort_keys: bool = False,
              default: Callable[[Any], object] | None = None,
              separators: tuple[str, str] | None = None) -> str:
    """``json.dumps`` of ``data`` as UTF-8 text with control characters escaped (no raw C1) and
    strict: never ``NaN``/``Infinity`` (invalid JSON that ``jq``, browsers and most parsers
    refuse) -- a non-finite number is written ``null`` (:func:`finite`).  Every JSON document
    why502 writes for a person or a program goes through here or :func:`write_json`
    (tests/reporters/test_strict_json.py checks that no other module writes JSON itself)."""
    def dumps(value: object) -> str:
        return json.dumps(value, indent=indent, ensure_ascii=False, sort_keys=sort_keys, default=default,
                          separators=separators, allow_nan=False)

    try:
        text = dumps(data)
    except ValueError as err:
        if not str(err).startswith("Out of range float"):
            raise
        text = dumps(finite(data))  # only when there is one: the walk is not paid on every report
    return json_inert(text)


def write_json(out: TextIO, data: object, *, indent: int | None = 2, chunk: int = 1 << 16) -> None:
    """:func:`dump_json` written to ``out`` piece by piece: the same text, without holding it
    whole (lint's SARIF of a 4 MiB config is ~40 MB, and the string plus its escaped copy were
    ~100 MB of the peak).  :func:`json_inert` works character by character, so escaping each
    piece gives the escaped whole.  Strict too: lint's documents hold no float, so a NaN here is
    a bug and raises (exit 4) rather than write ``NaN``; walking 10,000 findings for one with
    :func:`finite` first would cost ~20 % of the write."""
    pending: list[str] = []
    size = 0
    encoder = json.JSONEncoder(indent=indent, ensure_ascii=False, allow_nan=False)
    for part in encoder.iterencode(data):
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


def fit_width(text: str, width: int) -> str:
    """``text`` with every line longer than ``width`` columns wrapped at spaces, each continuation
    indented 2 more than its line: for the plain-text pages (``explain``, ``causes``) whose long
    lines (commands, listings) ran past an 80-column terminal (issue 31).  A word longer than
    the width is broken; a line holding an escape sequence (colour) is left whole, since cutting
    inside one would garble the terminal."""
    import textwrap

    out: list[str] = []
    for line in text.split("\n"):
        if len(line) <= width or "\x1b" in line:
            out.append(line)
            continue
        lead = line[: len(line) - len(line.lstrip(" "))]
        out += textwrap.wrap(line.strip(), width=width, initial_indent=lead, subsequent_indent=lead + "  ",
                             break_on_hyphens=False, drop_whitespace=True) or [line[:width]]
    return "\n".join(out)
