"""What ``why502 watch`` counts of a block of an edge family's access-log lines, natively and
without polars (issue 28 item 5, "a light agent": polars is kept out of the agent).

``Watch._lb`` (``app/watch/engine.py``) needs, of each block, the requests by status and the
edge's own failures by symptom and target (or group) -- what ``LogFamilies.parse_line`` gives
line by line, at ~25-60 us a line.  The native passes that cut and decide these lines for
``stats`` (``_albscan.c``, ``_jsonscan.c``) have a counting entry each, sharing their cutting
and deciding code, that hands back the counts instead of Arrow columns: ``alb_counts`` (ALB).
A line such a pass is not sure of -- and a line the per-line reader could read otherwise than
the pass (the entries' docstrings say which) -- is handed back, and the agent reads it as
before; so the counts are the per-line reader's (``tests/watch/test_watch_native_counts.py``).
"""

from __future__ import annotations

import importlib
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from types import ModuleType

from why502.catalog.terms import term


@dataclass
class BlockCounts:
    """A block's requests by status, the edge's own failures by (symptom, target or group) --
    ``LbRecord.target or LbRecord.group or ""``, as written -- and the lines it handed back
    (each with its newline) for the per-line reader."""

    statuses: dict[int, int]
    failures: Counter[tuple[str, str]]
    rest: bytes


BlockCounter = Callable[[bytes], BlockCounts]


@cache
def _module(name: str) -> ModuleType | None:
    """The native pass ``name`` of this package, when it was built (``setup.py``)."""
    try:
        return importlib.import_module(f"why502.parsers.lblogs.{name}")
    except ImportError:
        return None


@cache
def _symptom(family: str, code: str) -> str | None:
    """The symptom of the vocabulary's term ``code`` of ``family`` (``model.resolved``: the
    record's own symptom is None for the codes the passes decide)."""
    t = term(family, code)
    return (t.symptom or None) if t is not None else None


def _failures(family: str, raw: dict[tuple[bytes, bytes], int]) -> Counter[tuple[str, str]]:
    """(code, label) counts -> (symptom, label) counts, codes without a symptom left out
    (``Watch._lb`` counts a record of the edge's own only when it has a symptom)."""
    out: Counter[tuple[str, str]] = Counter()
    for (code, label), n in raw.items():
        symptom = _symptom(family, code.decode("ascii"))
        if symptom:
            out[(symptom, label.decode("ascii"))] += n
    return out


def _alb(module: ModuleType) -> BlockCounter:
    def count(data: bytes) -> BlockCounts:
        statuses, raw, rest = module.alb_counts(data)
        return BlockCounts(statuses, _failures("alb", raw), rest)
    return count


def native_counter(family: str | None) -> BlockCounter | None:
    """The native counter of ``family``'s blocks, or None: no such pass, not built, or turned
    off (``WHY502_NATIVE=0``: the agent then reads every line as before)."""
    if os.environ.get("WHY502_NATIVE", "1") == "0":
        return None
    if family == "alb":
        module = _module("_albscan")
        return _alb(module) if module is not None and hasattr(module, "alb_counts") else None
    return None
