"""The native line scanner of the engine's format (nginx's error lines): ``classify``'s summary
and ``--format jsonl`` in one C pass per line.

The scanner is an optional C extension, built when the installing machine has a C compiler and
Python's headers (``pip install`` skips it otherwise, and why502 runs the same without it,
slower).  The engine's proxy declares it (``Hooks.native_scanner``) and the registry hands it
down (``parsers.native``): this module drives it and never names it.  It cuts nginx error-log
lines by nginx's own grammar -- the head, the key
phrase, errno, `` while `` action, detail, upstream field and request fields -- at the cost of
a few ``memchr`` passes per line, where the polars engine (``errorlog_batch``) pays ~0.2 µs for
every regex call on every row.  It holds no rule: the key phrases and detail literals are the
catalog's (``errorlog.engine_keys``, ``errorlog.detail_regexes``), and the rule of each distinct
(key, errno, action, level, detail) is ``errorlog.resolve``'s answer, asked once through
``RuleBook`` and cached in the scanner.  Lines it cannot decide with certainty (non-ASCII, an
escaped quote, no nginx head, an impossible time, a combination whose rule also needs an ``also``
literal) come back untouched as *exact* lines for the polars engine, so results are identical;
``tests/classify/test_classify_native.py`` checks it.

``WHY502_NATIVE=0`` turns it off (the polars engine does everything), for comparison and tests.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from types import ModuleType
from typing import Literal

from why502.catalog.patterns import PatternInfo, families, is_failed_request
from why502.parsers import errorlog
from why502.parsers.native import Scanner, scanner_module


def native() -> ModuleType | None:
    """The C scanner's module, None when it was not built (``parsers.native``)."""
    return scanner_module()


def available() -> bool:
    """Whether the C scanner was built and is not turned off (``WHY502_NATIVE=0``)."""
    return native() is not None and os.environ.get("WHY502_NATIVE", "1") != "0"


def status() -> str:
    """One line for ``why502 --version``: which classify engine runs."""
    # the scanner reads the engine's lines, those of the phrase family's source (nginx's)
    name = f"native {families().phrase} scanner"
    if native() is None:
        return (f"{name}: not built (no C compiler or Python headers at install time); "
                "classify runs on polars alone")
    if not available():
        return f"{name}: built, turned off by WHY502_NATIVE=0"
    return f"{name}: on"


def edge_status(proxies_passes: tuple[str, ...] = ()) -> str:
    """One line for ``why502 --version``: which of the other logs' native passes were built
    (``parsers/lblogs/_albscan.c``, ``_jsonscan.c``: ``stats``/``classify`` of ALB and JSON edge
    logs run ~2-3x faster with them), then ``proxies_passes``: the titles of the proxies whose
    own log pass was built (``Hooks.native_log_reader``, asked of the registry by the caller)."""
    import importlib.util

    built = [label for label, module in (("ALB", "_albscan"), ("JSON", "_jsonscan"))
             if importlib.util.find_spec(f"why502.parsers.lblogs.{module}") is not None]
    built += proxies_passes
    if not built:
        return "native edge-log passes: not built; the polars readers read every line"
    off = ", turned off by WHY502_NATIVE=0" if os.environ.get("WHY502_NATIVE", "1") == "0" else ""
    names = " and ".join(built) if len(built) < 3 else ", ".join(built[:-1]) + " and " + built[-1]
    return f"native edge-log passes: {names}{off or ' on'}"


@lru_cache(maxsize=1)
def _keys() -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """Every key phrase (plain ones, then the prefixed ones, in the alternation's order) and
    each key's detail literals (``errorlog.detail_literals``, in their order)."""
    plain, prefixed = errorlog.engine_keys()
    keys = (*plain, *prefixed)
    literals = errorlog.detail_literals()
    return keys, tuple(literals.get(k, ()) for k in keys)


@dataclass(frozen=True)
class Rule:
    """A rule the scanner was given: the pattern and what the summary shows of it."""

    pattern: PatternInfo

    @property
    def symptom(self) -> str:
        return self.pattern.symptom

    @property
    def status(self) -> int | None:
        return self.pattern.status


class RuleBook:
    """The scanners' resolver: (key id, errno, action, level, detail id) -> the rule's index, its
    JSON fragment (``source`` .. ``status``, as polars writes them) and whether classify counts it
    as a failed request (``catalog.patterns.is_failed_request``: a proxy's own reply is one).
    Shared by every scanner of a run, called with the GIL held."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []
        self._index: dict[str, int] = {}
        self._lock = threading.Lock()
        self._keys, self._details = _keys()

    def __call__(self, key: int, errno: int, action: str | None, level: str, detail: int,
                 ) -> tuple[int, bytes, bool] | Literal[False] | None:
        """The rule of a combination; False when it depends on a key's ``also`` literal, which the
        scanner does not look for: the line goes to the polars engine as an exact line (only the
        rare keys with an ``also`` rule, and of them only the combinations it decides)."""
        name = self._keys[key]
        phrase = families().phrase
        args = (phrase, name, errno if errno >= 0 else None, action, level,
                self._details[key][detail] if detail >= 0 else None)
        p = errorlog.resolve(*args)
        if any(errorlog.resolve(*args, also) is not p for also in errorlog.also_literals().get(name, ())):
            return False
        if p is None:
            return None
        with self._lock:
            idx = self._index.get(p.id)
            if idx is None:
                idx = self._index[p.id] = len(self.rules)
                self.rules.append(Rule(p))
        fragment = ",".join(f"{json.dumps(k)}:{json.dumps(v)}" for k, v in (
            ("source", phrase), ("symptom", p.symptom), ("event", p.event_for()), ("side", p.side_of),
            ("status", p.status)))
        return idx, fragment.encode("ascii"), is_failed_request(p.symptom)

    def scanner(self, max_groups: int = 50_000) -> Scanner:
        """A new scanner using this book (one per thread: a scanner serves one thread at a time)."""
        module = native()
        assert module is not None
        plain = len(errorlog.engine_keys()[0])
        scanner: Scanner = module.Scanner(
            [k.encode() for k in self._keys[:plain]], [k.encode() for k in self._keys[plain:]],
            [[d.encode() for d in ds] for ds in self._details], self, max_groups)
        return scanner


class ThreadScanners:
    """One scanner per worker thread, all kept so their groups can be read at the end."""

    def __init__(self, book: RuleBook, max_groups: int = 50_000) -> None:
        self.book = book
        self.max_groups = max_groups
        self.all: list[Scanner] = []
        self._local = threading.local()
        self._lock = threading.Lock()

    def get(self) -> Scanner:
        scanner: Scanner | None = getattr(self._local, "scanner", None)
        if scanner is None:
            scanner = self._local.scanner = self.book.scanner(self.max_groups)
            with self._lock:
                self.all.append(scanner)
        return scanner


def engine_since(iso: str | None) -> bytes | None:
    """``2024-05-01T12:00:00`` (naive local, what ``--since`` gives) as the raw nginx time the
    scanner compares with (``2024/05/01 12:00:00``)."""
    if iso is None:
        return None
    raw = iso[:19].replace("-", "/").replace("T", " ")
    if len(raw) != 19 or not raw.isascii():  # isoformat(timespec="seconds") always gives 19 characters
        raise ValueError(f"not a --since time: {iso!r}")
    return raw.encode("ascii")


def iso_time(raw: bytes) -> str:
    """nginx's ``YYYY/MM/DD HH:MM:SS`` as ``YYYY-MM-DDTHH:MM:SS`` (``errorlog.engine_time``'s form)."""
    text = raw.decode("ascii")
    return text.replace("/", "-").replace(" ", "T", 1)
