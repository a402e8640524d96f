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
"""

from __future__ import annotations

import os
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


def parsed(kind: str, path: str, parse: Callable[[], T],
           files: Callable[[T], Iterable[str]] | None = None, variant: Any = None) -> T:
    """``parse()``'s result for ``path``, parsed once per run (``kind`` names the loader,
    ``files`` what else the parse read, ``variant`` the options that change the result).
    Streams (``-``, a pipe, ``<(...)``) are read once anyway and never kept."""
    registry = _CURRENT.get()
    if registry is None or path == "-" or not os.path.isfile(path):
        return parse()
    return registry.get(kind, path, parse, files, variant)
