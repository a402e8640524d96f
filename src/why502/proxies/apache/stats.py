"""Apache's stats plug-in (``Hooks.stats``, ``access_log``, ``watch_access``): its access log,
in the ``LogFormat`` of the ``CustomLog`` that writes it (else ``combined``), as the statistics
engine's columns.

Each line is cut by the format's regex (``log.compile_log_format``) into nginx's variables with
nginx's meanings (``log.to_fields``: ``%D``/``%T`` become ``$request_time``; with
``%{proxy-status}n`` the upstream fields of the ``why502`` format); ``why502 stats`` reads the
file once, in batches, and the engine aggregates those columns as they come
(``app.stats.read.read_frames``): no rewritten copy and no second parse.  ``diagnose`` reads
the same columns the same way (:func:`apache_for_diagnose`, ``Hooks.access_log``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from functools import lru_cache
from typing import TYPE_CHECKING

from why502.errors import InputError
from why502.proxies.apache import log as apache_log
from why502.proxies.apache.config import ApacheConfig
from why502.proxies.apache.source import access_head
from why502.proxies.apache.source import apache_config as _read_config

if TYPE_CHECKING:
    import polars as pl

    from why502.app.stats.read import FramedLog, FrameReader
    from why502.app.stats.report import ProxiedInput


def apache_config(path: str) -> ApacheConfig:
    """The config, parsed once per run (``proxies.apache.source``: ``sources.once``)."""
    return _read_config(path)


def apache_format(config: str | None, paths: list[str], given: str | None,
                  keep: bool = True) -> tuple[str, bool]:
    """The ``LogFormat`` of ``paths`` and whether its lines go on after it: ``given`` (a string
    or nickname), else the format of the config's ``CustomLog`` writing that file (``combined``
    when none does), else -- no config -- the one guessed from the first file's head
    (``log.guess_log_format``: a run given Apache's logs alone read an access log in ``common`` +
    ``%D`` as ``combined``, and read no request of it).  ``keep``: as
    ``source.access_head``'s."""
    if given:
        return apache_log.NICKNAMES.get(given, given), False
    if config is None:
        return apache_log.guess_log_format(access_head(paths[0], keep) if paths else [])
    try:
        cfg = apache_config(config)
    except OSError as err:
        raise InputError(f"cannot read {config} (--config): {err.strerror or err}") from None
    nick = {d.args[1]: d.args[0] for d in cfg.values("LogFormat") if len(d.args) >= 2}
    names = {os.path.basename(p) for p in paths}
    written = [d for d in cfg.values("CustomLog") if len(d.args) >= 2]
    for d in written:
        if os.path.basename(cfg.resolve(d.args[0])) in names:
            fmt = d.args[1]
            return nick.get(fmt, apache_log.NICKNAMES.get(fmt, fmt)), False
    # no CustomLog writes these files (a log copied or mounted elsewhere): the config's format
    # most of their first lines match, its CustomLog formats first, then its other LogFormats
    known = [nick.get(d.args[1], apache_log.NICKNAMES.get(d.args[1], d.args[1])) for d in written]
    return config_format_of([*known, *nick.values()], access_head(paths[0], keep) if paths else []), False


def config_format_of(formats: list[str], head: list[str]) -> str:
    """Of a config's ``formats`` (in the order they are tried), the first that most of ``head``
    (an access log's first lines) match whole -- more than half of them -- else ``combined``,
    as when no config names the file's format."""
    lines = [ln for ln in head if ln.strip()]
    best, most = apache_log.COMBINED, 0
    for fmt in dict.fromkeys(formats):
        hits = sum(1 for ln in lines if apache_log.compile_log_format(fmt).regex.match(ln))
        if hits > most:
            best, most = fmt, hits
    return best if most * 2 > len(lines) else apache_log.COMBINED


def _only_target(config: str | None) -> str:
    """The one backend of an Apache config (its identity key), else ``-``: an access line does
    not say which backend served it, so a relayed 5xx names one only when there is one."""
    if config is None:
        return "-"
    try:
        keys = {t.key for t in apache_config(config).targets()}
    except OSError:
        return "-"
    return next(iter(keys)) if len(keys) == 1 else "-"


def _format(config: str | None, paths: list[str], given: str | None,
            keep: bool = True) -> tuple[apache_log.ApacheFormat, str]:
    """The compiled ``LogFormat`` (:func:`apache_format`) and the backend a relayed 5xx names."""
    fmt = apache_log.compile_log_format(*apache_format(config, paths, given, keep))
    return fmt, (_only_target(config) if fmt.relay else "-")


def log_fields(lines: pl.Series, fmt: apache_log.ApacheFormat, upstream: str,
               first_row: int = 0) -> pl.DataFrame:
    """The lines of a batch that match ``fmt`` as the engine's columns (the values of
    ``log.to_values``, computed in polars' string kernels with the same regex), with ``_row``
    (``first_row`` + the line's index in the batch) and ``_text`` (the line).  A line whose time
    taken polars cannot turn into the same text as Python's ``f"{secs:.3f}"`` (a tie at half a
    millisecond, a number that is not ASCII digits, beyond 10**12) gets ``log.to_values`` itself.
    Per line in Python it cost ~6 us (the regex and the tuple), more than the rest of the run."""
    import polars as pl

    names = apache_log.field_names(fmt)
    schema = {"_row": pl.Int64, **dict.fromkeys(names, pl.String), "_text": pl.String}
    m = _groups(lines.rename("line"), fmt.engine)
    m = m.with_columns(lines.rename("_text"),
                       pl.int_range(first_row, first_row + lines.len(), dtype=pl.Int64).alias("_row"))
    have = set(m.columns) - {"_text", "_row"}
    # a format with no item the engine reads matches with no group: Python says which lines match
    m = m.filter(pl.all_horizontal(pl.col(n).is_not_null() for n in sorted(have)) if have else pl.lit(True))

    def group(name: str, default: str) -> pl.Expr:  # ``g.get(name) or default``
        if name not in have:
            return pl.lit(default)
        return pl.when(pl.col(name) == "").then(pl.lit(default)).otherwise(pl.col(name))

    def millis(col: str, per_ms: int) -> tuple[pl.Expr, pl.Expr]:
        """The time taken as ``S.mmm`` from an integer count of 1/``per_ms`` ms, and whether
        it is exact (else Python reads the line)."""
        n = pl.col(col).cast(pl.Int64, strict=False)
        ms = n // per_ms + (n % per_ms > per_ms // 2).cast(pl.Int64) if per_ms > 1 else n
        text = pl.concat_str([(ms // 1000).cast(pl.String), pl.lit("."),
                              (ms % 1000).cast(pl.String).str.zfill(3)])
        ok = n.is_not_null() & (n < 10**12) & ((n % per_ms) != per_ms // 2 if per_ms > 1 else pl.lit(True))
        return text, ok

    if "us" in have:
        taken, exact = millis("us", 1000)
    elif "ms" in have:
        taken, exact = millis("ms", 1)
    elif "s" in have:
        taken, exact = millis("s", 1)
        taken = pl.concat_str([pl.col("s").cast(pl.Int64, strict=False).cast(pl.String), pl.lit(".000")])
    else:
        taken, exact = pl.lit("0.000"), pl.lit(bool(have))
    status = group("status", "000")
    nbytes = group("bytes", "0")
    values = [group("client", "-"), group("time", "[-]").str.strip_chars("[]"), group("request", "-"),
              status, pl.when(nbytes == "-").then(pl.lit("0")).otherwise(nbytes), group("referer", "-"),
              group("agent", "-"), group("host", "-"), taken]
    if fmt.relay:
        none = pl.lit("-")
        relayed = group("relayed", "-") == status
        own = ~relayed & status.str.starts_with("5")
        proxied = relayed | own
        values += [pl.when(proxied).then(pl.lit(upstream)).otherwise(none),
                   pl.when(proxied).then(status).otherwise(none), none,
                   pl.when(relayed).then(taken).otherwise(none),
                   pl.when(proxied).then(taken).otherwise(none)]
    out = m.select("_row", *(v.alias(n) for n, v in zip(names, values)), "_text", exact.alias("_exact"))
    if out["_exact"].all():
        return out.drop("_exact")
    odd = out.filter(~pl.col("_exact")).select("_row", "_text")
    rows = [(row, *got, text) for row, text in odd.iter_rows()
            if (got := apache_log.to_values(text, fmt, upstream)) is not None]
    columns = list(zip(*rows)) or [() for _ in schema]  # by column: polars builds them faster
    redone = pl.DataFrame(dict(zip(schema, columns)), schema=schema)
    return pl.concat([out.filter(pl.col("_exact")).drop("_exact"), redone]).sort("_row")


def _groups(lines: pl.Series, pattern: str) -> pl.DataFrame:
    """``lines.str.extract_groups(pattern)``, unnested: the ASCII lines by ``ascii_pattern(
    pattern)``, the others (few: Apache escapes the bytes of a request it logs) by ``pattern``."""
    ascii = lines.str.len_bytes() == lines.str.len_chars()
    m = lines.str.extract_groups(ascii_pattern(pattern)).struct.unnest()
    if ascii.all():
        return m
    at = (~ascii).arg_true()
    other = lines.gather(at).str.extract_groups(pattern).struct.unnest()
    return m.with_columns(m[c].scatter(at, other[c]) for c in m.columns)


@lru_cache(maxsize=16)
def ascii_pattern(pattern: str) -> str:
    r"""``pattern`` (a ``log.compile_log_format`` regex) as polars' regex engine reads it on a line
    of ASCII only, the same groups, 2.8x faster (0.58 -> 0.21 s on 200k lines of ``%h %l %u %t
    "%r" %>s %b %D``: BENCHMARKS.md stop 76) -- the cut of each line was most of ``stats`` of an
    Apache log.  The engine's classes are Unicode's: ``\d`` is every script's digits and ``\s``
    Unicode's White_Space, whose ASCII members are ``0-9`` and tab, newline, vertical tab, form
    feed, CR and space (not ``\x1c-\x1f``, which Python's ``\s`` takes); the large Unicode
    classes made its capture engine slow.  And ``(?:[^"\\]|\\.)*`` is written as its unrolled
    loop ``[^"\\]*(?:\\.[^"\\]*)*``: the same strings, each cut one way only (a backslash
    always begins an escape), so the same group."""
    classes = {"d": "[0-9]", "s": r"[\t\n\x0b\x0c\r ]", "S": r"[^\t\n\x0b\x0c\r ]"}
    out = _CLASS.sub(lambda m: m.group(1) + classes[m.group(2)], pattern)
    return out.replace(_ESCAPES, _UNROLLED)


# ``\d``, ``\s`` or ``\S`` after an even run of backslashes (an escaped backslash is no class)
_CLASS = re.compile(r"((?<!\\)(?:\\\\)*)\\([dsS])")
_ESCAPES, _UNROLLED = r'(?:[^"\\]|\\.)*', r'[^"\\]*(?:\\.[^"\\]*)*'


def _reader(config: str | None, files: list[str], log_format: str | None,
            ) -> tuple[FrameReader, apache_log.ApacheFormat]:
    """The reader of ``files``' lines into the engine's columns, and their compiled format."""
    fmt, upstream = _format(config, files, log_format)
    return (lambda lines, first_row: log_fields(lines, fmt, upstream, first_row)), fmt


def proxied_input(files: list[str], config: str | None, log_format: str | None) -> ProxiedInput:
    """What ``app.stats.report.proxied_report`` needs to read Apache's access log: its reader,
    the engine's format it fills (``log.engine_format``) and what the format is called."""
    from why502.app.stats.report import ProxiedInput

    frames, fmt = _reader(config, files, log_format)
    return ProxiedInput(frames=frames, log_format=apache_log.engine_format(fmt), source=_source(fmt))


def _source(fmt: apache_log.ApacheFormat) -> str:
    """What the format is called in the notes and errors of ``stats`` and ``diagnose``."""
    shown = f"{fmt.format} followed by fields it does not name" if fmt.followed else fmt.format
    return f"Apache LogFormat {shown}"


def apache_for_diagnose(access_logs: list[str], error_logs: list[str], config: str | None) -> FramedLog:
    """``Hooks.access_log`` of Apache: its access logs and the reader of their lines through
    the ``LogFormat`` of the ``CustomLog`` that writes them (else ``combined``) into the engine's
    columns (``NGINX_FORMAT``'s: no upstream fields, so who made a 5xx is judged from the error
    log and the live probe; ``why502``'s when the format has ``%{proxy-status}n``, which says
    it offline: ``proxies.apache.log``), as ``why502 stats`` reads them."""
    from why502.app.stats.read import FramedLog

    if not access_logs:
        return FramedLog([], None, apache_log.NGINX_FORMAT)
    frames, fmt = _reader(config, list(access_logs), None)
    return FramedLog(list(access_logs), frames, apache_log.engine_format(fmt), _source(fmt))


def apache_for_watch(config: str | None, path: str) -> tuple[Callable[[str], str | None], str]:
    """``Hooks.watch_access`` of Apache: each line of its access log at ``path`` rewritten in
    the fields diagnose reads it in (``apache_for_diagnose``: the ``LogFormat`` of the
    ``CustomLog`` that writes it, else ``combined``), and the nginx format of the rewritten
    lines: ``watch`` counts Apache's requests with the meanings diagnose gives them (without it
    every line failed nginx's format and no incident ever opened on Apache's access log)."""
    from why502.parsers.log_format import PREDEFINED

    fmt, upstream = _format(config, [path], None, keep=False)  # (followed, never read whole)
    engine = apache_log.engine_format(fmt)
    nginx_format = PREDEFINED[engine][0] if engine in PREDEFINED else engine
    return (lambda line: apache_log.to_nginx_line(line, fmt, upstream)), nginx_format
