"""``why502 stats`` on another proxy's access log: its lines rewritten into an nginx format.

The statistics engine (``evidence.stats``) reads nginx's access-log variables; HAProxy's httplog
(``proxies.haproxy.log``) and Apache's ``LogFormat`` (``proxies.apache.log``) carry the same
facts under other names.  The lines are rewritten once, streaming, into a temporary file in an
nginx format, which the engine then reads like any nginx log (the file is removed afterwards).
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from why502.errors import InputError
from why502.sources.scratch import scratch_file


@contextmanager
def rewritten(paths: list[str], convert: Callable[[str], str | None]) -> Iterator[list[str]]:
    """``paths`` (plain or ``.gz``) with each line converted (None: left out), in one temp file."""
    fd, out = scratch_file("access-", ".log")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for path in paths:
                try:
                    opener = gzip.open if path.endswith(".gz") else open
                    with opener(path, "rt", encoding="utf-8", errors="replace") as src:
                        for line in src:
                            row = convert(line)
                            if row is not None:
                                fh.write(row + "\n")
                except OSError as err:
                    raise InputError(f"cannot read {path}: {err.strerror or err}") from None
        yield [out]
    finally:
        os.unlink(out)
