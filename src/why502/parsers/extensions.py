"""The optional C passes below the sources layer -- the sources' (``sources/_lines.c``,
``sources/_unframe.c``) and the parsers' (``parsers/_needles.c``) -- loaded when they were built
and not turned off.

Why here and not ``parsers.arrowcols.native_pass``: that one imports polars, which ``watch``'s
agent keeps out of what it reads logs with; and the sources layer sits above this one, so both
layers load theirs here.  Built when a C compiler and Python's headers were there at install
(``setup.py``, optional); ``WHY502_NATIVE=0`` turns them off, and the Python references do the
same work with the same answers.
"""

from __future__ import annotations

import importlib
import os
from functools import cache
from types import ModuleType


def native_module(name: str, native: str | None = None) -> ModuleType | None:
    """The module ``name`` (dotted), or None when it was not built or ``native`` -- the value of
    ``WHY502_NATIVE``, read at each call when not given: a test may change it mid-run -- is "0"."""
    return _loaded(name, os.environ.get("WHY502_NATIVE", "1") if native is None else native)


@cache
def _loaded(name: str, native: str) -> ModuleType | None:
    if native == "0":
        return None
    try:
        return importlib.import_module(name)
    except ImportError:
        return None
