"""PHP-FPM pools' own access logs: found from the pool config, or named with ``--app-log``.

Where they come from, each file read once:

- a pool's ``access.log`` (``--fpm-conf`` or the pool files discovery reads), read with that
  pool's ``access.format`` (FPM's default when unset: ``parsers.fpm_access.DEFAULT_FORMAT``), a
  relative path under the pool's ``prefix`` (php-src ``fpm_conf.c``
  ``fpm_evaluate_full_path()``: the pool's prefix, else ``PHP_PREFIX``);
- a ``--app-log`` file whose first lines read as a pool's format or as FPM's default: it is then
  that access log, and not classified as an app server's error log.  Whose it is: the pool
  whose ``access.log`` is that file, else the pool its lines name (``%n``); else no pool, and
  the analyzers tie it to a target only when the config has one FastCGI target
  (``analyzers.application``).

The file is hostile text: kept verbatim in ``FpmRequest.text``, escaped by the reporters.  Only
the last :data:`KEEP` lines of the window are kept (a note says so when more were read).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterable
from datetime import datetime

from why502.errors import InputError
from why502.facts.fpm import FpmPool
from why502.facts.fpm_access import FpmAccessLog, FpmRequest
from why502.findings.model import Diagnostic
from why502.parsers.fpm_access import (
    DEFAULT_FORMAT,
    FpmFormat,
    compile_format,
    line_times,
    match_lines,
    record,
    sniff,
    taken,
)
from why502.parsers.fpm_config import resolve_fpm_path
from why502.sources.byte_chunks import head_lines
from why502.sources.fpm import PHP_PREFIX
from why502.sources.logfiles import iter_batches

KEEP = 50_000
_SNIFF_LINES = 5


def pool_access_path(pool: FpmPool) -> str | None:
    """The file a pool's ``access.log`` names, absolute (None: not set)."""
    if not pool.access_log:
        return None
    return resolve_fpm_path(pool.access_log, pool.prefix, PHP_PREFIX)


def read_fpm_access(pools: Iterable[FpmPool], app_logs: Iterable[str], since: datetime | None,
                    diags: list[Diagnostic]) -> tuple[list[FpmAccessLog], set[str]]:
    """Every pool access log of the run, and the ``--app-log`` files that were one (the caller
    does not classify those again)."""
    out: list[FpmAccessLog] = []
    taken: set[str] = set()
    seen: set[str] = set()
    pools = list(pools)
    by_path = {os.path.realpath(p): pool for pool in pools if (p := pool_access_path(pool))}
    for pool in pools:
        path = pool_access_path(pool)
        if path is None or os.path.realpath(path) in seen:
            continue
        seen.add(os.path.realpath(path))
        fmt = compile_format(pool.access_format or DEFAULT_FORMAT)
        if fmt is None:
            diags.append(Diagnostic("warning", f"pool {pool.name}: access.format "
                                    f"{pool.access_format!r} is not one PHP-FPM accepts: its "
                                    "access log was not read"))
            continue
        if not os.path.isfile(path):
            diags.append(Diagnostic("info", f"pool {pool.name}'s access.log {path} not found"))
            continue
        got = _read(path, fmt, since, diags, pool, f"pool {pool.name}'s access.log")
        if got is not None:
            out.append(got)
    for path in app_logs:
        real = os.path.realpath(path)
        if real in seen:
            taken.add(path)
            continue
        head = _head(path)
        formats = dict.fromkeys([*(p.access_format or DEFAULT_FORMAT for p in pools), DEFAULT_FORMAT])
        for fmt in (compile_format(f) for f in formats):
            if fmt is None or not sniff(fmt, head):
                continue
            owner = by_path.get(real)  # a pool's format that fits is not that pool's file
            got = _read(path, fmt, since, diags, owner, "--app-log")
            if got is None:
                break
            if owner is None:  # the pool its lines name (%n)
                names = {r.pool for r in got.requests if r.pool}
                named = [p for p in pools if len(names) == 1 and p.name in names]
                if named:
                    got = FpmAccessLog(**{**got.__dict__, "pool": named[0].name, "key": named[0].key})
            out.append(got)
            seen.add(real)
            taken.add(path)
            break
    return out, taken


def _head(path: str) -> list[str]:
    """The first lines, bounded (a hostile file may hold one line of gigabytes)."""
    try:
        return head_lines(path, _SNIFF_LINES)
    except (OSError, InputError):
        return []  # classify_into says it cannot read it (exit 3 for --app-log)


def _read(path: str, fmt: FpmFormat, since: datetime | None, diags: list[Diagnostic],
          pool: FpmPool | None, origin: str) -> FpmAccessLog | None:
    # the lines taken are counted and the window's last KEEP kept, their groups cut and their
    # records built at the end, for the kept ones only (a busy pool's log); each batch matched
    # in one pass of polars' linear engine (parsers.fpm_access), the times of its lines taken
    # in another when --since asks
    kept: deque[tuple[int, str]] = deque(maxlen=KEEP)
    lines = unparsed = 0
    try:
        # bounded batches, over-long lines cut (sources.logfiles), a rotated .gz read as text
        for batch in iter_batches([path]):
            texts = batch.lines
            hits = taken(fmt, texts)
            unparsed += sum(1 for text, hit in zip(texts, hits) if not hit and text.strip())
            at = [i for i, hit in enumerate(hits) if hit]
            if since is not None:
                times = line_times(fmt, [texts[i] for i in at])
                at = [i for i, t in zip(at, times) if t is None or not _before(t, since)]
            lines += len(at)
            kept.extend((batch.first_line + i, texts[i]) for i in at[-KEEP:])
    except (OSError, InputError) as err:
        why = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        if origin == "--app-log":
            raise InputError(f"cannot read {path}: {why}") from None
        diags.append(Diagnostic("info", f"{origin} {path}: {why}"))
        return None
    if lines > KEEP:
        diags.append(Diagnostic("info", f"{path}: the last {KEEP} of {lines} PHP-FPM access lines "
                                "of the window were kept"))
    return FpmAccessLog(file=path, format=fmt.format, pool=pool.name if pool else None,
                        key=pool.key if pool else None,
                        requests=_records(fmt, kept), lines=lines,
                        unparsed=unparsed, origin=origin)


def _records(fmt: FpmFormat, kept: Iterable[tuple[int, str]]) -> tuple[FpmRequest, ...]:
    """The records of the kept lines (each one the format took: its groups are there)."""
    numbered = list(kept)
    found = match_lines(fmt, [text for _n, text in numbered])
    return tuple(record(fmt, g, text, n) for (n, text), g in zip(numbered, found) if g is not None)


def _before(t: datetime, since: datetime) -> bool:
    """``t`` before ``since``, one of them aware (FPM's ``%z``) and the other local, or both."""
    if (t.tzinfo is None) == (since.tzinfo is None):
        return t < since
    if t.tzinfo is not None:
        return t.astimezone().replace(tzinfo=None) < since
    return t < since.astimezone().replace(tzinfo=None)
