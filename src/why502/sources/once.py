"""Each input parsed once per run: the registry of what a run has parsed (issue 23, item 3).

A command reads its config in several places (``fix`` asks the config for its files, its pid
file and its error logs; ``stats --proxy haproxy`` for the servers' addresses, their timeouts,
their backends and the runtime socket), and each place used to parse it again.  Every config
loader of why502 goes through :func:`parsed`: within a run (:func:`run_inputs`, opened once by
the CLI around each command) the first call parses and the later ones get the same object, as
long as the file, every file the parse read (includes) and their folders (a file added for a
glob include) still have the same identity (device, inode, size, modification time): a config
``fix`` has just edited, or ``watch`` sees changed, is parsed again, as it must be.  (Not
seen: the first file of a glob include whose folder held none when the config was parsed.)
Outside a run nothing is kept (a library caller gets a fresh parse each time).

The registry counts the parses it made (``ParsedInputs.parses``): the test of "read once"
(``tests/project/test_read_once.py``) runs each command and fails when an input was parsed twice.

It also keeps a log's open file between its sniff and its read (:func:`keep`, :func:`kept`,
:func:`take`): ``diagnose``, ``stats`` and ``classify`` look at a log's first 256 KiB (is it an
edge's log? ``app.stats.sniff``) before the reader that reads it whole, and each opened it; now
the sniff's file is handed on to the reader, so a log is opened once per run (issue 23 item 3).
"""

from __future__ import annotations

import io
import os
import stat
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from why502.parsers.configread import digests_kept

T = TypeVar("T")
Stamp = tuple[int, int, int, int] | None


def _stamp(path: str) -> Stamp:
    """The identity of a file now (None: it does not exist or cannot be stat'ed)."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@dataclass
class _Entry:
    value: Any
    stamps: tuple[tuple[str, Stamp], ...]

    def fresh(self) -> bool:
        return all(_stamp(path) == stamp for path, stamp in self.stamps)


@dataclass
class ParsedInputs:
    """What one run has parsed, by (kind, path, variant); ``parses`` counts the real parses."""

    entries: dict[tuple[str, str, Any], _Entry] = field(default_factory=dict)
    parses: Counter[tuple[str, str]] = field(default_factory=Counter)
    files: dict[str, io.BufferedReader] = field(default_factory=dict)  # open logs, by absolute path (keep)
    # keep/kept/take from several threads at once: diagnose's passes run together, and one file
    # can be two of its inputs (the same path as error log and access log): two takes of one
    # kept file raised KeyError (a fresh-clone CI run, stop 52) and could both hand it out
    lock: threading.Lock = field(default_factory=threading.Lock)

    def close(self) -> None:
        """Close the files kept and never taken (a sniffed log no reader read whole)."""
        for fh in self.files.values():
            fh.close()
        self.files.clear()

    def get(self, kind: str, path: str, parse: Callable[[], T],
            files: Callable[[T], Iterable[str]] | None = None, variant: Any = None) -> T:
        key = (kind, os.path.abspath(path), variant)
        entry = self.entries.get(key)
        if entry is not None and entry.fresh():
            value: T = entry.value
            return value
        before = _stamp(path)  # taken before the parse: an edit during it is seen next time
        value = parse()
        self.parses[(kind, key[1])] += 1
        more = [f for f in (files(value) if files is not None else ()) if f != path]
        # the folders too: a file added where a glob include (conf.d/*.conf) will find it
        folders = sorted({os.path.dirname(os.path.abspath(f)) for f in (path, *more)})
        self.entries[key] = _Entry(value, ((path, before),
                                           *((f, _stamp(f)) for f in (*more, *folders))))
        return value


_CURRENT: ContextVar[ParsedInputs | None] = ContextVar("why502_parsed_inputs", default=None)


@contextmanager
def run_inputs() -> Iterator[ParsedInputs]:
    """The registry of this run (a run within a run shares the outer one's)."""
    current = _CURRENT.get()
    if current is not None:
        yield current
        return
    registry = ParsedInputs()
    token = _CURRENT.set(registry)
    try:
        with digests_kept():  # the digests of the config files read (a report's fix.hashes)
            yield registry
    finally:
        _CURRENT.reset(token)
        registry.close()


def parsed(kind: str, path: str, parse: Callable[[], T],
           files: Callable[[T], Iterable[str]] | None = None, variant: Any = None) -> T:
    """``parse()``'s result for ``path``, parsed once per run (``kind`` names the loader,
    ``files`` what else the parse read, ``variant`` the options that change the result).
    Streams (``-``, a pipe, ``<(...)``) are read once anyway and never kept."""
    registry = _CURRENT.get()
    if registry is None or path == "-" or not os.path.isfile(path):
        return parse()
    return registry.get(kind, path, parse, files, variant)


def keep(path: str) -> io.BufferedReader | None:
    """The run's open file of ``path``, a regular file, rewound to its start: opened on the first
    ask and kept open until :func:`take` hands it to the reader that reads it whole, or until the
    run ends.  The caller reads it and never closes it.  None outside a run, for stdin, a FIFO or
    a device (read once anyway), or when ``path`` cannot be opened (the caller's own open then
    says why, as before)."""
    registry = _registry(path)
    if registry is None:
        return None
    key = os.path.abspath(path)
    with registry.lock:
        fh = _fresh(registry, key, path)
        if fh is not None:
            return fh
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                return None
            fh = open(path, "rb")  # noqa: SIM115 - closed by take's reader or at the run's end
        except (OSError, ValueError):
            return None
        registry.files[key] = fh
        return fh


def kept(path: str) -> io.BufferedReader | None:
    """The file :func:`keep` holds for ``path``, rewound and still kept (None: none held, not
    opened here): for a reader that only looks at it by offset (``sources.scan.probe``)."""
    registry = _registry(path)
    if registry is None:
        return None
    with registry.lock:
        return _fresh(registry, os.path.abspath(path), path)


def take(path: str) -> io.BufferedReader | None:
    """The file :func:`keep` holds for ``path``, rewound and handed over: the caller reads it and
    closes it; a later :func:`keep` opens the file again.  None when none is held."""
    registry = _registry(path)
    if registry is None:
        return None
    key = os.path.abspath(path)
    with registry.lock:  # one taker gets it; another, at the same time, opens its own
        fh = _fresh(registry, key, path)
        if fh is not None:
            del registry.files[key]
    return fh


def _registry(path: str) -> ParsedInputs | None:
    """The run's registry when ``path`` may be kept (not stdin), else None (no run)."""
    registry = _CURRENT.get()
    return None if registry is None or path == "-" else registry


def _fresh(registry: ParsedInputs, key: str, path: str) -> io.BufferedReader | None:
    """The kept file of ``key`` at offset 0 when ``path`` still names it (a log rotated since it
    was kept is another file: the kept one is closed and forgotten).  Called with the registry's
    lock held."""
    fh = registry.files.get(key)
    if fh is None:
        return None
    try:
        now, held = os.stat(path), os.fstat(fh.fileno())
        if (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):
            fh.seek(0)
            return fh
    except (OSError, ValueError):
        pass
    registry.files.pop(key, None)
    fh.close()
    return None
