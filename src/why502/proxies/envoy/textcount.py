"""``watch``'s native counter of this proxy's text access lines (default and Istio formats):
declared by its log family (``log.py``: ``LogFamily.text_counts``), run by
``parsers.lblogs.counts.native_counter``; polars-free, as the agent is (issue 28 item 5).

The agent read these lines with the family's text status regex and ``parse_envoy_text`` on
every 5xx (~420k lines per CPU-second, py-spy: a third of it the regex, 40 % the parser).
``_envoyscan.text_counts`` takes the lines whose shape leaves no doubt (its header says which)
and counts their statuses; each 5xx comes back grouped by the values ``parse_envoy_text``
decides on, and each group is decided here once, by the parser's own ``_record``, with what
the parser would give it.  Every line it is not sure of is handed back to the per-line reader,
so the counts stay exact (``tests/watch/test_watch_native_counts.py``).
"""

from __future__ import annotations

import importlib
import os
import re
from collections import Counter
from types import ModuleType

from why502.parsers.lblogs.counts import BlockCounter, BlockCounts
from why502.parsers.lblogs.model import LbRecord
from why502.proxies.envoy.log import TEXT_STATUS, _dash, _record

__all__ = ["text_counter"]

#: a 5xx group: (status, flags, details, transport failure reason, upstream host, cluster), as
#: written (``_envoyscan.c``); None: the line has no such token
Group = tuple[int, bytes, bytes, bytes, "bytes | None", "bytes | None"]


def _module() -> ModuleType | None:
    """The native pass, when it was built (``setup.py``)."""
    try:
        return importlib.import_module("why502.proxies.envoy._envoyscan")
    except ImportError:
        return None


def _text(v: bytes | None) -> str | None:
    return None if v is None else v.decode("ascii")


def record(group: Group) -> LbRecord:
    """The record ``parse_envoy_text`` reads of each line of a 5xx group, but for the values
    that do not decide it (time, request, client...): the same ``_record`` call, with the values
    the parser passes it (the dash of an absent details or transport failure reason read as
    empty, of an absent host or cluster as None)."""
    status, flags, details, tfr, upstream, cluster = group
    d, t = details.decode("ascii"), tfr.decode("ascii")
    return _record(status=status, flags=flags.decode("ascii").split(","), details=d if d != "-" else "",
                   tfr=t if t != "-" else "", time=None, request=None, host=None,
                   upstream=_dash(_text(upstream)), cluster=_dash(_text(cluster)), duration=None,
                   upstream_ms=None, client=None)


def decide(group: Group) -> tuple[str, str] | None:
    """A 5xx group's failure of the proxy's own, (symptom, target or group), as ``Watch._lb``
    counts the record ``parse_envoy_text`` reads of each of its lines (None: none)."""
    rec = record(group)
    if rec.failed and rec.made_by == "lb" and rec.symptom:
        return rec.symptom, rec.target or rec.group or ""
    return None


def text_counter(status_rx: re.Pattern[bytes] | None) -> BlockCounter | None:
    """The counter of a block of text lines, or None: not built, turned off
    (``WHY502_NATIVE=0``), or the agent reads the other lines with a status regex that is not
    the text one (``_status_regex`` chose the JSON key's: a text line it does not match has no
    status counted, so none may be counted here either)."""
    if os.environ.get("WHY502_NATIVE", "1") == "0":
        return None
    if status_rx is not None and status_rx is not TEXT_STATUS:
        return None
    module = _module()
    if module is None:
        return None
    decided: dict[Group, tuple[str, str] | None] = {}

    def count(data: bytes) -> BlockCounts:
        statuses, groups, rest = module.text_counts(data)
        failures: Counter[tuple[str, str]] = Counter()
        for group, n in groups.items():
            if group in decided:
                failure = decided[group]
            else:
                failure = decided[group] = decide(group)
                if len(decided) > 4096:  # bounded: the groups of a long run
                    decided.clear()
            if failure is not None:
                failures[failure] += n
        return BlockCounts(statuses, failures, rest)
    return count
