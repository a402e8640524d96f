"""PCRE regexes (as nginx compiles them: without UTF, ASCII classes) on polars' Rust engine,
with Python's ``re`` as the fallback and the one-request reference.

:func:`pcre_to_rust` translates a pattern to the meaning PCRE gives it (``\\d \\w \\s``
ASCII, ``$`` and ``\\Z`` also before a final newline) or says it cannot (look-around,
back-references, possessive quantifiers, atomic groups); such a regex runs with Python's ``re``
(``re.ASCII``) over the *unique* values of each batch only (:func:`python_contains`).  A regex
neither engine compiles never matches (``Regex.supported`` is false; callers say so).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import polars as pl

_ASCII_CLASSES = {
    "d": "0-9",
    "w": "0-9A-Za-z_",
    "s": "\\t\\n\\x0B\\x0C\\r ",
}
_PCRE_ONLY_ESCAPES = set("123456789gkKQEGhHvVRXCNpP")


def _open_class(pattern: str, i: int, out: list[str]) -> int:
    """Copy the ``[`` at ``i`` that opens a character class, with a leading ``^`` and a leading
    ``]`` (a literal there in PCRE, written ``\\]`` for the other engines); return the index
    after them.  Shared by both translators."""
    out.append("[")
    i += 1
    if i < len(pattern) and pattern[i] == "^":
        out.append("^")
        i += 1
    if i < len(pattern) and pattern[i] == "]":
        out.append("\\]")
        i += 1
    return i


def pcre_to_rust(pattern: str) -> str | None:
    """A PCRE pattern (nginx compiles without UTF, so classes are ASCII) -> the same regex for
    Rust's ``regex`` crate, or None when it needs PCRE-only syntax (look-around,
    back-references, atomic groups, possessive quantifiers, ``\\K``, ``\\Q``, comments,
    recursion) that Rust does not have.  ``\\d \\w \\s`` become ASCII classes, ``$`` and ``\\Z``
    ``(?:\\n?\\z)`` (PCRE's end, before a final newline too), ``\\b`` ASCII."""
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                return None
            e = pattern[i + 1]
            i += 2
            if e in _PCRE_ONLY_ESCAPES:
                return None
            low = e.lower()
            if low in _ASCII_CLASSES:
                if in_class:
                    if e != low:
                        return None  # [\D] and friends: leave it to Python
                    out.append(_ASCII_CLASSES[low])
                else:
                    out.append(("[" if e == low else "[^") + _ASCII_CLASSES[low] + "]")
            elif not in_class and e == "Z":
                out.append("(?:\\n?\\z)")
            elif not in_class and e in "bB":
                out.append(f"(?-u:\\{e})")
            else:
                out.append("\\" + e)
            continue
        if in_class:
            if c == "]":
                in_class = False
            elif c == "[" and pattern.startswith("[:", i):
                end = pattern.find(":]", i + 2)
                if end < 0:
                    return None
                out.append(pattern[i:end + 2])
                i = end + 2
                continue
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            i = _open_class(pattern, i, out)
            continue
        if c == "(" and pattern.startswith("(?", i):
            rest = pattern[i + 2:]
            if rest.startswith(("<", "P<")) and not rest.startswith(("<=", "<!")):
                out.append(c)
                i += 1
                continue
            if re.match(r"[imsxU-]*[:)]", rest) and "m" not in rest.split(")")[0].split(":")[0]:
                out.append(c)
                i += 1
                continue
            return None  # (?= (?! (?<= (?<! (?> (?| (?# (?R (?( (?P= (?P> (?m ...
        if c in "*+?}" and i + 1 < n and pattern[i + 1] == "+":
            return None  # possessive
        if c == "$":
            out.append("(?:\\n?\\z)")
            i += 1
            continue
        if not c.isascii():  # a byte (byte_text): PCRE's default tables fold ASCII letters only
            out.append(f"(?-i:{c})")
            i += 1
            continue
        out.append(c)
        i += 1
    if in_class:
        return None
    return "".join(out)


_POSIX = {
    "alpha": "A-Za-z", "digit": "0-9", "alnum": "0-9A-Za-z", "upper": "A-Z", "lower": "a-z",
    "space": "\\t\\n\\x0B\\x0C\\r ", "blank": "\\t ", "xdigit": "0-9A-Fa-f", "word": "0-9A-Za-z_",
    "punct": "!-/:-@\\[-`{-~", "cntrl": "\\x00-\\x1F\\x7F", "print": " -~", "graph": "!-~",
    "ascii": "\\x00-\\x7F",
}


def pcre_to_python(pattern: str) -> str | None:
    """The same for Python's ``re`` (used with ``re.ASCII``): ``(?<name>`` -> ``(?P<name>``,
    ``\\z`` -> ``\\Z``, PCRE's ``\\Z`` -> ``(?=\\n?\\Z)``, POSIX classes (``[[:digit:]]``) ->
    ASCII ranges; None for a negated POSIX class.  The rest is common syntax."""
    out: list[str] = []
    i, n = 0, len(pattern)
    in_class = False
    while i < n:
        c = pattern[i]
        if c == "\\" and i + 1 < n:
            e = pattern[i + 1]
            if not in_class and e == "z":
                out.append("\\Z")
            elif not in_class and e == "Z":
                out.append("(?=\\n?\\Z)")
            else:
                out.append(pattern[i:i + 2])
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
            elif pattern.startswith("[:", i):
                end = pattern.find(":]", i + 2)
                posix = _POSIX.get(pattern[i + 2:end]) if end > 0 else None
                if posix is None:
                    return None
                out.append(posix)
                i = end + 2
                continue
        elif c == "[":
            in_class = True
            i = _open_class(pattern, i, out)
            continue
        elif pattern.startswith("(?<", i) and not pattern.startswith(("(?<=", "(?<!"), i):
            out.append("(?P<")
            i += 3
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _rust_ok(pattern: str) -> bool:
    try:
        pl.Series([""], dtype=pl.String).str.contains(pattern)
    except Exception:  # polars raises ComputeError for a pattern Rust's regex rejects
        return False
    return True


@dataclass(frozen=True)
class Regex:
    """A location or server-name regex, compiled for the engine that can run it."""

    source: str
    caseless: bool
    rust: str | None
    python: re.Pattern[str] | None

    @property
    def supported(self) -> bool:
        return self.rust is not None or self.python is not None

    def search(self, text: str) -> bool:
        """One string (the Python reference): Python's ``re`` when it compiles, else Rust."""
        if self.python is not None:
            return self.python.search(text) is not None
        if self.rust is not None:
            return bool(pl.Series([text]).str.contains(self.rust).item())
        return False

    def contains(self, col: pl.Expr) -> pl.Expr:
        if self.rust is not None:
            return col.str.contains(self.rust).fill_null(False)
        if self.python is not None:
            return col.map_batches(python_contains(self.python), return_dtype=pl.Boolean,
                                   is_elementwise=True).fill_null(False)
        return pl.lit(False)


def python_contains(rx: re.Pattern[str]) -> Callable[[pl.Series], pl.Series]:
    """The documented fallback for PCRE-only regexes: Python's ``re`` once per *unique* value
    of the batch (a log repeats its URIs), then a vectorised ``is_in`` back to every row."""

    def run(s: pl.Series) -> pl.Series:
        uniq = s.drop_nulls().unique().to_list()
        hits = [v for v in uniq if rx.search(v) is not None]
        return s.is_in(pl.Series(hits, dtype=pl.String).implode())

    return run


_REGEX_CACHE: dict[tuple[str, bool], Regex] = {}


def compile_regex(pattern: str, caseless: bool) -> Regex:
    """A PCRE pattern (already :func:`byte_text` for locations) for both engines: Rust when
    :func:`pcre_to_rust` translates it and polars compiles it, Python's ``re`` as the
    fallback and as the one-request reference.  Cached: configs repeat their regexes."""
    key = (pattern, caseless)
    got = _REGEX_CACHE.get(key)
    if got is not None:
        return got
    rust = pcre_to_rust(pattern)
    if rust is not None and caseless:
        rust = "(?i)" + rust
    if rust is not None and not _rust_ok(rust):
        rust = None
    py: re.Pattern[str] | None = None
    translated = pcre_to_python(pattern)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # "possible nested set": a PCRE construct re reads otherwise
            py = re.compile(translated, re.ASCII | (re.IGNORECASE if caseless else 0)) if translated else None
    except (re.error, FutureWarning):
        py = None
    got = Regex(pattern, caseless, rust, py)
    _REGEX_CACHE[key] = got
    return got
