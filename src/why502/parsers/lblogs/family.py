"""A log family as data (:class:`LogFamily`), and a set of them read as one (:class:`LogFamilies`).

A family is what one edge writes: how its JSON lines and text lines are recognised and read, the
lines of its program that are no request, its vectorised reader, the status regexes ``watch``
counts with, what ``stats`` calls it and the timeout it applies by default.  The families of
edges that are no registered proxy (ALB/ELB, Cloudflare, Traefik: ``parsers.lblogs``) are
declared next to their parsers; a registered proxy's (Envoy, Caddy) in its own folder
(``proxies/<name>/log.py``), reached through the registry (``why502.proxies.logfamilies``): this
layer is below the registry, so it is given the families and names none of them (issue 23).

Order decides between families that could both take a line, so it is data too: ``rank`` is the
order the families are tried in (a JSON object goes to the first family that recognises it, a
line of unknown family to the first text parser that reads it), ``sniffers`` the order of the
text recognisers, which interleave across families (a strict format of one before a loose one
of another).  The numbers are the order of the readers before the families were split, so the
same line goes to the same family.

``kubectl logs --timestamps`` (and ``--prefix``) puts its framing before every line
(``wrappers.KUBECTL_FRAMING``: an RFC 3339 time and a space).  A JSON line is read from its first
``{`` and most text formats are searched, so they read through it; an anchored one (Traefik's
common format, the ALB's) refused every line of such a log.  So each text recogniser and parser
is asked of a line as written and then, when kubectl's framing starts it, of the line without it,
before the next one: a line any reader takes as written reads as before, and a framed line reads
as the same line unframed (its own time kept: the request's, not when the kubelet read it).
"""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from why502.parsers.lblogs.countspec import JsonCount
from why502.parsers.lblogs.model import LbRecord
from why502.parsers.wrappers import kubectl_unframed

if TYPE_CHECKING:
    import polars as pl

    from why502.parsers.lblogs.fold import BlockFold

SNIFF_LINES = 50

#: ``(lines) -> (records of the lines it takes, the idx of the others)``: a vectorised reader
#: (``parsers.lblogs.batch``), the same rows as the per-line parser
FrameReader = Callable[["pl.Series"], "tuple[pl.DataFrame, pl.Series]"]
#: ``(raw bytes of whole lines) -> (records of the lines it takes, with their ``idx``; the
#: ``idx`` of the others)``, or None when it cannot run (its native pass was not built, or
#: ``WHY502_NATIVE=0``): a native reader of a block as read, before any decoding or split
BlockReader = Callable[[bytes], "tuple[pl.DataFrame, list[int]] | None"]
#: ``() -> a new fold of its native block reader`` (``parsers.lblogs.fold``), or None when it
#: cannot run
FoldMaker = Callable[[], "BlockFold | None"]
#: ``BlockReader`` that counts the requests ``diagnose`` only counts instead of handing them
#: over: ``(records of the other lines it takes, the idx of the lines it hands back, the counted
#: requests' groups as ``app.diagnose.lb._answer_groups`` makes them)``, or None when it cannot run
AnswersReader = Callable[[bytes], "tuple[pl.DataFrame, list[int], pl.DataFrame] | None"]
#: a native counter of a block (``parsers.lblogs.counts.BlockCounter``: its counts' type is
#: defined there, above this module)
TextCounter = Callable[[bytes], Any]


@dataclass(frozen=True)
class LogFamily:
    """One edge's access/error log format (module docstring)."""

    name: str  # --log-type NAME, LbRecord.family, the vocabulary's family (proxy_terms.toml)
    title: str  # who made a 5xx, in ``stats``' words: "the ALB", "Envoy"
    rank: int  # the order families are tried in (module docstring)
    is_json: Callable[[dict[str, Any]], bool] | None = None
    parse_json: Callable[[dict[str, Any]], LbRecord | None] | None = None
    #: (order among every family's, recogniser) of its text lines
    sniffers: tuple[tuple[int, Callable[[str], bool]], ...] = ()
    #: its text-line parsers, tried in order
    text_parsers: tuple[Callable[[str], LbRecord | None], ...] = ()
    #: a line of its program that is no request (Caddy's start-up lines): counts for the family
    #: when a file's family is sniffed
    own_line: Callable[[str], bool] | None = None
    frame: FrameReader | None = None
    #: its native block reader (the lines it hands back go to ``frame``, then the parsers)
    block: BlockReader | None = None
    #: its native block reader that counts the rows ``stats`` only counts (``parsers.lblogs.fold``)
    fold: FoldMaker | None = None
    #: its native block reader that counts the requests ``diagnose`` only counts
    answers: AnswersReader | None = None
    #: the timeout it applies to the backend when nothing else is known: (seconds, where from)
    default_timeout: tuple[float, str] | None = None
    #: regexes whose group 1 is a request line's status (``watch`` counts without parsing)
    status_patterns: tuple[re.Pattern[bytes], ...] = ()
    #: regexes of the request lines below 500 that may still be the edge's own failure
    #: (``LbRecord.failed``: Envoy's flags on a 200, Cloudflare's own 403/429): ``watch`` reads
    #: those with the parser too, not only the 5xx its status regex finds
    own_below_500: tuple[re.Pattern[bytes], ...] = ()
    #: how ``watch`` counts its JSON lines natively (``parsers.lblogs.counts``), None: line by line
    counts: JsonCount | None = None
    #: ``watch``'s native counter of its text lines, given the status regex the agent reads the
    #: other lines with (None: ``parse_line``): a ``parsers.lblogs.counts.BlockCounter``, or None
    #: (not built, turned off, or that regex reads some of its lines otherwise); run before the
    #: JSON counter, which gets the lines it hands back
    text_counts: Callable[[re.Pattern[bytes] | None], TextCounter | None] | None = None


def json_object(line: str) -> dict[str, Any] | None:
    """The JSON object a line carries (after any shipper prefix), or None."""
    start = line.find("{")
    if start < 0:
        return None
    try:
        obj = json.loads(line[start:], **_SANE)
    except ValueError:
        return _flat_scan(line[start:])
    except RecursionError:
        return None
    return obj if isinstance(obj, dict) else None


def _sane_int(text: str) -> int | None:
    """A JSON integer a log field can hold (a nanosecond timestamp has 19 digits), else None:
    ``int()`` of 5000 digits raises, and a 40-digit one overflows every float conversion later
    (bench/fuzz.py found both in Cloudflare and Caddy lines)."""
    return int(text) if len(text.lstrip("-")) <= 20 else None


def _sane_float(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None  # 1e309 is inf; NaN is no number


_SANE: dict[str, Any] = {"parse_int": _sane_int, "parse_float": _sane_float,
                         "parse_constant": lambda _name: None}


_SCALAR = re.compile(
    r'"([A-Za-z_][\w.-]*)"\s*:\s*'
    r'("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)'
)


def _flat_scan(text: str) -> dict[str, Any] | None:
    """The scalar fields of a JSON object that does not parse (a redacted value such as
    ``"ZoneID":******``, a line cut by a shipper): each ``"key": scalar`` read on its own, the
    first occurrence of a key kept.  None when fewer than three fields are found."""
    out: dict[str, Any] = {}
    for key, raw in _SCALAR.findall(text):
        if key in out:
            continue
        try:
            out[key] = json.loads(raw, **_SANE)
        except ValueError:
            continue
    return out if len(out) >= 3 else None


class LogFamilies:
    """Families read as one: which family a line or a file is, and a line read as its record."""

    def __init__(self, families: Iterable[LogFamily]) -> None:
        ordered = sorted(families, key=lambda f: f.rank)
        self.families: tuple[LogFamily, ...] = tuple(ordered)
        self.names: tuple[str, ...] = tuple(f.name for f in ordered)
        self._by_name = {f.name: f for f in ordered}
        self._json = tuple((f.name, f.is_json) for f in ordered if f.is_json is not None)
        self._json_parsers = {f.name: f.parse_json for f in ordered if f.parse_json is not None}
        self._sniffers = tuple((f.name, check) for _order, f, check in sorted(
            ((order, f, check) for f in ordered for order, check in f.sniffers), key=lambda t: t[0]))
        self._text_parsers = {f.name: f.text_parsers for f in ordered}
        self._text_all = tuple(p for f in ordered for p in f.text_parsers)
        self._own = tuple((f.name, f.own_line) for f in ordered if f.own_line is not None)

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def get(self, name: str | None) -> LogFamily | None:
        return self._by_name.get(name) if name is not None else None

    def frame(self, name: str | None) -> FrameReader | None:
        """The family's vectorised reader, or None (read line by line)."""
        fam = self.get(name)
        return fam.frame if fam is not None else None

    def block(self, name: str | None) -> BlockReader | None:
        """The family's native block reader, or None."""
        fam = self.get(name)
        return fam.block if fam is not None else None

    def answers(self, name: str | None) -> AnswersReader | None:
        """The family's native block reader that counts the answered requests, or None."""
        fam = self.get(name)
        return fam.answers if fam is not None else None

    def fold(self, name: str | None) -> BlockFold | None:
        """A new fold of the family's native block reader (``parsers.lblogs.fold``), or None."""
        fam = self.get(name)
        return fam.fold() if fam is not None and fam.fold is not None else None

    def json_family(self, obj: dict[str, Any]) -> str | None:
        for name, is_json in self._json:
            if is_json(obj):
                return name
        return None

    def text_family(self, line: str) -> str | None:
        """The family of a non-JSON line, or None.  Each recogniser is asked of the line as
        written, then of it without kubectl's framing (``wrappers.kubectl_unframed``), before the next one."""
        inner = kubectl_unframed(line)
        for name, check in self._sniffers:
            if check(line) or (inner is not None and check(inner)):
                return name
        return None

    def family_of(self, line: str) -> str | None:
        obj = json_object(line) if "{" in line else None
        if obj is not None:
            fam = self.json_family(obj)
            if fam is not None:
                return fam
        return self.text_family(line)

    def _votes(self, lines: Iterable[str]) -> tuple[Counter[str], int]:
        """The families of the first ``SNIFF_LINES`` non-empty lines, and how many were seen."""
        votes: Counter[str] = Counter()
        seen = 0
        for line in lines:
            if not line.strip():
                continue
            seen += 1
            line = line[:-1] if line.endswith("\r") else line  # (as ``parse_line`` reads it)
            fam = self.family_of(line)
            if fam is None:
                fam = next((name for name, own in self._own if own(line)), None)
            if fam is not None:
                votes[fam] += 1
            if seen >= SNIFF_LINES:
                break
        return votes, seen

    def detect(self, lines: Iterable[str]) -> str | None:
        """The family of the first non-empty lines: the one most of them belong to, when at
        least half of them do (a mixed log -- nginx error lines with a few Envoy lines among
        them -- stays with the nginx readers, which know every program's messages)."""
        votes, seen = self._votes(lines)
        if not votes:
            return None
        family, count = votes.most_common(1)[0]
        return family if 2 * count >= seen else None

    def detect_families(self, lines: Iterable[str]) -> tuple[str, ...]:
        """Every family of the first non-empty lines, most lines first, when lines of these
        families together are at least half of them (else ``()``: the nginx readers judge it).

        A log shipper or a copy-paste can put several edges in one file (an ALB in front of
        Envoy sidecars, Cloudflare in front of both): ``detect`` alone named none of them when
        no family held half of the lines, and the file was read as an nginx log that matched
        nothing."""
        votes, seen = self._votes(lines)
        if not votes or 2 * sum(votes.values()) < seen:
            return ()
        return tuple(fam for fam, _n in votes.most_common())

    def parse_line(self, line: str, family: str | None = None) -> LbRecord | None:
        """One line -> its record (None: not a request line of ``family``, or of any family).
        A line's ``\r`` before its newline (a log written or copied on Windows) is not part of it:
        Traefik's common-format line ends in ``ms``, and read with it no Traefik log was one."""
        if line.endswith("\r"):
            line = line[:-1]
        if line.startswith("\ufeff"):  # a file's byte-order mark, on its first line
            line = line[1:]
        if "{" in line:
            obj = json_object(line)
            if obj is not None:
                fam = self.json_family(obj)
                if fam is not None and (family is None or fam == family):
                    return self._json_parsers[fam](obj)
                if fam is not None:
                    return None
        parsers = self._text_all if family is None else self._text_parsers.get(family, ())
        inner = kubectl_unframed(line)
        for parser in parsers:
            rec = parser(line)
            if rec is None and inner is not None:
                rec = parser(inner)
            if rec is not None:
                return rec
        return None
