"""Which ``log_format`` an access log is in: ``--log-format`` (a string or a name), else the
format named by the config's ``access_log`` directive for that file (``--nginx-conf``), else the
predefined format that matches the first lines best.

Why guess last: a wrong format parses nothing, and the config says what nginx wrote; the guess
only covers a log without its config.  When nothing parses, the error says which format was
tried, where it came from, and what the first line looks like (``check_matched``).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

from why502.errors import InputError, UnmatchedLogError
from why502.parsers.access_line import clf_status
from why502.parsers.log_format import PREDEFINED, CompiledFormat, compile_format, resolve_format
from why502.proxies import DEFAULT_FLAG
from why502.sources.byte_chunks import head_lines, rotated_base
from why502.sources.opening import utf16_hint
from why502.textutil import strip_terminal_escapes

if TYPE_CHECKING:  # not at run time: ``watch`` guesses formats here without polars
    from why502.evidence.stats import StatsAccumulator
    from why502.facts.logconfig import LogConfig


def guess_format(lines: list[str]) -> tuple[str, int]:
    """The predefined format matching most of ``lines`` (ties: the richer format)."""
    best, score = "combined", -1
    for name, (fmt, escape) in PREDEFINED.items():
        cf = compile_format(fmt, escape, name=name)
        rx = re.compile(cf.pattern)
        hits = sum(1 for ln in lines if rx.match(ln))
        if hits > score or (
            hits == score and len(cf.fields) > len(compile_format(*PREDEFINED[best], name=best).fields)
        ):
            best, score = name, hits
    return best, score


def choose_format(
    log_format: str | None, cfg: LogConfig | None, paths: list[str], keep: bool = False
) -> tuple[CompiledFormat, str]:
    """The format of the rotated set ``paths``, given ``--log-format`` (``log_format``) and the
    config; returns the compiled format and a sentence saying where it came from.  ``keep``: the
    first file's head, when guessed from, is read from the file the run keeps open for its
    whole read (``sources.byte_chunks.head_lines``)."""
    formats: dict[str, tuple[str, str | None]] = {}
    if cfg is not None:
        formats = {
            name: (lf.format, lf.escape if lf.escape != "default" else None)
            for name, lf in cfg.log_formats.items()
        }
    if log_format:
        name, fmt, escape = resolve_format(log_format, formats)
        return compile_format(fmt, escape, name=name), f"--log-format {name or 'string'}"
    if cfg is not None:
        chosen = _config_format_name(cfg, paths, formats, keep)
        if chosen is not None:
            name, where = chosen
            name_, fmt, escape = resolve_format(name, formats)
            return compile_format(fmt, escape, name=name_), f"log_format {name} ({where})"
    return guessed(head_lines(paths[0], keep=keep) if paths else [])


def guessed(sample: list[str]) -> tuple[CompiledFormat, str]:
    """The format of a log's first lines ``sample`` when nothing names it, and a sentence saying
    it was guessed: the predefined format most of them match whole, else the one (or the Common
    Log Format) most of them start with and go on after (:func:`guess_followed`), else the best
    whole match all the same (its error then names it).  ``stats`` and ``watch`` guess alike."""
    name, hits = guess_format(sample)
    fmt, escape = PREDEFINED[name]
    if hits * 2 < len(sample):
        longer = guess_followed(sample)
        if longer[1] > hits and longer[1] * 2 >= len(sample):
            name, hits = longer
            fmt, escape = _STARTS[name]
            return (compile_format(f"{fmt} {UNNAMED}", escape, name=None),
                    f"guessed: {name} followed by fields no predefined format names "
                    f"({hits}/{len(sample)} first lines match; give --log-format or the proxy's "
                    "config to read them)")
    return compile_format(fmt, escape, name=name), f"guessed: {name} ({hits}/{len(sample)} first lines match)"


UNNAMED = "$unnamed_fields"
"""The variable that stands for the fields after a predefined format's last one
(:func:`guess_followed`): a format's last variable matches the rest of the line
(``log_format.compile_format``), and no engine column reads this name."""


def guess_followed(lines: list[str]) -> tuple[str, int]:
    """The predefined format the most ``lines`` start with and go on after (a space, then more
    fields), and how many (a tie: the longer format): nginx's ``combined`` with
    ``rt=$request_time`` appended, Apache's ``common`` with ``%D`` (``%h %l %u %t "%r" %>s %b
    %D``) -- formats a config names and nobody gave.  Their requests, statuses and times are
    still the predefined format's fields; reading them beats refusing the log
    (``check_matched``'s "none of the lines matches")."""
    best, score = "combined", -1
    for name, (fmt, escape) in _STARTS.items():
        rx = re.compile(compile_format(f"{fmt} {UNNAMED}", escape, name=None).pattern)
        hits = sum(1 for ln in lines if rx.match(ln))
        if hits > score or (hits == score and len(fmt) > len(_STARTS[best][0])):
            best, score = name, hits  # a tie: the longer format, which names more of the line
    return best, score


_STARTS: dict[str, tuple[str, str | None]] = {
    "common": ('$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent', None),
    **PREDEFINED,
}
"""The formats a log's lines may start with (:func:`guess_followed`): the predefined ones and
the Common Log Format -- Apache's ``common`` (``%h %l %u %t \"%r\" %>s %b``, mod_log_config)
in nginx's variables, which nginx predefines no name for (its ``combined`` is ``common`` and
two quoted fields)."""


def _config_format_name(cfg: LogConfig, paths: list[str], formats: dict[str, tuple[str, str | None]],
                        keep: bool = False) -> tuple[str, str] | None:
    """The format name of the config's ``access_log`` for ``paths`` (by path, else by file
    name), and where that directive is.  When no ``access_log`` writes them (a log copied or
    mounted elsewhere): the config's format most of the first file's lines match
    (``_matching_format``), else the first ``access_log``'s, as nginx's own first server would
    write."""
    logs = [a for a in cfg.access_logs if not a.is_off]
    if not logs:
        return None
    want = {os.path.basename(rotated_base(p)) for p in paths}
    wantfull = {os.path.realpath(p) for p in paths}
    for a in logs:
        if os.path.realpath(a.path) in wantfull or os.path.basename(a.path) in want:
            return a.format or "combined", f"access_log {a.path} at {a.file}:{a.line}"
    names = [a.format or "combined" for a in logs] + list(formats)
    head = head_lines(paths[0], keep=keep) if paths and len(set(names)) > 1 else []
    matched = _matching_format(list(dict.fromkeys(names)), formats, head)
    if matched is not None:
        name, hits = matched
        return name, (f"no access_log writes {os.path.basename(paths[0])}: the config's format "
                      f"{hits}/{len(head)} of its first lines match")
    a = logs[0]
    return a.format or "combined", f"first access_log {a.path} at {a.file}:{a.line}"


def _matching_format(names: list[str], formats: dict[str, tuple[str, str | None]],
                     head: list[str]) -> tuple[str, int] | None:
    """Of the format ``names`` (in the order tried; ``formats``: the config's), the first that
    the most of ``head`` match whole, and how many -- only when more than half do."""
    best: tuple[str, int] | None = None
    for name in names:
        try:
            name_, fmt, escape = resolve_format(name, formats)
        except InputError:  # a name the config uses but does not define (nginx -t refuses it)
            continue
        rx = re.compile(compile_format(fmt, escape, name=name_).pattern)
        hits = sum(1 for ln in head if rx.match(ln))
        if hits * 2 > len(head) and (best is None or hits > best[1]):
            best = (name, hits)
    return best


def check_matched(acc: StatsAccumulator, fmt: CompiledFormat, source: str, last_path: str) -> None:
    """Raise ``UnmatchedLogError`` when ``acc`` read lines but none of them is a request in ``fmt``
    (``source``: where the format came from), with the first line and a hint."""
    if acc.lines and acc.requests + acc.filtered == 0:
        sample = strip_terminal_escapes(acc.samples[0]["text"]) if acc.samples else ""
        hint = f"give --log-format or {DEFAULT_FLAG}"
        if sample and re.match(fmt.pattern.removesuffix(r"\r?$"), sample):
            hint = "the lines start like this format but go on after it: give the full log_format"
        if last_path == "-":  # stdin is not sniffed for an edge's log (it is read once)
            hint += "; a load balancer's or edge proxy's log on stdin: give its --log-type"
        hint = utf16_hint(last_path) or hint  # the reason, when it is one (sources.opening)
        raise UnmatchedLogError(
            f"none of the {acc.lines} lines of {last_path} matches the log format ({source}): "
            f"{fmt.format!r}; first line: {sample[:200]!r} -- {hint}", last_path)


#: the share of a file's first lines in one predefined access-log format that makes it an
#: access log to ``classify`` (``access_log_hint``)
ACCESS_SHARE = 0.9


def access_log_head(paths: list[str]) -> tuple[str, list[str]] | None:
    """The first regular file (or stdin) of ``paths`` and its first 200 non-empty lines, read
    before the run reads it whole (``head_lines``' kept file: it is opened once; stdin's head is
    replayed to its one reader, ``sources.replay``), for :func:`access_log_hint`; None for
    nothing readable."""
    for path in paths:
        if path != "-" and not os.path.isfile(path):
            continue
        try:
            return path, [ln for ln in head_lines(path, 200, keep=True) if ln.strip()]
        except (OSError, InputError):
            return None
    return None


def access_log_hint(path: str, lines: list[str]) -> tuple[str, int] | None:
    """When ``lines`` (the head of ``path``: :func:`access_log_head`) are an access log in a
    predefined format (at least ``ACCESS_SHARE`` of them match one): a sentence saying so, and
    how many of them are a 5xx.  ``classify`` reads error logs: on an access log it found no
    failure in words and said "no upstream failure found" (exit 0) of a log full of 502s; its
    requests are ``stats``' to count."""
    if not lines:
        return None
    name, hits = guess_format(lines)
    if hits >= ACCESS_SHARE * len(lines):
        rx = re.compile(compile_format(*PREDEFINED[name], name=name).pattern)
        statuses = [int(m.group("status")) for ln in lines
                    if (m := rx.match(ln)) is not None and m.group("status").isdigit()]
        shape = f"in the '{name}' format"
        count = f"`why502 stats {strip_terminal_escapes(path)}`"
    else:
        # no predefined format, but the common log format's start with more fields after it
        # (Apache's ``%h %l %u %t "%r" %>s %b %D``): an access log all the same, whose format
        # stats must be told (parsers.access_line)
        statuses = [st for ln in lines if (st := clf_status(ln)) is not None]
        hits = len(statuses)
        if hits < ACCESS_SHARE * len(lines):
            return None
        shape = "starting in the common log format, with fields no predefined format names after it"
        count = (f"`why502 stats {strip_terminal_escapes(path)}` (with --log-format or the "
                 "proxy's config for the fields after the common ones)")
    five = sum(1 for st in statuses if 500 <= st <= 599)
    shown = strip_terminal_escapes(path)
    return (f"{shown} is an access log ({hits} of its first {len(lines)} lines {shape}, {five} "
            f"of them a 5xx): classify reads the words of error logs; {count} counts its "
            "requests and who made each 5xx, and `why502 diagnose --access-log` joins it to the "
            "error log"), five
