"""``classify``'s summary of this proxy's log read in native passes: its JSON lines in the JSON
pass's fold (``parsers.lblogs.jsonfold``), its text lines (default and Istio formats) in
``_envoyscan.text_ranges`` (issue 28 item 2).

The fold serves ``stats`` and ``classify``; the text pass serves ``classify``'s summary alone
(``BlockFold.codes_only``).  What the summary keeps of a line is whether the proxy failed it
itself and, if so, its code, status, symptom and time.  ``text_ranges`` is ``watch``'s text
counter (``textcount.py``: it takes only the lines whose shape leaves no doubt, and hands the
others back) with each 5xx group's least and greatest time: a taken line below 500 has no flag,
so no code and no failure of the proxy's own (the pass's header says why); a 5xx group is decided
once by the parser's own ``_record`` (``textcount.decide``'s call).  Every other line stays a row
(``tests/classify/test_lb_summary.py`` holds the summary equal to the rows').
"""

from __future__ import annotations

import array
from typing import Any

import polars as pl

from why502.parsers.lblogs.batch import empty_records
from why502.parsers.lblogs.fold import Counted
from why502.parsers.lblogs.jsonfold import CODES_SCHEMA, JsonFold, empty_counted
from why502.proxies.envoy.textcount import Group, _module, record

_Range = list[Any]  # [lines, least time, greatest time]: the times as bytes


class EnvoyFold:
    """``parsers.lblogs.fold.BlockFold`` of this proxy's log: the JSON fold, and, for the summary,
    the text lines it hands back counted by ``text_ranges``."""

    def __init__(self, json: JsonFold) -> None:
        self.json = json
        self.text: Any = None  # _envoyscan, once codes_only
        self.groups: dict[Group, _Range] = {}
        self.rows = 0

    def codes_only(self) -> None:
        self.json.codes_only()
        self.text = _module()

    def block(self, data: bytes) -> tuple[pl.DataFrame, list[int], int]:
        if self.text is None:
            return self.json.block(data)
        back, text, folded = self.json.block_text(data)
        if not back:
            return _NONE, back, folded
        statuses, groups, kept = self.text.text_ranges(text)
        taken = sum(statuses.values())
        for group, (n, first, last) in groups.items():
            have = self.groups.get(group)
            if have is None:
                self.groups[group] = [n, first, last]
            else:
                have[0] += n
                have[1], have[2] = min(have[1], first), max(have[2], last)
        self.rows += taken
        return _NONE, [back[i] for i in array.array("I", kept)], folded + taken

    def size(self) -> tuple[int, int]:
        groups, rows = self.json.size()
        return max(groups, len(self.groups)), rows + self.rows

    def take(self) -> Counted | None:
        got = self.json.take()
        if not self.rows:
            return got
        codes: list[tuple[Any, ...]] = []
        for group, (n, first, last) in self.groups.items():
            rec = record(group)
            if rec.failed and rec.made_by == "lb":
                codes.append((rec.code, rec.status, rec.made_by, rec.symptom, rec.proxy_status, rec.cause,
                              True, rec.kind, first.decode("ascii"), last.decode("ascii"), n))
        text = pl.DataFrame(codes, schema=CODES_SCHEMA, orient="row")
        rows, self.rows, self.groups = self.rows, 0, {}
        if got is None:
            return Counted(rows, *empty_counted(), text)
        return Counted(got.rows + rows, got.timeline, got.target, got.group,
                       pl.concat([got.codes, text], how="vertical_relaxed"))


_NONE = empty_records()  # the rows a pass hands over: none (the lines it does not take go back)
