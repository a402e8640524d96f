"""The package's own TOML data, parsed once per install instead of once per run.

Every ``why502`` start parses the catalog it needs: ``diagnose`` ~460 kB of TOML
(``patterns.toml``, ``symptoms``/``events``/``causes.toml``, ``directives.toml``), ``classify`` and
``--version`` ``patterns.toml`` (223 kB).  ``tomllib`` is pure Python: that was 68-72 ms of CPU per
``diagnose`` start at load 10 (BENCHMARKS.md, 2026-11-25 stop 44), paid by every one of the test
suite's thousands of starts too.  ``marshal`` reads the same tables back in ~1 ms.

So the parsed tables are kept next to the data, the way Python keeps a module's bytecode:
``<dir>/__pycache__/<file>.<cache tag>.marshal``, written when the directory is writable and
``sys.dont_write_bytecode`` (``PYTHONDONTWRITEBYTECODE``) is not set, and used only when the
length and two checksums (CRC-32 and Adler-32) of the text stored in it are the text's now: an
edited file is parsed again, never served stale.  Only the package's own files go through here
(by their path); a user's file (``watch --rules``, a Traefik config) is parsed as it is, every
time.  A cache that cannot be read or written is ignored: the answer never depends on it.

``prime()`` writes the caches of every data file of the package: ``scripts/test`` calls it after
compiling the bytecode, as the suite may run with ``PYTHONDONTWRITEBYTECODE`` set.
"""

from __future__ import annotations

import contextlib
import marshal
import os
import sys
import threading
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

TOMLDecodeError = tomllib.TOMLDecodeError
PACKAGE = Path(__file__).resolve().parents[1]
_FORMAT = 1  # the layout of the cached tuple; a new layout makes old caches unused


def cache_path(source: Path) -> Path:
    """Where the parsed form of ``source`` is kept (``__pycache__``: ignored by git and the sdist)."""
    return source.parent / "__pycache__" / f"{source.name}.{sys.implementation.cache_tag}.marshal"


def _key(raw: bytes) -> tuple[int, int, int, int]:
    return (_FORMAT, len(raw), zlib.crc32(raw), zlib.adler32(raw))


def load(source: Path, write: bool | None = None) -> dict[str, Any]:
    """``tomllib.loads`` of the package's data file ``source``, read from its cache when that was
    made from the same text.  ``write``: whether to (re)write a missing or stale cache; by
    default when Python may write bytecode.  Raises what reading the file and ``tomllib`` raise."""
    raw = source.read_bytes()
    key = _key(raw)
    where = cache_path(source)
    try:
        # the same trust as the package's bytecode beside it (a .pyc is marshal data too)
        stored = marshal.loads(where.read_bytes())  # noqa: S302
        if isinstance(stored, tuple) and len(stored) == 2 and stored[0] == key:
            data: dict[str, Any] = stored[1]
            return data
    except (OSError, EOFError, ValueError, TypeError):
        pass  # no cache, or one from elsewhere: parse
    data = tomllib.loads(raw.decode("utf-8"))
    if write if write is not None else not sys.dont_write_bytecode:
        _write(where, key, data)
    return data


def table(source: Path | Traversable) -> dict[str, Any]:
    """``load`` of a package file found through ``importlib.resources``: a plain path on disk
    (every pip or editable install), else (a zipped install) parsed as it is."""
    if isinstance(source, Path):
        return load(source)
    return tomllib.loads(source.read_text(encoding="utf-8"))


def _write(where: Path, key: tuple[int, int, int, int], data: dict[str, Any]) -> None:
    """Write atomically (a temp file of this process and thread, renamed: a parallel start or
    thread never reads half a file); a read-only install, or a value marshal cannot hold (a
    TOML date), leaves no cache."""
    tmp = where.with_name(f"{where.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        blob = marshal.dumps((key, data))
        where.parent.mkdir(exist_ok=True)
        tmp.write_bytes(blob)
        os.replace(tmp, where)
    except (OSError, ValueError):
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def prime() -> int:
    """Write the cache of every ``.toml`` file of the package; how many were written."""
    count = 0
    for source in sorted(PACKAGE.rglob("*.toml")):
        if "__pycache__" not in source.parts:
            load(source, write=True)
            count += cache_path(source).is_file()
    return count
