"""Which log the inputs are -- a cloud load balancer's / proxy's (and which family) or the engine's
own -- from their first lines, without polars: ``classify`` asks it before it knows whether it
needs polars at all (the native scanner serves an nginx error log without it, and polars'
import is ~0.2 s of CPU, a fifth of classifying 1M lines: BENCHMARKS.md).  The readers
themselves are in ``app.stats.lb``, which re-exports these names.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

from why502.errors import InputError, UsageError
from why502.proxies import DEFAULT, PROXIES
from why502.proxies.base import resolve
from why502.proxies.logfamilies import families, log_types
from why502.sources.logfiles import LineBatch, expand_inputs, head_batch, iter_batches
from why502.sources.once import parsed
from why502.sources.opening import is_stream

SNIFF_BYTES = 256 * 1024


def expand_paths(paths: list[str]) -> list[Path]:
    """Files, globs, ``-``, and directories (every regular file below, by name)."""
    out: list[str] = []
    for p in paths:
        if p != "-" and os.path.isdir(p):
            found = sorted(
                os.path.join(root, name)
                for root, _dirs, names in os.walk(p) for name in names if not name.startswith(".")
            )
            if not found:
                raise InputError(f"cannot read {p}: the directory holds no file")
            out.extend(found)
        else:
            out.append(p)
    return expand_inputs(out)


LOG_TYPES: tuple[str, ...] = log_types()
"""Every edge family ``--log-type`` names (``proxies.logfamilies``: the edges' and the proxies')."""


def check_log_type(log_type: str | None) -> str | None:
    """``--log-type``: None for ``auto``, the default proxy's name for its own readers (nginx's),
    else an edge family; anything else is a one-line ``UsageError``."""
    if log_type is None or log_type in ("auto", DEFAULT):
        return None if log_type != DEFAULT else DEFAULT
    if log_type not in LOG_TYPES:
        raise UsageError(f"unknown --log-type {log_type!r}: choose one of {DEFAULT}, {', '.join(LOG_TYPES)}")
    return log_type


def sniff_log_type(paths: list[str]) -> str | None:
    """The load-balancer family of the first readable input's first lines, or None (an nginx log,
    or something else the nginx readers will judge).  Stdin or a pipe (``<(zcat ...)``) is
    sniffed on the head its one reader peeks and replays to the read that follows
    (``sources.replay``); another file that is no regular file or directory is not sniffed."""
    lines = _first_lines(paths)
    return families().detect(lines) if lines is not None else None


def sniff_log_types(paths: list[str]) -> tuple[str, ...]:
    """Every load-balancer family of the first readable input's first lines (``detect_families``:
    a file mixing several edges' logs), most lines first; ``()`` for anything else."""
    lines = _first_lines(paths)
    return families().detect_families(lines) if lines is not None else ()


def sniffed_log_types(paths: list[str]) -> tuple[str, ...]:
    """``sniff_log_types(paths)``, a single input's kept for the run (``sources.once``): diagnose
    asks it of the same access log more than once -- is a named folder an edge's log tree
    (``app.diagnose.options``), which edge families the run is and which access logs are an
    edge's (``app.diagnose.lb``) -- and each asking opened the file (issue 23 item 3)."""
    if len(paths) == 1:
        return parsed("edge-sniff", paths[0], lambda: sniff_log_types(paths))
    return sniff_log_types(paths)


def _first_lines(paths: list[str]) -> list[str] | None:
    """The first complete lines of the first readable input (``SNIFF_BYTES``), or None.  In a
    folder, those of the first file that is a family's log among its first file by name and
    then one file per subtree, breadth first (``_spread``), else of the first readable one.  An
    ALB's log tree holds ``AWSLogs/<account>/ELBAccessLogTestFile``, which Elastic Load Balancing
    writes when access logs are enabled ("The test file is not an actual access log file", the
    ALB user guide's "Enable access logs"), and a bucket shared with CloudTrail holds
    ``AWSLogs/<account>/CloudTrail/...``: both sort before ``elasticloadbalancing/``, and read
    first they made the tree no load balancer's log."""
    for p in paths:
        if p == "-" or is_stream(p):
            return _stream_head(p)
        if not _rereadable(p):
            return None
        try:
            files = expand_paths([p])
        except InputError:
            continue
        first: list[str] | None = None
        for f in _candidates(p, files):
            try:
                batch = _head(f)
            except InputError:
                continue
            if batch is None:
                continue
            lines = batch.lines[:-1] if batch.count > 1 else batch.lines
            if len(files) == 1 or families().detect_families(lines):
                return lines
            first = lines if first is None else first
        if first is not None:
            return first
    return None


def _stream_head(path: str) -> list[str] | None:
    """The first lines of stdin (``-``) or of a pipe, peeked by the stream's one reader and
    replayed to the read that follows (``sources.replay``, ``byte_chunks.head_lines``: gzip and
    a container runtime's framing undone as the readers undo them), or None when it cannot be
    read.  Edge logs on stdin were read as nginx's unless ``--log-type`` named them (stop 69)."""
    from why502.sources.byte_chunks import head_lines

    try:
        return head_lines(path, _STREAM_LINES) or None
    except (InputError, OSError):
        return None  # (the read that follows says why, in its one line)


#: the lines of stdin or of a pipe sniffed at most (of its first 256 KiB: ``head_lines``)
_STREAM_LINES = 2000

#: the files of a folder whose first lines are sniffed at most (``_first_lines``)
_SNIFF_FILES = 16


def _candidates(root: str, files: list[Path]) -> Iterator[Path]:
    """The files of ``root`` (``expand_paths``' answer) to sniff: its first, then ``_spread``'s."""
    if not files:
        return
    yield files[0]
    if len(files) > 1 and os.path.isdir(root):
        yield from (f for f in _spread(Path(root), files) if f != files[0])


def _spread(root: Path, files: list[Path]) -> list[Path]:
    """At most ``_SNIFF_FILES`` of ``files`` (sorted, all under ``root``), one per subtree and
    breadth first: the first file under each entry of ``root``, then under each entry of those
    entries, and so on -- so a tree of several kinds of logs (``CloudTrail/``, then
    ``elasticloadbalancing/``) shows each kind in its first few files."""
    parts = [f.relative_to(root).parts if f.is_relative_to(root) else (f.name,) for f in files]
    out: list[Path] = []
    taken: set[int] = set()
    for depth in range(1, max(len(x) for x in parts) + 1):
        firsts: dict[tuple[str, ...], int] = {}
        for i, x in enumerate(parts):
            firsts.setdefault(x[:depth], i)
        for i in firsts.values():
            if i not in taken:
                taken.add(i)
                out.append(files[i])
                if len(out) >= _SNIFF_FILES:
                    return out
    return out


def has_lines_of(paths: list[str], family: str) -> bool:
    """Whether the first lines of every input hold at least one ``family`` line (a proxy's own
    error log -- Traefik's DEBUG log, Caddy's default logger -- is mostly other lines)."""
    for p in paths:
        if p == "-" or not _rereadable(p):
            return False
        try:
            files = expand_paths([p])
            batch = (_head(files[0]) if len(files) == 1 else
                     next(iter(iter_batches(files, batch_bytes=SNIFF_BYTES, ahead=0)), None))
        except InputError:
            return False
        fams = families()
        if batch is None or not any(fams.parse_line(ln, family) for ln in batch.lines[:2000]):
            return False
    return True


def _head(path: Path) -> LineBatch | None:
    """The first ``SNIFF_BYTES`` of ``path`` in whole lines, read once per run
    (``sources.once``: the same file, unchanged): ``diagnose`` asks whether its access logs are
    an edge's twice (``app.diagnose.lb``: ``edge_families``, then ``edge_logs``), and each
    asking opened the file again.  The file stays open for the run's reader of the whole log,
    which takes it (``sources.logfiles.head_batch``): sniff and read, one open."""
    return parsed("log-head", str(path), lambda: head_batch(path, SNIFF_BYTES))


def _rereadable(path: str) -> bool:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return True  # a glob, or missing: expand_paths judges it
    return stat.S_ISREG(mode) or stat.S_ISDIR(mode)


def sniff_error_logs(paths: list[str], keep: bool = True) -> str | None:
    """The proxy whose own error-log lines (``Hooks.error_sniff``) the first lines of the first
    readable error log are, else None (stdin is not sniffed: it is read once).  ``diagnose`` given
    logs alone asks it when no access log told (``sniff_access_logs``): Apache's error log read
    as nginx's got nginx's words and nginx's fix.  ``keep``: as ``sniff_access_logs``' (the file
    opened once: the reader of the whole log takes it)."""
    sniffers = [(name, p.hooks.error_sniff) for name, p in PROXIES.items() if p.hooks.error_sniff]
    return _sniffed(paths, sniffers, keep)


def sniff_access_logs(paths: list[str], keep: bool = True) -> str | None:
    """The proxy whose own access-log format (``Hooks.access_sniff``) the first lines of the
    first readable access log are in, else None (stdin is not sniffed: it is read once).
    ``diagnose`` and ``stats`` given logs alone ask it: HAProxy's httplog read with the default
    proxy's reader matched no line (``stats``: "none of the lines matches the log format").
    ``keep``: the file is read whole next in this run (``head_lines``); ``watch`` only follows
    it, and a kept file would hold a rotated log's space until the agent stops."""
    sniffers = [(name, p.hooks.access_sniff) for name, p in PROXIES.items() if p.hooks.access_sniff]
    return _sniffed(paths, sniffers, keep)


def _sniffed(paths: list[str], sniffers: list[tuple[str, str]], keep: bool = False) -> str | None:
    """The first proxy whose sniff (a hook's path) takes the first 50 lines of the first readable
    regular file of ``paths``, else None."""
    from why502.sources.byte_chunks import head_lines

    for path in paths:
        if path == "-" or not os.path.isfile(path):
            continue
        try:
            lines = head_lines(path, 50, keep=keep)
        except (OSError, InputError):
            continue
        for name, hook in sniffers:
            sniff = cast(Callable[[list[str]], bool], resolve(hook))
            if sniff(lines):
                return name
        return None
    return None
