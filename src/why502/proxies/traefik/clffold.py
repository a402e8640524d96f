"""Traefik's log read in native folds for ``stats`` and ``classify``'s summary (issue 28 item 2):
its JSON lines in the JSON pass's fold (``parsers.lblogs.jsonfold``), its common-format lines --
Traefik's default -- in ``_traefikscan.clf_fold_*``, chained on each block
(``parsers.lblogs.chainfold``).

The common-format fold counts the lines its block reader would take (``frame.CLF_RX`` without
doubt, a time ``batch.clf_iso`` converts) by the captures the row's counted values are decided on
-- the minute, status, router, URL and, from 500 on, the body size (the pass's header says why)
-- each group with its least and greatest time.  Each group is decided here once by the reader's
own expressions (``frame.clf_records``, then ``batch.decided``): the row path's decisions, made
on the groups instead of on each row.  The lines the pass leaves go back and stay rows
(``tests/stats/test_traefik_clf_fold.py`` holds ``stats`` and the summary equal to the rows').
Before, each row was decided by the block reader's polars expressions and counted by the
accumulator (1M lines: 1.86 s, 0.54M lines/s; BENCHMARKS.md "2026-11-26 (stop 56)").
"""

from __future__ import annotations

from typing import Any

import polars as pl

from why502.parsers.arrowcols import frame as arrow_frame
from why502.parsers.lblogs.batch import decided
from why502.parsers.lblogs.chainfold import JsonAndTextFold, NativeTextFold, in_time_order
from why502.parsers.lblogs.fold import Counted
from why502.parsers.lblogs.jsonfold import CODES_SCHEMA, JsonFold
from why502.proxies.traefik.frame import CLF_CAPTURES, NAME, clf_pass, clf_records

#: the captures a group is decided on (the fold's key but the minute)
_DECIDING = ("status", "size", "router", "url")
#: the captures no counted value reads, given to the reader as any line of the form holds them
_FILLER = {"client": "-", "time": "01/Jan/2000:00:00:00 +0000", "req": "GET /", "count": "0", "dur": "0"}
_NO_IDX = pl.Series("idx", [], dtype=pl.UInt32)


def traefik_fold(json: JsonFold) -> JsonAndTextFold | JsonFold:
    """This proxy's fold: the JSON fold chained with the common-format fold, or the JSON fold
    alone on a build of ``_traefikscan`` without it (the common-format lines then stay rows)."""
    module = clf_pass()
    if module is not None and hasattr(module, "clf_fold_new"):
        return JsonAndTextFold(json, ClfFold(module))
    return json


def decide(groups: pl.DataFrame) -> pl.DataFrame:
    """Each distinct (status, size, router, url) of ``groups`` read as the common-format reader
    reads a line of them (``frame.clf_records``, ``batch.decided``): the values with the row's
    status (as a number), made_by, code, target, group, symptom, proxy_status, cause, failed and
    kind.  No group is refused: the fold took only lines the reader takes (tested)."""
    values = groups.select(_DECIDING).unique()
    caps = [pl.col(c) if c in _DECIDING else pl.lit(_FILLER[c]).alias(c) for c in CLF_CAPTURES]
    # a null size is one no decision reads (below 500): any number stands for it
    m = values.with_columns(pl.col("size").fill_null("0")).select(pl.struct(caps).alias("m"))
    rec, refused = clf_records(m.with_row_index("idx"), _NO_IDX)
    if refused.len() or rec.height != values.height:
        raise ValueError("the common-format fold took a line its reader refuses")
    rec = decided(rec, NAME).sort("idx")
    return pl.concat([values, rec.select("status", "made_by", "code", "target", "group", "symptom",
                                         "proxy_status", "cause", "failed", "kind")
                      .rename({"status": "st"})], how="horizontal")


class ClfFold(NativeTextFold):
    """``stats``' fold of the common-format lines (``parsers.lblogs.chainfold.TextPass``):
    ``_traefikscan.clf_fold_*`` counts them across the blocks of a read, and ``take`` decides
    each group's captures with the reader's expressions (``decide``)."""

    def __init__(self, module: Any) -> None:
        super().__init__(module, "clf_fold")

    def take(self) -> Counted | None:
        """The groups since the last take as ``Counted``'s frames (None: no line counted)."""
        caps, rows = self._take(self.cap)
        if not rows:
            return None
        groups = arrow_frame(*caps)
        groups = groups.join(decide(groups), on=list(_DECIDING), how="left", nulls_equal=True)
        no_retries = pl.lit(None, dtype=pl.Int64).alias("retries")
        timeline = groups.select("minute", pl.col("st").alias("status"), "made_by", no_retries, "n")
        codes = in_time_order(groups.filter(pl.col("failed") & (pl.col("made_by") == "lb"))
                              .rename({"status": "status_text", "st": "status"})
                              .select(*CODES_SCHEMA).cast(CODES_SCHEMA))  # type: ignore[arg-type]
        per = {key: groups.group_by(key, "st", "made_by", maintain_order=True).agg(pl.col("n").sum())
               .select(key, pl.col("st").alias("status"), "made_by", no_retries,
                       pl.lit(None, dtype=pl.Float64).alias("upstream_ms"), "n")
               for key in ("target", "group")}
        return Counted(int(rows), timeline, per["target"], per["group"], codes)
