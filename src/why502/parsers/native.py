"""The engine's native line scanner, as the proxy registry hands it down (issue 23 item 2).

The scanner is a C extension (built at install when a C compiler and Python's headers are
there, ``setup.py``) that the proxy whose lines the engine reads declares: its dotted module
path is ``Hooks.native_scanner`` of ``proxies.ENGINE``.  This layer sits below the registry and
may not ask it, so the registry installs its loader here when it is imported
(``why502.proxies``), and ``parsers.errorlog_native`` asks :func:`scanner_module` at first use:
the module, or None when it was not built or the parsers run without the registry -- then the
polars engine reads every line, with the same results (``tests/classify/test_classify_native.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Literal, Protocol

Resolver = Callable[[int, int, "str | None", str, int], "tuple[int, bytes, bool] | Literal[False] | None"]
"""``(key, errno, action, level, detail) -> (rule index, JSON fragment, failure) | None``, or False:
the combination's rule also needs an ``also`` literal, and its lines go to the polars engine."""


class Scanner(Protocol):
    """One scanner of the module (its ``.pyi`` next to its ``.c``): one thread at a time."""

    def summarize(self, data: bytes | memoryview, since: bytes | None = None, ascii: bool = False, /,
                  ) -> tuple[int, bytes | None]: ...
    def groups(self) -> list[tuple[int, bytes | bool | None, int, bytes, bytes]]: ...
    def records(self, data: bytes, first_line: int, file_json: bytes, since: bytes | None = None,
                ascii: bool = False, /) -> tuple[bytes, int, int, bytes | None, bytes]: ...


_loader: Callable[[], ModuleType | None] | None = None
_module: ModuleType | None = None
_loaded = False


def install(loader: Callable[[], ModuleType | None]) -> None:
    """The registry's loader of the scanner (called once, when ``why502.proxies`` is imported);
    it runs at the first :func:`scanner_module`, so no command pays for the import it does not use."""
    global _loader, _loaded
    _loader, _loaded = loader, False


def scanner_module() -> ModuleType | None:
    """The scanner's module, or None (not built, or no registry installed a loader)."""
    global _module, _loaded
    if not _loaded and _loader is not None:
        _module, _loaded = _loader(), True
    return _module
