"""Which of a fixed set of literals a text holds: the per-line recogniser's gate of its rules
(``errorlog._gated_rules``).

A line is asked only the rules one of whose needles it holds (``PatternInfo.needles``).  Asking
~300 needles one ``in`` at a time searches the line ~300 times: ~10 us of a Caddy runtime line's
~34 us, ~30 us of an Apache error line's ~66 us (BENCHMARKS.md stop 71).  The native pass
(``parsers/_needles.c``) reads the line once; without it (not built, ``WHY502_NATIVE=0``), or
for a text with no UTF-8 form, :meth:`NeedleSearch.found` asks Python, with the same answer
(``tests/classify/test_needles_native.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from why502.parsers.extensions import native_module

_MODULE = "why502.parsers._needles"


class _NativeSet(Protocol):
    def find(self, text: str, /) -> tuple[int, ...] | None: ...


class NeedleSearch:
    """``needles`` (fixed at creation) searched for in texts: :meth:`found` gives the indices of
    those a text holds, ascending."""

    def __init__(self, needles: Sequence[str], native: str | None = None) -> None:
        """``native``: ``WHY502_NATIVE``'s value to decide by (None: the environment's, now)."""
        self.needles = tuple(needles)
        module = native_module(_MODULE, native)
        self._native: _NativeSet | None = None
        if module is not None:
            try:
                self._native = module.NeedleSet(list(self.needles))
            except UnicodeEncodeError:  # a needle with no UTF-8 form: Python asks them all
                self._native = None

    @property
    def is_native(self) -> bool:
        return self._native is not None

    def native_found(self, text: str) -> tuple[int, ...] | None:
        """:meth:`found` by the native pass, or None when it cannot answer (not built, turned off,
        or ``text`` has no UTF-8 form): the caller then asks the needles its own way."""
        return self._native.find(text) if self._native is not None else None

    def found(self, text: str) -> Sequence[int]:
        """The indices of the needles ``text`` holds (``needles[i] in text``), ascending."""
        got = self.native_found(text)
        if got is not None:
            return got
        return [i for i, needle in enumerate(self.needles) if needle in text]
