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

from why502.errors import InputError
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
        chosen = _config_format_name(cfg, paths)
        if chosen is not None:
            name, where = chosen
            name_, fmt, escape = resolve_format(name, formats)
            return compile_format(fmt, escape, name=name_), f"log_format {name} ({where})"
    sample = head_lines(paths[0], keep=keep) if paths else []
    name, hits = guess_format(sample)
    fmt, escape = PREDEFINED[name]
    return compile_format(fmt, escape, name=name), f"guessed: {name} ({hits}/{len(sample)} first lines match)"


def _config_format_name(cfg: LogConfig, paths: list[str]) -> tuple[str, str] | None:
    """The format name of the config's ``access_log`` for ``paths`` (by path, else by file
    name, else the first ``access_log``) and where that directive is."""
    logs = [a for a in cfg.access_logs if not a.is_off]
    if not logs:
        return None
    want = {os.path.basename(rotated_base(p)) for p in paths}
    wantfull = {os.path.realpath(p) for p in paths}
    for a in logs:
        if os.path.realpath(a.path) in wantfull or os.path.basename(a.path) in want:
            return a.format or "combined", f"access_log {a.path} at {a.file}:{a.line}"
    a = logs[0]
    return a.format or "combined", f"first access_log {a.path} at {a.file}:{a.line}"


def check_matched(acc: StatsAccumulator, fmt: CompiledFormat, source: str, last_path: str) -> None:
    """Raise ``InputError`` when ``acc`` read lines but none of them is a request in ``fmt``
    (``source``: where the format came from), with the first line and a hint."""
    if acc.lines and acc.requests + acc.filtered == 0:
        sample = strip_terminal_escapes(acc.samples[0]["text"]) if acc.samples else ""
        hint = f"give --log-format or {DEFAULT_FLAG}"
        if sample and re.match(fmt.pattern.removesuffix(r"\r?$"), sample):
            hint = "the lines start like this format but go on after it: give the full log_format"
        hint = utf16_hint(last_path) or hint  # the reason, when it is one (sources.opening)
        raise InputError(
            f"none of the {acc.lines} lines of {last_path} matches the log format ({source}): "
            f"{fmt.format!r}; first line: {sample[:200]!r} -- {hint}"
        )


#: the share of a file's first lines in one predefined access-log format that makes it an
#: access log to ``classify`` (``access_log_hint``)
ACCESS_SHARE = 0.9


def access_log_head(paths: list[str]) -> tuple[str, list[str]] | None:
    """The first regular file of ``paths`` and its first 200 non-empty lines, read before the
    run reads it whole (``head_lines``' kept file: it is opened once), for
    :func:`access_log_hint`; None for stdin or nothing readable."""
    for path in paths:
        if path == "-" or not os.path.isfile(path):
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
    if hits < ACCESS_SHARE * len(lines):
        return None
    rx = re.compile(compile_format(*PREDEFINED[name], name=name).pattern)
    statuses = [m.group("status") for ln in lines if (m := rx.match(ln)) is not None]
    five = sum(1 for st in statuses if st.isdigit() and 500 <= int(st) <= 599)
    shown = strip_terminal_escapes(path)
    return (f"{shown} is an access log ({hits} of its first {len(lines)} lines in the '{name}' "
            f"format, {five} of them a 5xx): classify reads the words of error logs; "
            f"`why502 stats {shown}` counts its requests and who made each 5xx, and "
            "`why502 diagnose --access-log` joins it to the error log"), five
