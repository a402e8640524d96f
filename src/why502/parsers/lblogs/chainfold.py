"""A family whose log mixes JSON lines and a text format (Envoy's default and Istio's, Traefik's
common format) counted by two native folds chained on each block (issue 28 item 2): the JSON
pass's fold (``parsers.lblogs.jsonfold``) and the family's text fold, each on the lines the other
hands back.  What ``stats`` does with a row is count it (``parsers.lblogs.fold``), so the two
folds' groups are summed as one fold's.
"""

from __future__ import annotations

import array
from typing import Any, Protocol

import polars as pl

from why502.parsers.lblogs.batch import empty_records
from why502.parsers.lblogs.fold import BlockFold, Counted, Raw
from why502.parsers.lblogs.jsonfold import JsonFold


class TextPass(Protocol):
    """A family's fold of its text lines (``_envoyscan.text_fold_*``, ``_traefikscan.clf_fold_*``)."""

    def block(self, data: Raw) -> tuple[list[int], bytes, int]:
        """The lines of ``data`` it hands back (their numbers in ``data``, their text: each line
        and a newline), and how many it counted."""

    def size(self) -> tuple[int, int]:
        """(groups of its largest table, rows counted) since the last ``take``."""

    def take(self) -> Counted | None:
        """The groups counted since the last ``take`` (None: no row), the tables emptied."""


class NativeTextFold:
    """The ``block`` and ``size`` of a text fold of a native pass whose entries are
    ``<prefix>_new``, ``<prefix>_block`` (``group_table.h`` ``fold_scan``'s answer),
    ``<prefix>_size`` and ``<prefix>_take``: its subclass decides the groups ``take`` gets
    (``proxies.envoy.textfold.TextFold``, ``proxies.traefik.clffold.ClfFold``)."""

    def __init__(self, module: Any, prefix: str) -> None:
        self.module = module
        self._block, self._size = getattr(module, f"{prefix}_block"), getattr(module, f"{prefix}_size")
        self._take = getattr(module, f"{prefix}_take")
        self.cap = getattr(module, f"{prefix}_new")()

    def block(self, data: Raw) -> tuple[list[int], bytes, int]:
        """The lines of ``data`` it hands back (their numbers in ``data``, their text: each line
        and a newline), and how many it counted."""
        back, text, taken = self._block(self.cap, data)
        return array.array("I", back).tolist(), text, int(taken)

    def size(self) -> tuple[int, int]:
        groups, rows = self._size(self.cap)
        return int(groups), int(rows)


class JsonAndTextFold:
    """``parsers.lblogs.fold.BlockFold`` of the two passes: the JSON fold and ``text``.
    ``classify``'s summary (``codes_only``) keeps the text fold's codes, its other tables unused."""

    def __init__(self, json: JsonFold, text: TextPass) -> None:
        self.json, self.text = json, text

    def codes_only(self) -> None:
        self.json.codes_only()

    def share(self, other: BlockFold) -> None:
        """The JSON fold's decisions shared (``JsonFold.share``); the text fold decides each
        take's groups in polars, with nothing kept."""
        if isinstance(other, JsonAndTextFold):
            self.json.share(other.json)

    def block(self, data: Raw) -> tuple[pl.DataFrame, list[int], int]:
        """The two passes, the one of the block's first line first on the block as it is, the
        other on the lines it hands back.  They take no line in common (a text line never starts
        with ``{``, a JSON one does), so the order changes no count; it spares a log of one
        format the other pass's scan and the copy of every line for it (~0.1 s of 1M Istio
        lines).  (The empty "line" after a block's last newline, which the text pass does not
        offer, is no row either way.)"""
        if data[:1] == b"{":
            back, text, folded = self.json.block_text(data)
            if not back:
                return NO_RECORDS, back, folded
            kept, _text, taken = self.text.block(text)
            return NO_RECORDS, [back[i] for i in kept], folded + taken
        back, text, taken = self.text.block(data)
        if not back:
            return NO_RECORDS, back, taken
        # (the JSON pass reads a line after a final newline: that newline is the text pass's)
        kept, _text, folded = self.json.block_text(text[:-1])
        return NO_RECORDS, [back[i] for i in kept], folded + taken

    def size(self) -> tuple[int, int]:
        groups, rows = self.json.size()
        text_groups, text_rows = self.text.size()
        return max(groups, text_groups), rows + text_rows

    def take(self) -> Counted | None:
        got, text = self.json.take(), self.text.take()
        if text is None:
            return got
        return text if got is None else summed(got, text)


def summed(one: Counted, other: Counted) -> Counted:
    """Two folds' groups as one fold's (their frames one after the other, the codes in time order)."""
    timeline, target, group, codes = (pl.concat([a, b], how="vertical_relaxed") for a, b in (
        (one.timeline, other.timeline), (one.target, other.target), (one.group, other.group),
        (one.codes, other.codes)))
    return Counted(one.rows + other.rows, timeline, target, group, in_time_order(codes))


def in_time_order(codes: pl.DataFrame) -> pl.DataFrame:
    """The failures' groups by their least time (then their values): the accumulator ranks
    codes of one count in the order it first saw them (``LbStatsAccumulator._by_code``), which
    on the row path is the order of their first lines -- the order of their least times in a log
    written in time order.  In a pass's hash order (seeded per process) a tie would come out in
    another order each run."""
    return codes.sort(["first", "code", "symptom", "proxy_status", "cause", "status"], nulls_last=True)


#: the rows a pass hands over: none (the lines it does not take go back)
NO_RECORDS = empty_records()
