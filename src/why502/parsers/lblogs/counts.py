"""What ``why502 watch`` counts of a block of an edge family's access-log lines, natively and
without polars (issue 28 item 5, "a light agent": polars is kept out of the agent).

``Watch._lb`` (``app/watch/engine.py``) needs, of each block, the requests by status and the
edge's own failures by symptom and target (or group) -- what ``LogFamilies.parse_line`` gives
line by line, at ~25-60 us a line.  The native passes that cut and decide these lines for
``stats`` (``_albscan.c``, ``_jsonscan.c``) have a counting entry each, sharing their cutting
and deciding code, that hands back the counts instead of Arrow columns: ``alb_counts`` (ALB)
and ``json_counts`` (Caddy, Traefik's JSON, Cloudflare, Envoy's JSON: the lines grouped by the
values that decide them, each group then decided once by the family's own parser,
``JsonCount``).  A line such a pass is not sure of -- and a line the per-line reader could read
otherwise than the pass (the entries' docstrings say which) -- is handed back, and the agent
reads it as before; so the counts are the per-line reader's
(``tests/watch/test_watch_native_counts.py``).
"""

from __future__ import annotations

import importlib
import os
import re
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from types import ModuleType
from typing import Any

from why502.catalog.terms import term
from why502.parsers.lblogs.countspec import JsonCount, JsonFoldSpec, as_read
from why502.parsers.lblogs.family import LogFamily
from why502.parsers.lblogs.model import LbRecord


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


#: Cloudflare's Logpush lines (parsers/lblogs/batch.py: ``CLOUDFLARE_SCHEMA``, ``_CF_NATIVE``): a
#: family of this package, so its spec is here
CLOUDFLARE_COUNTS = JsonCount(
    "cloudflare",
    keys=((b"EdgeResponseStatus", "l", True, False, ()), (b"OriginResponseStatus", "l", True, False, ()),
          (b"OriginIP", "u", False, False, ()),
          *((k.encode(), "g", False, False, ()) for k in (
              "OriginResponseHeaderReceiveDurationMs", "OriginResponseDurationMs", "OriginResponseTime")),
          *((k.encode(), "u", False, False, ()) for k in (
              "ClientRequestMethod", "ClientRequestURI", "ClientRequestPath", "EdgeStartTimestamp",
              "ClientRequestHost", "ClientIP", "RayID"))),
    forbidden=(), nested_ok=True,
    # every value "v": the edge's own 403/429 (origin status 0) are its failures too
    # (a 429 is "rate-limited"), so the target and host count below 500 as well
    group=(("EdgeResponseStatus", "v"), ("OriginResponseStatus", "v"), ("OriginIP", "v"),
           ("ClientRequestHost", "v")),
    prefix=(), once=('"EdgeResponseStatus"',), obj=as_read)


def _cloudflare_timing(groups: Any) -> Any:
    from why502.parsers.lblogs.batch import cloudflare_upstream_ms  # polars: only when stats reads

    return cloudflare_upstream_ms(groups)


#: what ``stats`` counts of Cloudflare's lines in the native pass (``parsers.lblogs.jsonfold``):
#: ``parse_cloudflare`` decides who made the status and its code from the two statuses, reads
#: the target and group from ``OriginIP`` and ``ClientRequestHost`` and the timing from the first
#: of three keys that holds one
CLOUDFLARE_FOLD = JsonFoldSpec(
    time="EdgeStartTimestamp",
    decide=(("EdgeResponseStatus", "v"), ("OriginResponseStatus", "v")),
    per=(("OriginIP", "v"), ("ClientRequestHost", "v")),
    # read at the tenth of a millisecond the accumulator counts them at (``_jsonscan.c``
    # ``tenth_ms``): nanosecond timings made a group of nearly every line
    timing=(("OriginResponseHeaderReceiveDurationMs", "q"), ("OriginResponseDurationMs", "q"),
            ("OriginResponseTime", "n")),
    timing_of=_cloudflare_timing)


def _group_values(raw: bytes, names: tuple[str, ...]) -> dict[str, Any]:
    """A group key of ``json_counts`` (per value: a absent -- left out --, n null, x not empty,
    i + int64, g + double, s + length + text)."""
    out: dict[str, Any] = {}
    k = 0
    for name in names:
        tag = raw[k:k + 1]
        k += 1
        if tag == b"a":
            continue
        if tag == b"n":
            out[name] = None
        elif tag == b"x":
            out[name] = "x"
        elif tag in (b"i", b"g"):
            out[name] = struct.unpack_from("=q" if tag == b"i" else "=d", raw, k)[0]
            k += 8
        else:
            (n,) = struct.unpack_from("=I", raw, k)
            out[name] = raw[k + 4:k + 4 + n].decode("utf-8")  # (the pass reads well-formed UTF-8)
            k += 4 + n
    return out


def _json(module: ModuleType, spec: JsonCount, fam: LogFamily) -> BlockCounter:
    args = (spec.keys, tuple(f.encode() for f in spec.forbidden), spec.nested_ok,
            tuple((n.encode(), m) for n, m in spec.group),
            tuple((n.encode(), t.encode()) for n, t in spec.prefix), tuple(t.encode() for t in spec.once))
    names = tuple(n for n, _m in spec.group)
    parse = fam.parse_json
    assert parse is not None
    decided: dict[bytes, tuple[int | None, tuple[str, str] | None]] = {}

    def decide(raw: bytes) -> tuple[int | None, tuple[str, str] | None]:
        got = decided.get(raw)
        if got is None:
            got = decided[raw] = _decided(parse(spec.obj(_group_values(raw, names))))
            if len(decided) > 4096:  # bounded: the group keys of a long run
                decided.clear()
        return got

    def count(data: bytes) -> BlockCounts:
        groups, rest = module.json_counts(data, *args)
        statuses: dict[int, int] = {}
        failures: Counter[tuple[str, str]] = Counter()
        for raw, n in groups.items():
            status, failure = decide(raw)
            if status is not None:
                statuses[status] = statuses.get(status, 0) + n
            if failure is not None:
                failures[failure] += n
        return BlockCounts(statuses, failures, rest)
    return count


def _decided(rec: LbRecord | None) -> tuple[int | None, tuple[str, str] | None]:
    """What ``Watch._lb`` counts of a record: its status (a request's), and (symptom, target or
    group) when it is a failure of the edge's own with a symptom."""
    if rec is None:  # the pass takes no line its family's parser refuses (tested)
        raise ValueError("a group the family's parser does not read")
    status = rec.status if rec.kind == "access" else None
    failed = rec.failed and rec.made_by == "lb" and rec.symptom
    return status, ((rec.symptom or "", rec.target or rec.group or "") if failed else None)


def _chained(first: BlockCounter, then: BlockCounter) -> BlockCounter:
    """``first``, then ``then`` on the lines ``first`` hands back: a family of text and JSON
    lines (each pass takes only its own)."""
    def count(data: bytes) -> BlockCounts:
        a = first(data)
        if not a.rest:
            return a
        b = then(a.rest)
        statuses = dict(a.statuses)
        for code, n in b.statuses.items():
            statuses[code] = statuses.get(code, 0) + n
        return BlockCounts(statuses, a.failures + b.failures, b.rest)
    return count


def native_counter(fam: LogFamily | None, status_rx: re.Pattern[bytes] | None = None) -> BlockCounter | None:
    """The native counter of the blocks of family ``fam`` (``proxies.logfamilies.families()``'s:
    a JSON family's groups are decided by its parser; its text lines by its own counter,
    ``LogFamily.text_counts``, given ``status_rx``: the status regex ``Watch._lb`` reads the
    other lines with, None when it reads them with ``parse_line``), or None: no such pass, not
    built, or turned off (``WHY502_NATIVE=0``: the agent then reads every line as before)."""
    if os.environ.get("WHY502_NATIVE", "1") == "0" or fam is None:
        return None
    whole = _whole_counter(fam)
    text = fam.text_counts(status_rx) if fam.text_counts is not None else None
    if text is None:
        return whole
    return text if whole is None else _chained(text, whole)


def _whole_counter(fam: LogFamily) -> BlockCounter | None:
    """The counter of ``_albscan`` or ``_jsonscan`` for ``fam``, when there is one."""
    if fam.name == "alb":
        module = _module("_albscan")
        return _alb(module) if module is not None and hasattr(module, "alb_counts") else None
    spec = fam.counts if fam.counts is not None else (CLOUDFLARE_COUNTS if fam.name == "cloudflare" else None)
    module = _module("_jsonscan") if spec is not None else None
    if spec is not None and module is not None and hasattr(module, "json_counts"):
        return _json(module, spec, fam)
    return None
