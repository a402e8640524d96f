"""PHP-FPM's access-log lines, read with the pool's own ``access.format``.

The placeholders and their output are php-src's (``sapi/fpm/fpm/fpm_log.c``,
``fpm_log_write()``): ``%%``, ``%C`` (``{total|user|system}``), ``%d`` (duration,
``{seconds|mili|miliseconds|micro|microseconds}``, seconds with three decimals by default),
``%e`` (``{NAME}``, a FastCGI variable), ``%f`` (script), ``%l`` (content length), ``%m``
(method), ``%M`` (memory, ``{bytes|kilo|kilobytes|mega|megabytes}``), ``%n`` (pool), ``%o``
(``{Header}``), ``%p``/``%P`` (pid, parent pid), ``%q`` (query string), ``%Q`` (``?`` when there
is one), ``%r`` (request URI), ``%R`` (remote address), ``%s`` (status), ``%t`` (time the
request was accepted) and ``%T`` (time the line was written), both ``strftime`` with
``{format}``, default ``%d/%b/%Y:%H:%M:%S %z``, and ``%u`` (remote user).  Any other letter is
"Invalid token in the access.format" and FPM refuses the pool (php-fpm 8.2 says "wrong format
for access.format": ``%U`` is one), so a format with one is not read here either.

The default format, when ``access.log`` is set and ``access.format`` is not, is
``%R - %u %t "%m %r" %s`` (``fpm_conf.c``, ``fpm_conf_process_all_pools()``).

The lines are matched by polars' regex engine (Rust's ``regex`` crate), whose time is linear in
the line, not by Python's ``re``: a format's free items are lazy ``.*?`` runs, and a backtracking
engine tries every way of cutting a line that does not match -- php-fpm's own example format
(``www.conf``: ``%R - %u %t \"%m %r%Q%q\" %s %f %{mili}d %{kilo}M %C%%``) held ``diagnose`` 34 s
on one hostile 4 KiB line and minutes on 8 KiB (tests/cli/test_qa_long_runs.py).  Rust's engine
gives the groups a backtracking engine gives (leftmost-first, lazy runs as short as they can be).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from why502.facts.fpm_access import FpmRequest

DEFAULT_FORMAT = '%R - %u %t "%m %r" %s'
DEFAULT_TIME = "%d/%b/%Y:%H:%M:%S %z"
WHOLE = "line"  # the group of the whole line: a line matched (the format's own are g + a letter)

_DURATION = {"": 1.0, "seconds": 1.0, "mili": 1e-3, "miliseconds": 1e-3, "micro": 1e-6,
             "microseconds": 1e-6}
_MODIFIERS = {"C": ("", "total", "user", "system"), "d": tuple(_DURATION),
              "M": ("", "bytes", "kilo", "kilobytes", "mega", "megabytes")}
_NEEDS_NAME = ("e", "o")  # "the name ... must be set between embraces"
_LETTERS = set("CdefilmMnopPqQrRsTtu")
# strftime directives -> a regex of what they print (the C locale's names); classes in ASCII,
# which both engines read alike (Python's ``\d``/``\s`` and Rust's differ beyond it)
_STRF = {"d": r"[0-9]{2}", "m": r"[0-9]{2}", "Y": r"[0-9]{4}", "y": r"[0-9]{2}", "H": r"[0-9]{2}",
         "M": r"[0-9]{2}", "S": r"[0-9]{2}", "z": r"[+-][0-9]{4}", "Z": r"[A-Za-z]+",
         "b": r"[A-Za-z]{3}", "B": r"[A-Za-z]+", "a": r"[A-Za-z]{3}", "A": r"[A-Za-z]+",
         "j": r"[0-9]{3}", "e": r"[ 0-9][0-9]", "T": r"[0-9]{2}:[0-9]{2}:[0-9]{2}",
         "F": r"[0-9]{4}-[0-9]{2}-[0-9]{2}", "s": r"[0-9]+", "%": "%"}


@dataclass(frozen=True)
class FpmFormat:
    """A compiled ``access.format``: the line's regex (``pattern``, for polars' engine: a whole
    line is the group ``WHOLE``) and how to read its groups."""

    format: str
    pattern: str
    time_group: str | None  # the group of %t (else %T), and its strftime format
    time_format: str
    duration_scale: float


def compile_format(fmt: str) -> FpmFormat | None:
    """The regex of the lines ``fmt`` writes; None for a format FPM itself refuses (an unknown
    letter, a modifier it does not take, ``%e``/``%o`` without a name)."""
    parts: list[str] = []
    names: dict[str, str] = {}
    time_formats: dict[str, str] = {}
    scale = 1.0
    i = 0
    while i < len(fmt):
        ch = fmt[i]
        if ch != "%":
            parts.append(re.escape(ch))
            i += 1
            continue
        i += 1
        modifier = ""
        if i < len(fmt) and fmt[i] == "{":
            end = fmt.find("}", i)
            if end == -1:
                return None  # "missing closing embrace in the access.format"
            modifier, i = fmt[i + 1:end], end + 1
        if i >= len(fmt):
            return None
        letter = fmt[i]
        i += 1
        if letter == "%":
            parts.append("%")
            continue
        if letter not in _LETTERS:
            return None
        if letter in _MODIFIERS and modifier.lower() not in _MODIFIERS[letter]:
            return None
        if letter in _NEEDS_NAME and not modifier:
            return None
        if modifier and letter not in _MODIFIERS and letter not in _NEEDS_NAME and letter not in "tT":
            return None  # "embrace is not allowed for modifier"
        group = None if letter in names else f"g{letter}"
        if group is not None:
            names[letter] = group
        if letter == "s":
            body = r"[0-9]{3}"  # an HTTP status (``http_response_code``)
        elif letter == "r":
            body = r"[^?\t\n\x0b\x0c\r ]*"  # the script's URI: FPM writes its query string apart (%q)
        elif letter == "d":
            body = r"[0-9]+(?:\.[0-9]+)?"
            if group is not None:
                scale = _DURATION[modifier.lower()]
        elif letter in "tT":
            tf = modifier or DEFAULT_TIME
            body = _strftime_regex(tf)
            if group is not None:
                time_formats[letter] = tf
        elif letter in "pPlM":
            body = r"[0-9]+"
        elif letter == "Q":
            body = r"\??"
        else:
            body = r".*?"
        parts.append(f"(?P<{group}>{body})" if group else f"(?:{body})")
    pattern = f"^(?P<{WHOLE}>" + "".join(parts) + ")$"
    try:
        re.compile(pattern)  # (the parts are escaped: a check, never expected to fail)
    except re.error:
        return None
    tletter = "t" if "t" in time_formats else "T" if "T" in time_formats else None
    return FpmFormat(fmt, pattern, names.get(tletter) if tletter else None,
                     time_formats.get(tletter or "", DEFAULT_TIME), scale)


def _strftime_regex(tf: str) -> str:
    out = []
    i = 0
    while i < len(tf):
        if tf[i] == "%" and i + 1 < len(tf):
            out.append(_STRF.get(tf[i + 1], r".*?"))
            i += 2
        else:
            out.append(re.escape(tf[i]))
            i += 1
    return "".join(out)


Groups = Mapping[str, "str | None"]


def match_lines(fmt: FpmFormat, lines: Sequence[str]) -> list[Groups | None]:
    """Each line's groups (the format's ``g`` + letter names) when the format takes it whole,
    else None: one pass of polars' linear engine over the lines (module docstring)."""
    import polars as pl

    if not lines:
        return []
    found = pl.Series("line", lines, dtype=pl.String).str.extract_groups(fmt.pattern).struct.unnest()
    return [row if row[WHOLE] is not None else None for row in found.iter_rows(named=True)]


def taken(fmt: FpmFormat, lines: Sequence[str]) -> list[bool]:
    """Whether the format takes each line whole: the lines' match alone, which polars' engine
    decides without its groups (~7x faster than :func:`match_lines` on a pool's log)."""
    import polars as pl

    if not lines:
        return []
    return pl.Series("line", lines, dtype=pl.String).str.contains(fmt.pattern).to_list()


def line_times(fmt: FpmFormat, lines: Sequence[str]) -> list[datetime | None]:
    """The time of each line the format takes (%t, else %T; None: the format has neither or it
    does not read as one), its group alone cut by polars' engine; the same stamp is parsed once
    (:func:`_time`)."""
    import polars as pl

    if fmt.time_group is None or not lines:
        return [None] * len(lines)
    index = re.compile(fmt.pattern).groupindex[fmt.time_group]  # (both engines number alike)
    stamps = pl.Series("line", lines, dtype=pl.String).str.extract(fmt.pattern, index).to_list()
    return [_time(stamp, fmt.time_format) if stamp else None for stamp in stamps]


def parse_line(fmt: FpmFormat, text: str, line: int) -> FpmRequest | None:
    """One line as the format wrote it; None when the format does not take it."""
    groups = match_lines(fmt, [text])[0]
    return record(fmt, groups, text, line) if groups is not None else None


def time_of(fmt: FpmFormat, g: Groups) -> datetime | None:
    """The time of a matched line (%t, else %T), without building its record."""
    stamp = g.get(fmt.time_group) if fmt.time_group else None
    return _time(stamp, fmt.time_format) if stamp else None


def record(fmt: FpmFormat, g: Groups, text: str, line: int) -> FpmRequest:
    """The record of a line the format took (``g``: its groups, :func:`match_lines`)."""
    status = int(gs) if (gs := g.get("gs")) else None
    duration = float(gd) * fmt.duration_scale if (gd := g.get("gd")) else None
    uri = g.get("gr")
    if uri is not None and g.get("gq"):
        uri = f"{uri}?{g['gq']}"
    return FpmRequest(line=line, text=text, time=time_of(fmt, g), status=status, duration=duration,
                      method=g.get("gm"), uri=uri, pool=g.get("gn"))


@lru_cache(maxsize=4096)
def _time(text: str, time_format: str) -> datetime | None:
    """``strptime``, once per distinct stamp: a pool writes many lines a second, and
    ``strptime`` was three quarters of the reading time (BENCHMARKS.md, "PHP-FPM access log")."""
    try:
        return datetime.strptime(text, time_format)
    except ValueError:
        return None


def sniff(fmt: FpmFormat, first_lines: list[str]) -> bool:
    """Do the first non-empty lines of a file read as ``fmt``'s (each one, with a status)?"""
    lines = [ln for ln in first_lines if ln.strip()]
    return bool(lines) and all(g is not None and record(fmt, g, ln, 0).status is not None
                               for ln, g in zip(lines, match_lines(fmt, lines)))
