"""The methods ``@dataclass`` writes for why502's classes, compiled once per install.

Why: ``dataclasses`` writes each class's ``__init__``, ``__repr__``, ``__eq__``, ``__hash__``,
``__setattr__`` ... as Python source and compiles it (``exec`` of the text, in
``dataclasses._create_fn``) every time the class is defined, that is at every start.  why502
defines ~340 dataclasses; a ``diagnose`` imports ~175 of them, ~1,000 such functions: ~0.1 s of
compiling, half of why502's own import time and a tenth of a ``diagnose`` of the 100 MB host
(BENCHMARKS.md, 2026-11-26 stop 48).  A text compiles to the same code every time, so the
code is kept the way Python keeps a module's bytecode: in
``why502/__pycache__/dataclasses.<cache tag>.marshal``, a table from each function's whole
source text to its marshalled code object.  A start reads the table at its first class
(~3 ms) and unmarshals a code when its text comes (~4 us, against ~80 us to compile it); a run
that compiled texts the table lacked writes it at exit, unless ``sys.dont_write_bytecode``
(``PYTHONDONTWRITEBYTECODE``) is set or the directory is not writable.  ``prime()`` writes it
for every module of the package (``scripts/test`` calls it after compiling the bytecode, as it
does ``tomldata.prime``).

Safe by construction: a code is used only for the very text it was compiled from (the whole
text is the key), compiled as ``exec`` would compile it there (``dont_inherit``: the future
flags of ``dataclasses``' module, none, not this module's), and the table carries the
interpreter's bytecode magic number, so another Python's table is never read.  Only the texts
of classes defined in why502's own modules go through it (``dataclasses`` passes the class's
module globals); every other ``exec`` of ``dataclasses`` -- other packages' classes -- is the
builtin's, untouched.  The hook is a module global ``exec`` in ``dataclasses``' namespace, which
its ``exec(...)`` call finds before the builtin: nothing of ``dataclasses`` is rewritten, and
where it calls ``exec`` differently (another Python) the hook is simply asked about text it
passes on unchanged.  Whoever may write the package's ``__pycache__`` may already write its
bytecode: the table trusts nobody more than Python does.
"""

from __future__ import annotations

import atexit
import builtins
import contextlib
import dataclasses
import marshal
import os
import sys
import threading
from importlib.util import MAGIC_NUMBER
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Any

PACKAGE = os.path.dirname(os.path.abspath(__file__))
_FORMAT = 1  # the layout of the table; another layout is not read
# texts kept at most: past it, a write keeps only this run's (a developer's tree collects the
# texts of every edit; an install's are ~1,600)
MAX_ENTRIES = 6000
_PREFIX = "why502."

_codes: dict[str, bytes] = {}  # the table read at start: text -> marshalled code
_new: dict[str, bytes] = {}  # compiled by this run
_used: set[str] = set()
_lock = threading.Lock()
_installed: list[str] = []
_loaded: list[bool] = []  # the table is read at the first text, not at install


def table_path() -> str:
    """Where the table is kept (``__pycache__``: ignored by git and the sdist)."""
    return os.path.join(PACKAGE, "__pycache__", f"dataclasses.{sys.implementation.cache_tag}.marshal")


def load(path: str) -> dict[str, bytes]:
    """The table at ``path``; empty when missing, unreadable, or another Python's or layout's."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
        magic, layout, table = marshal.loads(raw)  # noqa: S302 -- our own file, as a .pyc is
    except (OSError, ValueError, EOFError, TypeError):
        return {}
    if magic != MAGIC_NUMBER or layout != _FORMAT or not isinstance(table, dict):
        return {}
    return table


def save(path: str, table: dict[str, bytes]) -> bool:
    """Write ``table`` at ``path`` (a temp file then a rename: a reader never sees half of it);
    False when it could not be written (read-only install, no directory)."""
    tmp = f"{path}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(tmp, "wb") as fh:
            fh.write(marshal.dumps((MAGIC_NUMBER, _FORMAT, table)))
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        return False
    return True


def code_for(text: str) -> Any:
    """The code of ``text`` as ``exec`` in ``dataclasses`` compiles it: from the table when
    there, else compiled now and kept for the next write."""
    if not _loaded:
        with _lock:
            if not _loaded:
                _codes.update(load(_installed[0]))
                _loaded.append(True)
    packed = _codes.get(text) or _new.get(text)
    if packed is not None:
        _used.add(text)
        return marshal.loads(packed)  # noqa: S302 -- compiled by this module from this very text
    code = compile(text, "<string>", "exec", dont_inherit=True)
    with _lock:
        _new[text] = marshal.dumps(code)
    return code


def _exec(source: Any, globals: dict[str, Any] | None = None, locals: Any = None, /) -> None:
    """``dataclasses``' ``exec``: the text of a why502 class's method through the table."""
    if type(source) is str:
        # compiled here as the builtin would compile it in dataclasses' own frame: without this
        # module's future flags (``annotations`` would make every annotation a string)
        source = (code_for(source) if globals is not None
                  and str(globals.get("__name__", "")).startswith(_PREFIX)
                  else compile(source, "<string>", "exec", dont_inherit=True))
    builtins.exec(source, globals, locals)  # noqa: S102 -- dataclasses' own text, as it would


def install(path: str | None = None, write: bool | None = None) -> None:
    """Read the table and put the hook in ``dataclasses``; at exit, write what this run added
    (``write``: default, unless ``sys.dont_write_bytecode``).  Once per process."""
    if _installed:
        return
    _installed.append(path or table_path())
    dataclasses.exec = _exec  # type: ignore[attr-defined]
    if write if write is not None else not sys.dont_write_bytecode:
        atexit.register(flush)


def flush() -> bool:
    """Write the table when this run compiled texts it lacked; whether it was written."""
    if not _installed or not _new:
        return False
    cache_dir = os.path.dirname(_installed[0])
    parent = cache_dir if os.path.isdir(cache_dir) else os.path.dirname(cache_dir)
    if not os.access(parent, os.W_OK):  # a read-only install: not even tried (no table built)
        return False
    with _lock:
        if not _loaded:  # a run that defined no class read no table: keep what it holds
            _codes.update(load(_installed[0]))
            _loaded.append(True)
        merged = {**_codes, **_new}
        if len(merged) > MAX_ENTRIES:
            merged = {t: merged[t] for t in (_used | set(_new))}
        written = save(_installed[0], merged)
        if written:
            _codes.update(_new)
            _new.clear()
    return written


def prime() -> int:
    """Import every module of the package so the table holds every class's methods, and write
    it; the number of texts in it."""
    import importlib
    import pkgutil

    import why502

    for mod in pkgutil.walk_packages(why502.__path__, "why502."):
        if mod.name.endswith("__main__"):
            continue
        with contextlib.suppress(Exception):  # an optional extra not installed (mcp, ...)
            importlib.import_module(mod.name)
    flush()
    return len(_codes) + len(_new)
