"""This proxy's log read in native passes for ``stats`` and ``classify``'s summary: its JSON lines
in the JSON pass's fold (``parsers.lblogs.jsonfold``), its text lines (default and Istio
formats) in ``_envoyscan.c`` (issue 28 item 2).

For ``stats``, the text lines go through ``_envoyscan.text_fold_*`` (chained with the JSON fold by
``parsers.lblogs.chainfold``): the lines the text reader's regex (``frame.ENVOY_RX``) takes without
doubt are counted in C by the regex's raw captures that ``stats`` decides a row on (the pass's
header says which), in three tables, and each group is decided once here by the reader's own
expressions (``frame.text_records``, then ``batch.finish``) on its captures: the row path's
decisions, made on the groups instead of on each row.  The lines the pass leaves go back and stay
rows (``tests/stats/test_envoy_text_fold.py`` holds ``stats`` equal to the rows').  Before, each
text line was a row of the polars reader (~5.5 us a line, 0.18M lines/s; BENCHMARKS.md "2026-11-26
(stop 54)").

For ``classify``'s summary (``BlockFold.codes_only``), what it keeps of a line is whether the
proxy failed it itself and, if so, its code, status, symptom and time: the stats fold's codes
(with each group's least and greatest time), its other tables unused.  Without that fold (a
build of ``_envoyscan`` before it), ``text_ranges`` counts them: it is
``watch``'s text counter (``textcount.py``: it takes only the lines whose shape leaves no doubt,
and hands the others back) with each 5xx group's least and greatest time: a taken line below
500 has no flag, so no code and no failure of the proxy's own (the pass's header says why); a
5xx group is decided once by the parser's own ``_record`` (``textcount.decide``'s call).  Every
other line stays a row (``tests/classify/test_lb_summary.py`` holds the summary equal to the
rows').
"""

from __future__ import annotations

import array
from typing import Any

import polars as pl

from why502.parsers.arrowcols import frame as arrow_frame
from why502.parsers.lblogs.batch import finish
from why502.parsers.lblogs.chainfold import NO_RECORDS, JsonAndTextFold, NativeTextFold, in_time_order, summed
from why502.parsers.lblogs.fold import BlockFold, Counted, Raw
from why502.parsers.lblogs.jsonfold import CODES_SCHEMA, JsonFold, empty_counted
from why502.proxies.envoy.frame import text_records
from why502.proxies.envoy.log import NAME
from why502.proxies.envoy.textcount import Group, _module, record

_Range = list[Any]  # [lines, least time, greatest time]: the times as bytes


class EnvoyFold:
    """``parsers.lblogs.fold.BlockFold`` of this proxy's log on a build of ``_envoyscan`` without
    stats' text fold (``envoy_fold`` chains the two folds when it has it): the JSON fold, and,
    for ``classify``'s summary (``codes_only``), the text lines it hands back counted by
    ``text_ranges``; for ``stats`` the text lines stay rows."""

    def __init__(self, json: JsonFold) -> None:
        self.json = json
        self.text: Any = None  # _envoyscan, once codes_only
        self.groups: dict[Group, _Range] = {}
        self.rows = 0

    def codes_only(self) -> None:
        self.json.codes_only()
        self.text = _module()

    def share(self, other: BlockFold) -> None:
        """The JSON fold's decisions shared (``JsonFold.share``); the text lines' are the
        parser's, asked per group at each take."""
        if isinstance(other, EnvoyFold):
            self.json.share(other.json)

    def block(self, data: Raw) -> tuple[pl.DataFrame, list[int], int]:
        if self.text is None:
            return self.json.block(data)
        back, text, folded = self.json.block_text(data)
        if not back:
            return NO_RECORDS, back, folded
        statuses, groups, kept_rows = self.text.text_ranges(text)
        taken = sum(statuses.values())
        for group, (n, first, last) in groups.items():
            have = self.groups.get(group)
            if have is None:
                self.groups[group] = [n, first, last]
            else:
                have[0] += n
                have[1], have[2] = min(have[1], first), max(have[2], last)
        self.rows += taken
        return NO_RECORDS, [back[i] for i in array.array("I", kept_rows)], folded + taken

    def size(self) -> tuple[int, int]:
        groups, rows = self.json.size()
        return max(groups, len(self.groups)), rows + self.rows

    def take(self) -> Counted | None:
        got, text = self.json.take(), self._take_ranges()
        if text is None:
            return got
        return text if got is None else summed(got, text)

    def _take_ranges(self) -> Counted | None:
        """The summary's groups of the text lines (``codes_only``), decided by the parser."""
        if not self.rows:
            return None
        codes: list[tuple[Any, ...]] = []
        for group, (n, first, last) in self.groups.items():
            rec = record(group)
            if rec.failed and rec.made_by == "lb":
                codes.append((rec.code, rec.status, rec.made_by, rec.symptom, rec.proxy_status, rec.cause,
                              True, rec.kind, first.decode("ascii"), last.decode("ascii"), n))
        text = pl.DataFrame(codes, schema=CODES_SCHEMA, orient="row")
        rows, self.rows, self.groups = self.rows, 0, {}
        return Counted(rows, *empty_counted(), text)


#: the captures of ``frame.ENVOY_RX`` (``text_records`` reads them from the struct column ``m``)
_CAPTURES = ("time", "req", "code", "flags", "details", "tfr", "dur", "ust", "auth", "uhost", "cluster")


def decided(groups: pl.DataFrame) -> pl.DataFrame:
    """Each group of captures (``groups``: columns named as the captures, the absent ones null)
    read as the text reader reads a line of them (``frame.text_records``, ``batch.finish``): its
    record's columns, a row per group in order.  (No group has a time: the reader passes it
    through, no decision reads it.)"""
    given = [(pl.col(name) if name in groups.columns else pl.lit(None, dtype=pl.String)).alias(name)
             for name in _CAPTURES]
    m = groups.select(pl.struct(given).alias("m")).with_row_index("idx")
    return finish(text_records(m), NAME)


#: what ``stats`` counts of a line, by the captures that decide it (``text_records`` reads each
#: value from these alone: the time, request, authority and duration decide nothing it counts):
#: {kind: (its captures, {the reader's column: its name in the groups})}
_KINDS: dict[str, tuple[list[str], dict[str, str]]] = {
    "decide": (["code", "flags", "details", "tfr"],
               {"status": "status", "made_by": "made_by", "retries": "retries", "code": "_code",
                "symptom": "symptom", "proxy_status": "proxy_status", "cause": "cause", "failed": "failed",
                "kind": "kind"}),
    "target": (["uhost"], {"target": "target"}),
    "group": (["cluster"], {"group": "group"}),
    "timing": (["ust"], {"upstream_ms": "upstream_ms"}),
}
#: decided values kept for the next takes of a read, per kind; past this many it starts again
CACHE_MAX = 1 << 14


class _Decisions:
    """The reader's decisions of the distinct values of each kind of captures (``_KINDS``), each
    decided once per read and kept as a frame to join the groups to: a take's groups mostly
    repeat the values of the takes before.  The values a take has not seen yet are decided in one
    ``decided`` call, all kinds together: its fixed cost (~15 ms, the expressions' build) was
    most of a take, and four of them most of ``stats`` on a short log."""

    def __init__(self) -> None:
        self.known: dict[str, pl.DataFrame | None] = dict.fromkeys(_KINDS)

    def learn(self, wanted: dict[str, pl.DataFrame]) -> None:
        """Decide the values of each kind in ``wanted`` (frames holding its captures) not known yet."""
        new: dict[str, pl.DataFrame] = {}
        for kind, groups in wanted.items():
            keys = _KINDS[kind][0]
            values = groups.select(keys).unique()
            known = self.known[kind]
            if known is not None and known.height + values.height > CACHE_MAX:
                known = self.known[kind] = None  # bounded: decided again from here
            if known is not None:
                values = values.join(known.select(keys), on=keys, how="anti", nulls_equal=True)
            if values.height:
                new[kind] = values
        if not new:
            return
        # one frame of every kind's values (each row's other captures null), read once
        rec = decided(pl.concat(list(new.values()), how="diagonal"))
        at = 0
        for kind, values in new.items():
            columns = _KINDS[kind][1]
            got = pl.concat([values, rec.slice(at, values.height).select(
                *(pl.col(c).alias(a) for c, a in columns.items()))], how="horizontal")
            at += values.height
            known = self.known[kind]
            self.known[kind] = got if known is None else pl.concat([known, got], how="vertical")

    def of(self, kind: str, groups: pl.DataFrame) -> pl.DataFrame:
        """``groups`` with the decided columns of ``kind`` joined (``learn`` saw its values)."""
        known = self.known[kind]
        assert known is not None
        return groups.join(known, on=_KINDS[kind][0], how="left", nulls_equal=True)


class TextFold(NativeTextFold):
    """``stats``' fold of the text lines: ``_envoyscan.text_fold_*`` counts them across the
    blocks of a read, and ``take`` decides each group's captures with the reader's expressions
    (``decided``), once per distinct value per read (``_Decisions``)."""

    def __init__(self, module: Any) -> None:
        super().__init__(module, "text_fold")
        self.decisions = _Decisions()

    def take(self) -> Counted | None:
        """The groups since the last take as ``Counted``'s frames (None: no line counted): the
        timeline's groups with their minute, and the failures Envoy made itself with their least
        and greatest time; the per-target and per-group tables' (each holds every line)."""
        (tl_caps, target_caps, group_caps, rows) = self._take(self.cap)
        if not rows:
            return None
        tl, target, group = arrow_frame(*tl_caps), arrow_frame(*target_caps), arrow_frame(*group_caps)
        deciding = _KINDS["decide"][0]
        known = self.decisions
        known.learn({"decide": pl.concat([t.select(deciding) for t in (tl, target, group)]), "target": target,
                     "group": group, "timing": pl.concat([target.select("ust"), group.select("ust")])})
        tl = known.of("decide", tl)
        timeline = tl.select("minute", "status", "made_by", "retries", "n")
        codes = in_time_order(tl.filter(pl.col("failed") & (pl.col("made_by") == "lb")).drop("code")
                               .rename({"_code": "code"}).select(*CODES_SCHEMA)
                               .cast(CODES_SCHEMA))  # type: ignore[arg-type]
        per = {key: known.of("timing", known.of(key, known.of("decide", groups))).select(
            key, "status", "made_by", "retries", "upstream_ms", "n")
            for key, groups in (("target", target), ("group", group))}
        return Counted(int(rows), timeline, per["target"], per["group"], codes)


def envoy_fold(json: JsonFold) -> JsonAndTextFold | EnvoyFold:
    """This proxy's fold: the JSON fold chained with the text fold (``JsonAndTextFold``), or, on
    a build of ``_envoyscan`` without the text fold, ``EnvoyFold``."""
    module = _module()
    if module is not None and hasattr(module, "text_fold_new"):
        return JsonAndTextFold(json, TextFold(module))
    return EnvoyFold(json)
