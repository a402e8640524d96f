"""The error log for the per-request join: which files (``--error-log``, else the config's
``error_log``), and their classified lines that name a client and a request.

Why read it at all: the access log says which requests failed, the error log why; the join
(``evidence.stats.join``) gives every 5xx its symptom.  The lines are classified by the same
engine as ``why502 classify`` (``parsers.errorlog_batch``), so a symptom means the same thing in
both outputs.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

import polars as pl

from why502.app.stats.inputs import distinct
from why502.errors import InputError, not_found
from why502.evidence.stats.join import EMPTY_ERRORS, PARTITIONS, ErrorParts
from why502.proxies import ENGINE
from why502.sources.byte_chunks import iter_byte_chunks, order_rotated
from why502.sources.opening import discovered_skip, note
from why502.sources.spill import DiskFrames

if TYPE_CHECKING:
    from why502.facts.logconfig import LogConfig

# the columns of ``read_error_lines``, in order (the join's input)
ERROR_COLUMNS = ("time", "client", "request", "host", "upstream", "symptom", "message")


def error_logs_from_config(cfg: LogConfig) -> list[str]:
    """The config's ``error_log`` files that are files here (not syslog, stderr or memory)."""
    paths = []
    for e in cfg.error_logs:
        p = e.path
        if e.is_off or p.startswith(("syslog:", "stderr", "memory:")) or p == "/dev/null":
            continue
        if p in paths or not os.path.exists(p):
            continue
        if why := discovered_skip(p):  # a FIFO, a link to /dev/stderr: never read when found
            note(f"error log {why}")
            continue
        paths.append(p)
    return paths


def error_rows(
    given: pl.DataFrame | ErrorParts | None,
    error_logs: list[str] | None,
    no_error_log: bool,
    cfg: LogConfig | None,
    notes: list[str],
) -> tuple[pl.DataFrame | ErrorParts | None, list[str]]:
    """The classified error-log lines for the join and the files they came from.

    ``given``: the lines classified already (diagnose), used as they are; else ``error_logs``
    (``--error-log``), else the config's, unless ``no_error_log``.  A config's error log that
    cannot be read is a note in ``notes``; one asked for explicitly is an ``InputError``."""
    if given is not None:  # diagnose classified these lines already: no second read
        return given, list(error_logs or [])
    if no_error_log:
        return None, []
    paths: list[str] = []
    if error_logs:
        paths = distinct(list(error_logs))
    elif cfg is not None:
        paths = error_logs_from_config(cfg)
    for p in paths:
        if not os.path.exists(p):
            raise InputError(not_found(p))
    if not paths:
        return None, []
    try:
        return read_error_lines(paths), paths
    except InputError as err:
        if error_logs:  # asked for explicitly: a real error
            raise
        notes.append(f"error log from the config not read: {err}")
        return None, []


def read_error_lines(paths: list[str]) -> pl.DataFrame | ErrorParts:
    """Classified error-log lines that name a client and a request (the ones a 5xx can match),
    nginx's own lines only, with their symptom ID (``parsers.errorlog_batch.classify_series``):
    a frame, or beyond ``SPILL_ROWS`` rows the same rows partitioned on disk (``JoinRows``)."""
    # imported here, not at the top: loading the classify engine's patterns costs ~40 ms, which
    # a run without an error log would pay for nothing
    from why502.parsers.errorlog_batch import classify_series

    rows = JoinRows()

    def classify(data: bytes) -> pl.DataFrame | None:
        lines = pl.Series("line", data.decode("utf-8", "replace").split("\n"), dtype=pl.String)
        keep = lines.str.contains(", client: ", literal=True) & lines.str.contains(
            ", request: ", literal=True
        )
        lines = lines.filter(keep)
        if lines.len() == 0:
            return None
        df = classify_series(lines).filter(pl.col("source") == ENGINE)
        if not df.height:
            return None
        return df.select(ERROR_COLUMNS)

    # chunks classified by two threads (polars releases the GIL), kept in input order; 4 MiB
    # each: the classify engine needs ~20x its input in memory (8 MiB chunks: +50 MB RSS)
    with ThreadPoolExecutor(max_workers=2) as pool:
        pending: deque[Future[pl.DataFrame | None]] = deque()
        for chunk in iter_byte_chunks(order_rotated(paths), 4 << 20, count_lines=False):
            pending.append(pool.submit(classify, bytes(chunk.data)))  # bytes already: no copy
            while len(pending) > 2:
                frame = pending.popleft().result()
                if frame is not None:
                    rows.add(frame)
        for fut in pending:
            frame = fut.result()
            if frame is not None:
                rows.add(frame)
    return rows.result()


# error-log rows kept in memory for the join; beyond, they go to disk by partition (~100 B a row
# in memory: 200k rows ~20 MB, while a 1 GB error log has 3M)
SPILL_ROWS = 200_000


class JoinRows:
    """The join's error-log rows as they are read: a list of frames while they are few, then
    ``ErrorParts`` on disk (``sources.spill.DiskFrames``, small blocks: 32 partitions each hold
    a block in memory before writing it).  ``result()`` is the frame or the partitions."""

    def __init__(self, spill_rows: int | None = None) -> None:
        self.spill_rows = SPILL_ROWS if spill_rows is None else spill_rows
        self.frames: list[pl.DataFrame] = []
        self.rows = 0
        self.parts: ErrorParts | None = None

    def add(self, frame: pl.DataFrame) -> None:
        """Add classified rows (``ERROR_COLUMNS``, ``time`` an ISO string or a datetime); a
        frame of none is no work (``diagnose`` hands one per batch of another proxy's log: two
        queries each, ~1 ms, for nothing)."""
        if not frame.height:
            return
        frame = _typed(frame)
        if self.parts is not None:
            self.parts.add(frame)
            return
        self.frames.append(frame)
        self.rows += frame.height
        if self.rows > self.spill_rows:
            self.parts = ErrorParts([DiskFrames(4096) for _ in range(PARTITIONS)])
            for f in self.frames:
                self.parts.add(f)
            self.frames = []

    def close(self) -> None:
        """Remove the partitions from disk (after the join)."""
        if self.parts is not None:
            self.parts.close()
        self.frames, self.rows = [], 0

    def result(self) -> pl.DataFrame | ErrorParts:
        if self.parts is not None:
            return self.parts
        if not self.frames:
            return EMPTY_ERRORS
        return pl.concat(self.frames)


def _typed(frame: pl.DataFrame) -> pl.DataFrame:
    """``ERROR_COLUMNS`` as strings, ``time`` a naive datetime to the second."""
    out = frame.select([pl.col(c).cast(pl.String) for c in ERROR_COLUMNS])
    return out.with_columns(
        pl.col("time").str.slice(0, 19).str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M:%S", strict=False)
    )
