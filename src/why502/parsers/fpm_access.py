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
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from why502.facts.fpm_access import FpmRequest

DEFAULT_FORMAT = '%R - %u %t "%m %r" %s'
DEFAULT_TIME = "%d/%b/%Y:%H:%M:%S %z"

_DURATION = {"": 1.0, "seconds": 1.0, "mili": 1e-3, "miliseconds": 1e-3, "micro": 1e-6,
             "microseconds": 1e-6}
_MODIFIERS = {"C": ("", "total", "user", "system"), "d": tuple(_DURATION),
              "M": ("", "bytes", "kilo", "kilobytes", "mega", "megabytes")}
_NEEDS_NAME = ("e", "o")  # "the name ... must be set between embraces"
_LETTERS = set("CdefilmMnopPqQrRsTtu")
# strftime directives -> a regex of what they print (the C locale's names)
_STRF = {"d": r"\d{2}", "m": r"\d{2}", "Y": r"\d{4}", "y": r"\d{2}", "H": r"\d{2}", "M": r"\d{2}",
         "S": r"\d{2}", "z": r"[+-]\d{4}", "Z": r"[A-Za-z]+", "b": r"[A-Za-z]{3}", "B": r"[A-Za-z]+",
         "a": r"[A-Za-z]{3}", "A": r"[A-Za-z]+", "j": r"\d{3}", "e": r"[ \d]\d", "T": r"\d{2}:\d{2}:\d{2}",
         "F": r"\d{4}-\d{2}-\d{2}", "s": r"\d+", "%": "%"}


@dataclass(frozen=True)
class FpmFormat:
    """A compiled ``access.format``: the line's regex and how to read its groups."""

    format: str
    regex: re.Pattern[str]
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
            body = r"\d{3}"  # an HTTP status (``http_response_code``)
        elif letter == "r":
            body = r"[^?\s]*"  # the script's URI: FPM writes its query string apart (%q)
        elif letter == "d":
            body = r"\d+(?:\.\d+)?"
            if group is not None:
                scale = _DURATION[modifier.lower()]
        elif letter in "tT":
            tf = modifier or DEFAULT_TIME
            body = _strftime_regex(tf)
            if group is not None:
                time_formats[letter] = tf
        elif letter in "pPlM":
            body = r"\d+"
        elif letter == "Q":
            body = r"\??"
        else:
            body = r".*?"
        parts.append(f"(?P<{group}>{body})" if group else f"(?:{body})")
    try:
        regex = re.compile("^" + "".join(parts) + "$")
    except re.error:
        return None
    tletter = "t" if "t" in time_formats else "T" if "T" in time_formats else None
    return FpmFormat(fmt, regex, names.get(tletter) if tletter else None,
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


def parse_line(fmt: FpmFormat, text: str, line: int) -> FpmRequest | None:
    """One line as the format wrote it; None when the format does not take it."""
    m = fmt.regex.match(text)
    return record(fmt, m, text, line) if m is not None else None


def time_of(fmt: FpmFormat, m: re.Match[str]) -> datetime | None:
    """The time of a matched line (%t, else %T), without building its record."""
    stamp = m.group(fmt.time_group) if fmt.time_group else None
    return _time(stamp, fmt.time_format) if stamp else None


def record(fmt: FpmFormat, m: re.Match[str], text: str, line: int) -> FpmRequest:
    """The record of a line ``fmt.regex`` matched (``m``)."""
    g = m.groupdict()
    status = int(g["gs"]) if g.get("gs") else None
    duration = float(g["gd"]) * fmt.duration_scale if g.get("gd") else None
    uri = g.get("gr")
    if uri is not None and g.get("gq"):
        uri = f"{uri}?{g['gq']}"
    return FpmRequest(line=line, text=text, time=time_of(fmt, m), status=status, duration=duration,
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
    return bool(lines) and all((r := parse_line(fmt, ln, 0)) is not None and r.status is not None
                               for ln in lines)
