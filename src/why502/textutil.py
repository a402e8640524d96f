"""Small pure text helpers shared by every layer.

Log content is hostile: clients control request lines, so anything that came from a log must be
made inert before it reaches a terminal (escape sequences) or a page (HTML escaping is done by the
HTML reporter itself).
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Callable, Iterator
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


_SGR = re.compile(r"\x1b\[[0-9;:]*[A-Za-z]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)")
"""The escape sequences a colour renderer writes (CSI ... m, and OSC 8 links)."""


def fit_width(text: str, width: int, *, keep_words: bool = False) -> str:
    """``text`` with every line longer than ``width`` columns wrapped at spaces, each continuation
    indented 2 more than its line: for the plain-text pages (``explain``, ``causes``) whose long
    lines (commands, listings) ran past an 80-column terminal (issue 31).  A word longer than
    the width is broken; with ``keep_words`` it is kept whole on a line of its own instead (the
    file paths ``fix`` and ``mitigate`` print: one cut in two no longer pastes, and ``fix --list``
    cut a config's path in the middle).  A line holding escape sequences (colour, on a terminal)
    is measured by what it shows; one too wide loses its colour and is wrapped (cutting inside a
    sequence would garble the terminal; leaving it whole ran explain's pages past the terminal's edge)."""
    import textwrap

    out: list[str] = []
    for line in text.split("\n"):
        if "\x1b" in line:
            plain = _SGR.sub("", line)
            if len(plain) <= width:
                out.append(line)
                continue
            line = plain
        if len(line) <= width:
            out.append(line)
            continue
        lead = line[: len(line) - len(line.lstrip(" "))]
        out += textwrap.wrap(line.strip(), width=width, initial_indent=lead, subsequent_indent=lead + "  ",
                             break_on_hyphens=False, break_long_words=not keep_words,
                             drop_whitespace=True) or [line]
    return "\n".join(out)


def compact_time(iso: str | None, year: int | None = None) -> str:
    """A time as a table shows it, never longer than needed (issue 31: ``2026-11-21T21:13:58``
    was split over three lines at 80 columns): ``11-21 21:13:58`` in ``year`` (the run's, by
    default), the full ``2026-11-21 21:13:58`` in another year; "-" for none.  A text that is
    not an ISO time is returned as it is."""
    if not iso:
        return "-"
    text = iso.replace("T", " ")
    if len(text) >= 16 and text[4] == "-" and text[7] == "-" and text[10] == " ":
        import datetime as _dt

        this = year if year is not None else _dt.datetime.now().year
        text = text[:19]  # no fraction, no offset: the log's own local wall time
        if text[:4] == str(this):
            return text[5:]
    return text


class FittedStream:
    """A text stream whose complete lines are written through :func:`fit_width` (``fix``,
    ``mitigate``: their plans and notes are written line by line to a stream).  A partial line
    (a ``[y/N]`` question) goes out as it is when flushed; anything else is the wrapped
    stream's (``isatty``, ``fileno``)."""

    def __init__(self, stream: TextIO, width: int, keep: re.Pattern[str] | None = None) -> None:
        self._stream = stream
        self._width = width
        self._keep = keep  # lines written whole (a diff's: they must read as the file will)
        self._pending = ""

    def write(self, text: str) -> int:
        self._pending += text
        if "\n" in self._pending:
            done, self._pending = self._pending.rsplit("\n", 1)
            keep = self._keep
            lines = [line if keep is not None and keep.match(line)
                     else fit_width(line, self._width, keep_words=True) for line in done.split("\n")]
            self._stream.write("\n".join(lines) + "\n")
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._stream.write(self._pending)
            self._pending = ""
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


DIFF_LINE = re.compile(r"    [-+ @]")
"""A line of a diff as ``fix`` and ``mitigate`` print it (indented 4): never wrapped, since a
wrapped line would read as two lines of the file (a terminal narrower than it wraps it on
screen, the text stays the file's)."""


@contextlib.contextmanager
def fitted_stdout(width: int) -> Iterator[None]:
    """``sys.stdout`` as a :class:`FittedStream` of ``width`` while the block runs (a command
    that writes its text line by line: ``fix``, ``mitigate``), diff lines (``DIFF_LINE``) kept
    whole, flushed and put back after."""
    import sys

    saved = sys.stdout
    fitted = FittedStream(saved, width, DIFF_LINE)
    sys.stdout = fitted  # type: ignore[assignment]
    try:
        yield
    finally:
        sys.stdout = saved
        fitted.flush()


def strip_comment(line: str) -> str:
    """``line`` without its ``#`` comment (a ``#`` inside quotes is not a comment): nginx
    (``ngx_conf_read_token``, src/core/ngx_conf_file.c) and HAProxy (configuration.txt 2.2) read
    ``#`` outside quotes to the end of the line as a comment.  Here (not in nginx's folder) since
    lint's inline suppressions read every proxy's comments with it (``analyzers.lint.suppress``)."""
    if "#" not in line:
        return line
    out = []
    quote = ""
    for ch in line:
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "#":
            break
        out.append(ch)
    return "".join(out)


_SIZE_UNITS = {"": 1, "k": 1024, "m": 1024 * 1024, "g": 1024 * 1024 * 1024}


def parse_size(text: str) -> int | None:
    """``4k`` -> 4096, ``1m`` -> 1048576, ``512`` -> 512 (``ngx_parse_size``, src/core/ngx_parse.c).

    nginx's sizes (``proxies.nginx.config.units``) and the CLI's (``lint --mem-total 2048m``)
    are read by this one function, here so that ``app.lint`` imports no proxy's folder.

    Returns ``None`` when the text is not a size (a variable, garbage).
    """
    m = re.fullmatch(r"\s*(\d+)([kKmMgG]?)\s*", text)
    if not m:
        return None
    return int(m.group(1)) * _SIZE_UNITS[m.group(2).lower()]


# The first bytes polars' readers take for a compressed input and decompress instead of reading
# (``read_csv``, ``scan_csv``, ``read_lines``, ``read_ndjson``, on bytes and on files alike; polars
# 2.1, polars-io ``utils/compression.rs``: gzip 1f 8b, zlib 78 01/5e/9c/da, zstd 28 b5 2f fd).  A
# log whose first line starts ``x^`` or ``x\x01`` is text: polars failed it "corrupt deflate
# stream" -- an internal error for ``classify`` and ``stats``, the whole log refused by
# ``diagnose``.  The second bytes of the zlib header with a preset dictionary (78 20/7d/bb/f9) are
# guarded too, should a later polars take them.
_SNIFFED_MAGIC = re.compile(rb"\A(?:\x1f\x8b|x[\x01\x5e\x9c\xda\x20\x7d\xbb\xf9]|\x28\xb5\x2f\xfd)")


def polars_sniffs(data: bytes | memoryview) -> bool:
    """Would polars read ``data`` (the first bytes of an input) as compressed?"""
    return _SNIFFED_MAGIC.match(bytes(data[:4])) is not None


def unsniffed(data: bytes) -> tuple[bytes, int]:
    """``data`` as polars reads it as text: when it starts like a compressed stream
    (:func:`polars_sniffs`), with a blank line put before it (the caller drops that first row),
    and 1; else ``data`` as it is, and 0.  The copy is made only for such an input."""
    return (b"\n" + data, 1) if polars_sniffs(data) else (data, 0)


def lines_at(data: bytes, rows: list[int]) -> list[bytes | None]:
    """The bytes of lines ``rows`` (0-based, ascending) of ``data`` (``None`` past the end).

    The few lines that the fast parser rejects are needed as text, and splitting a whole chunk
    into a list of lines for them costs more than the rest of the parse: instead newlines are
    counted window by window (C speed) up to each wanted line.  Many wanted lines (a wrong
    format): one split is cheaper."""
    if len(rows) * 64 > len(data) // 128:
        lines = data.split(b"\n")
        return [lines[r] if r < len(lines) else None for r in rows]
    out: list[bytes | None] = []
    pos = 0  # an offset in data
    seen = 0  # newlines in data[:pos]
    window = 1 << 16
    for r in rows:
        while seen < r:
            k = data.count(b"\n", pos, pos + window)
            if seen + k < r and pos + window < len(data):
                pos += window
                seen += k
                continue
            while seen < r:
                nl = data.find(b"\n", pos)
                if nl < 0:
                    break
                pos = nl + 1
                seen += 1
            break
        if seen < r:
            out.append(None)
            continue
        end = data.find(b"\n", pos)
        out.append(data[pos : end if end >= 0 else len(data)])
    return out
