"""Diagnose's copy of another proxy's access log as the engine's lines, in a scratch file.

``why502 stats`` reads HAProxy's and Apache's logs straight into the engine's columns (their
stats plug-ins' ``access_frames``, ``read.read_frames``): nothing here.  ``diagnose`` still takes
an access log as paths (``Hooks.access_log``: ``(access_logs, error_logs, config) -> (paths,
log_format)``, read by ``app.diagnose.access``), so for it the plug-ins write their rows here,
in the engine's ``why502`` or ``NGINX_FORMAT`` text, removed afterwards.  Until that hook takes
frames, this is the one place such a copy is written (issue 23 item 3).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress

import polars as pl

from why502.app.stats.read import batches_of
from why502.sources.scratch import scratch_file

#: a batch of lines (a ``String`` series) -> the engine's lines for those that are requests
BatchRewrite = Callable[[pl.Series], pl.Series]


class ScratchRows:
    """A scratch file the engine's lines are appended to (``write``), read by diagnose once
    closed (``done``), removed by ``remove``."""

    def __init__(self) -> None:
        fd, self.path = scratch_file("access-", ".log")
        self._fh = os.fdopen(fd, "w", encoding="utf-8")

    def write(self, rows: pl.Series) -> None:
        if rows.len():
            self._fh.write("\n".join(rows.to_list()) + "\n")

    def done(self) -> None:
        if not self._fh.closed:
            self._fh.close()

    def remove(self) -> None:
        self.done()
        with suppress(FileNotFoundError):
            os.unlink(self.path)


@contextmanager
def rewritten(paths: list[str], convert: BatchRewrite) -> Iterator[list[str]]:
    """``paths`` with each batch of lines converted (``convert``), in one scratch file."""
    out = ScratchRows()
    try:
        for _path, _first, lines in batches_of(paths):
            out.write(convert(lines))
        out.done()
        yield [out.path]
    finally:
        out.remove()
