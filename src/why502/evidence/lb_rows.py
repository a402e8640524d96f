"""A batch's other rows -- the failures, the 5xx, the proxy's error lines -- counted into an
``LbEvidence`` together, as ``LbEvidence.add`` counts them one by one in line order.

``diagnose`` on an edge log counts the requests that answered a batch at a time (``Answered``),
but built a record and called ``add`` for every other row: ~6 us each, a quarter of the rows of a
failure-dense log, and on the reading thread the record itself (a dict per row) and the text of
every such line (~40 % of the run's CPU, BENCHMARKS.md stop 55).  Here the rows stay a frame,
grouped once by every value ``add`` counts (``tally``); each table of the evidence is rolled up
from those groups in the order of their first row, which is the order ``add`` gives every table
(a key enters a ``Counter`` at its first row); what the order of the rows decides of a target's
life is taken from the first and last row indices (``_lives``); the few lines whose text is kept
(the samples) come with the batch (``texts``).  ``tests/diagnose/test_diagnose_edge_batches.py``
compares every field and every order of the evidence with the line-by-line count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

from why502.evidence import lb_evidence as kept  # its limits read at each call, as _into reads them
from why502.evidence.lb_evidence import Answered, FailureGroup, LbEvidence, Sample

if TYPE_CHECKING:
    import polars as pl

#: the first rows of a batch whose text the counting may keep: the first 5xx (``five_samples``)
#: and the first of each failure group (``FailureGroup.samples``)
FIVE_SAMPLES = 2


def _exprs() -> dict[str, pl.Expr]:
    """The values ``add`` reads of a record, as columns of the batch's rows."""
    import polars as pl

    t, st, made_by = pl.col("time"), pl.col("status"), pl.col("made_by")
    access = pl.col("kind") == "access"
    truthy = {c: pl.col(c).is_not_null() & (pl.col(c) != "") for c in
              ("cause", "code", "symptom", "proxy_status", "target", "group", "detail")}
    # LbRecord.failed (the property, not the frame's column): a 5xx, or the proxy's own word
    failed = (st.is_not_null() & (st >= 500)) | ((made_by == "lb") & pl.col("symptom").is_not_null())
    lb_failed = (made_by == "lb") & failed
    five = st.is_not_null() & (st >= 500)
    # add's choice of group: the proxy's failure with a cause (access or error line), else an
    # access line it failed without one (unexplained), else a 5xx the backend made
    gid = (pl.when(lb_failed & truthy["cause"] & access).then(pl.lit("a\x00") + pl.col("cause"))
           .when(lb_failed & truthy["cause"]).then(pl.lit("e\x00") + pl.col("cause"))
           .when(lb_failed & access).then(pl.lit("u"))
           .when((made_by == "backend") & five).then(pl.lit("b"))
           .otherwise(None))
    return {
        "_timed": (t.is_not_null() & (t != "")).fill_null(False),
        "_minute": pl.when((t.str.len_chars() >= 16) & (t.str.slice(4, 1) == "-")).then(t.str.slice(0, 16)),
        "_access": access.fill_null(False),
        "_five": (access & five).fill_null(False),
        "_bad": lb_failed.fill_null(False),
        "_gid": gid,
        "_code": pl.when(truthy["code"]).then(pl.col("code")),
        "_symptom": pl.when(truthy["symptom"]).then(pl.col("symptom")),
        "_proxy_status": pl.when(truthy["proxy_status"]).then(pl.col("proxy_status")),
        "_target": pl.when(truthy["target"]).then(pl.col("target")),
        "_group": pl.when(truthy["group"]).then(pl.col("group")),
        "_detail": pl.when(truthy["detail"]).then(pl.col("detail").str.slice(0, 200)),
        "_dur": pl.coalesce("duration_ms", "upstream_ms"),
    }


def prepared(rows: pl.DataFrame) -> pl.DataFrame:
    """``rows`` (``idx`` and the record columns, in ``idx`` order) with the values ``add``
    reads; run on the reading thread (polars runs outside the GIL)."""
    return rows.sort("idx").with_columns(**_exprs())


def sample_rows(rows: pl.DataFrame) -> list[int]:
    """The ``idx`` of the rows of ``prepared(rows)`` whose text the counting may keep."""
    import polars as pl

    five = rows.filter(pl.col("_five")).head(FIVE_SAMPLES)["idx"]
    grouped = (rows.filter(pl.col("_gid").is_not_null() & (pl.col("_gid") != "u"))
               .filter(pl.int_range(pl.len()).over("_gid") < kept.SAMPLES_KEPT)["idx"])
    return sorted({*five.to_list(), *grouped.to_list()})


#: the keys of ``tally``'s groups: every value ``add`` reads of a row to count it in a table but
#: its minute, so each table is a roll-up of these groups (few: a batch has a few statuses and
#: targets)
_FINE = ("_access", "_five", "_bad", "_gid", "made_by", "status", "_code", "_symptom", "_proxy_status",
         "_target", "_group")
#: ... and of its minute groups: what ``add`` counts by minute -- every request, a 5xx by its
#: status, a failure group's rows.  Apart, because a batch of a day's log spans ~30-45 minutes
#: (one of the bench's ~8-minute logs, one): with the minute among the other keys its groups were
#: ~30x as many, each rolled up here in Python, and ``diagnose`` of 1M lines over 24 hours took
#: 1.1-2.5x as long as over 8 minutes (BENCHMARKS.md stop 72)
_BY_MINUTE = ("_access", "_five", "_gid", "status", "_minute")


@dataclass(frozen=True)
class Tally:
    """A batch's other rows (``prepared``) grouped by every value ``add`` counts but the minute
    (``_FINE``), the groups in the order of their first row, each as ``(*keys, n, first idx,
    last idx, least and greatest time, last timed idx, its time)``; ``minutes``: grouped by what
    it counts per minute (``_BY_MINUTE``), each as ``(*keys, n, first idx)``, in the same order.
    Two polars queries, run together, where each table was counted by its own (a few dozen a
    batch, ~0.5 ms each whatever the batch's size: most of ``diagnose``'s counting thread,
    BENCHMARKS.md stop 59).  Every table is rolled up from these groups in Python; a key's first
    group is its first row, so the rolled-up tables keep the order ``add`` gives them.
    ``firsts``: the first ``idx`` of each target, status and minute among the access rows (for
    ``LbEvidence.reserve``)."""

    groups: list[tuple[Any, ...]]
    minutes: list[tuple[Any, ...]]
    firsts: tuple[dict[Any, int], dict[Any, int], dict[Any, int]]


def tally(rows: pl.DataFrame) -> Tally:
    """``Tally`` of ``rows`` (``prepared``: in ``idx`` order, so a group's last timed row is
    its last)."""
    import polars as pl

    idx, timed = pl.col("idx"), pl.col("_timed")
    lazy = rows.lazy()
    fine, by_minute = pl.collect_all([
        lazy.group_by(list(_FINE)).agg(
            pl.len(), idx.min().alias("_first"), idx.max().alias("_last"),
            pl.col("time").filter(timed).min().alias("_lo"), pl.col("time").filter(timed).max().alias("_hi"),
            idx.filter(timed).max().alias("_last_timed"),
            pl.col("time").filter(timed).last().alias("_last_time"))
        .sort("_first"),
        lazy.filter(pl.col("_minute").is_not_null()).group_by(list(_BY_MINUTE))
        .agg(pl.len(), idx.min().alias("_first")).sort("_first")])
    groups, minutes = fine.rows(), by_minute.rows()
    firsts: tuple[dict[Any, int], dict[Any, int], dict[Any, int]] = ({}, {}, {})
    for g in groups:
        if g[_ACCESS]:
            for table, key in zip(firsts[:2], (g[_TARGET], g[_STATUS]), strict=True):
                if key is not None and key not in table:
                    table[key] = g[_N + 1]
    for m in minutes:
        if m[_M_ACCESS] and m[_M_MINUTE] not in firsts[2]:
            firsts[2][m[_M_MINUTE]] = m[_M_FIRST]
    return Tally(groups, minutes, firsts)


# the places of a group's fields in ``Tally.groups``
(_ACCESS, _FIVE, _BAD, _GID, _MADE_BY, _STATUS, _CODE, _SYMPTOM, _PROXY_STATUS, _TARGET,
 _GROUP) = range(len(_FINE))
_N = len(_FINE)
_FIRST, _LAST, _LO, _HI, _LAST_TIMED, _LAST_TIME = range(_N + 1, _N + 7)
# ... and in ``Tally.minutes``
_M_ACCESS, _M_FIVE, _M_GID, _M_STATUS, _M_MINUTE, _M_N, _M_FIRST = range(len(_BY_MINUTE) + 2)


def add_rows(ev: LbEvidence, rows: pl.DataFrame, texts: Mapping[int, str], answered: Answered,
             path: str, first_line: int, counted: Tally | None = None) -> None:
    """Count ``rows`` (``prepared``, in ``idx`` order: a batch's rows that are not
    ``answered``) into ``ev`` as ``add`` counts each in turn, and fill ``answered``'s runs with
    what its ``add_answered`` reads of them (``first_bad``, ``other_ok_idx``).  ``ev.reserve``
    has made room for the batch's targets, statuses and minutes; ``texts``: the lines of
    ``sample_rows``; ``counted``: ``tally(rows)``, when the caller made it for ``reserve``."""
    if rows.height == 0:
        return
    tallied = counted or tally(rows)
    groups = tallied.groups
    spans = [(g[_LO], g[_HI]) for g in groups if g[_LO] is not None]
    if spans:
        lo, hi = min(s[0] for s in spans), max(s[1] for s in spans)
        ev.first = lo if ev.first is None or lo < ev.first else ev.first
        ev.last = hi if ev.last is None or hi > ev.last else ev.last
    access = [g for g in groups if g[_ACCESS]]
    ev.error_lines += sum(g[_N] for g in groups if not g[_ACCESS])
    if access:
        _requests(ev, access, tallied.minutes, rows, texts, path, first_line)
        _lives(ev, access, rows, answered)
    if any(g[_GID] is not None for g in groups):
        _groups(ev, groups, tallied.minutes, rows, texts, path, first_line)


def _requests(ev: LbEvidence, access: list[tuple[Any, ...]], minutes: list[tuple[Any, ...]],
              rows: pl.DataFrame, texts: Mapping[int, str], path: str, first_line: int) -> None:
    """What ``add`` counts of every access line: the request, its status and minute (their
    tables' order is ``reserve``'s), and of a 5xx who made it, its minute and the first lines."""
    import polars as pl

    for g in access:
        n = g[_N]
        ev.requests += n
        if g[_STATUS] is not None:
            ev.statuses[g[_STATUS]] += n
        if g[_FIVE]:
            ev.five += n
            ev.made_by[g[_MADE_BY]] += n
    for m in minutes:
        if not m[_M_ACCESS]:
            continue
        n = m[_M_N]
        ev.totals_per_minute[m[_M_MINUTE]] += n
        if m[_M_FIVE]:
            minute = ev.per_minute.get(m[_M_MINUTE])
            if minute is None:
                minute = ev.per_minute[m[_M_MINUTE]] = Counter()
            minute[str(m[_M_STATUS])] += n
    room = FIVE_SAMPLES - len(ev.five_samples)
    if room > 0 and any(g[_FIVE] for g in access):
        for idx, time in rows.filter(pl.col("_five")).select("idx", "time").head(room).iter_rows():
            ev.five_samples.append(Sample(path, first_line + idx, texts[idx], time))


def _lives(ev: LbEvidence, access: list[tuple[Any, ...]], rows: pl.DataFrame, answered: Answered) -> None:
    """What ``LbEvidence._target`` does with each access line, per target (a line naming none:
    ``unnamed``), from the first and last indices of its failures and answers:

    - a failure is the first one after an answer (``first_failed_after_ok``) when the target
      had answered before the batch, or answered earlier in it -- among these rows, or among
      the batch's answered rows (``ok_before``) -- and the first such with a time (``None``
      leaves it unset, so the next one is asked);
    - an answer after a failure (``ok_after_failure``): the target failed before the batch, or
      one of its answers here comes after one of its failures here;
    - its last answer's time, and the run's ``first_bad`` and ``other_ok_idx``."""
    import polars as pl

    per: dict[str | None, _Life] = {}
    for g in access:
        rolled = per.get(g[_TARGET])
        if rolled is None:
            rolled = per[g[_TARGET]] = _Life()
        rolled.take(g)
    asked: list[tuple[str | None, int]] = []  # (target, index after which a failure is one after an answer)
    for target, seen in per.items():
        life = ev.life(target)
        run = answered.targets.get(target)
        if seen.n_bad and life.first_failed_after_ok is None:
            if life.ok:
                asked.append((target, -1))
            else:
                answers = [i for i in (seen.first_ok, run.first_idx if run is not None else None)
                           if i is not None]
                if answers:  # a failure after the first of them is one after an answer
                    asked.append((target, min(answers)))
        if seen.n_ok and (life.failed or (seen.first_bad is not None and seen.last_ok > seen.first_bad)):
            life.ok_after_failure = True
        life.failed += seen.n_bad
        life.ok += seen.n_ok
        if seen.last_ok_time is not None:
            life.last_ok = seen.last_ok_time
        if run is not None:
            if seen.first_bad is not None:
                run.first_bad = seen.first_bad if run.first_bad is None else run.first_bad
            if seen.last_ok_timed is not None:
                run.other_ok_idx = seen.last_ok_timed
    if asked:
        idx, bad = pl.col("idx"), pl.col("_bad")
        after = pl.DataFrame({"_target": [t for t, _a in asked], "_after": [a for _t, a in asked]},
                             schema={"_target": pl.String, "_after": pl.Int64})
        firsts = (rows.filter(pl.col("_access") & bad & pl.col("time").is_not_null())
                  .join(after, on="_target", nulls_equal=True)
                  .filter(idx.cast(pl.Int64) > pl.col("_after"))
                  .group_by("_target").agg(pl.col("time").sort_by(idx).first()))
        for target, time in firsts.iter_rows():
            ev.life(target).first_failed_after_ok = time


class _Life:
    """One target's access rows of a batch, rolled up from ``Tally`` groups."""

    __slots__ = ("first_bad", "first_ok", "last_ok", "last_ok_time", "last_ok_timed", "n_bad", "n_ok")

    def __init__(self) -> None:
        self.n_bad = self.n_ok = 0
        self.first_bad: int | None = None
        self.first_ok: int | None = None
        self.last_ok = -1
        self.last_ok_timed: int | None = None
        self.last_ok_time: str | None = None

    def take(self, g: tuple[Any, ...]) -> None:
        if g[_BAD]:
            self.n_bad += g[_N]
            self.first_bad = g[_FIRST] if self.first_bad is None else min(self.first_bad, g[_FIRST])
            return
        self.n_ok += g[_N]
        self.first_ok = g[_FIRST] if self.first_ok is None else min(self.first_ok, g[_FIRST])
        self.last_ok = max(self.last_ok, g[_LAST])
        if g[_LAST_TIMED] is not None and (self.last_ok_timed is None or g[_LAST_TIMED] > self.last_ok_timed):
            self.last_ok_timed, self.last_ok_time = g[_LAST_TIMED], g[_LAST_TIME]


# the values of a failure group's tables, with the Counter of FailureGroup each one counts into
# (its minutes: from ``Tally.minutes``)
_TABLES = ((_CODE, "codes"), (_SYMPTOM, "symptoms"), (_PROXY_STATUS, "proxy_status"),
           (_STATUS, "statuses"), (_TARGET, "targets"), (_GROUP, "groups"))


def _groups(ev: LbEvidence, tallied: list[tuple[Any, ...]], minutes: list[tuple[Any, ...]],
            rows: pl.DataFrame, texts: Mapping[int, str], path: str, first_line: int) -> None:
    """What ``add`` does with a failure: the group its cause names (``_into``), or the count of
    the proxy's failures without a word for why (``unexplained``).  The tables come from the
    tally; the longest duration, what is kept of the first rows (samples, times per target) and
    the details (one may differ on every line) from three queries, run together."""
    import polars as pl

    groups: dict[str, FailureGroup] = {}
    for g in tallied:
        gid = g[_GID]
        if gid is None:
            continue
        if gid == "u":
            ev.unexplained += g[_N]
            continue
        grp = groups.get(gid)
        if grp is None:
            if gid == "b":
                grp = ev.backend_5xx
            else:
                table = ev.failures if gid[0] == "a" else ev.error_failures
                grp = table.setdefault(gid[2:], FailureGroup(cause=gid[2:]))
            groups[gid] = grp
        n = g[_N]
        grp.count += n
        for place, name in _TABLES:
            if g[place] is None:
                continue
            if place == _TARGET:
                grp.count_target(g[place], n)
            else:
                getattr(grp, name)[g[place]] += n
        if g[_LO] is not None:
            grp.first = g[_LO] if grp.first is None or g[_LO] < grp.first else grp.first
            grp.last = g[_HI] if grp.last is None or g[_HI] > grp.last else grp.last
    for m in minutes:  # (a gid's rows are among the tally's: a gid counted here has its group)
        failures = groups.get(m[_M_GID]) if m[_M_GID] is not None else None
        if failures is not None:
            failures.minutes[m[_M_MINUTE]] += m[_M_N]
    if not groups:
        return
    mine = rows.lazy().filter(pl.col("_gid").is_not_null() & (pl.col("_gid") != "u"))
    queries: list[pl.LazyFrame] = []
    rooms = {gid: kept.SAMPLES_KEPT - len(grp.samples) for gid, grp in groups.items()}
    samples = max(0, *rooms.values())
    queries.append(mine.group_by("_gid").agg(
        pl.col("_dur").max(), pl.col("idx").head(samples), pl.col("time").head(samples)))
    # each target's first times and statuses, the targets in the order of their first timed row
    # (``stamps_room`` admits a target at it); ``maintain_order``: the groups in that order
    queries.append(mine.filter(pl.col("_target").is_not_null() & pl.col("_timed"))
                   .group_by("_gid", "_target", maintain_order=True)
                   .agg(pl.col("time").head(kept.TARGET_TIMES), pl.col("status").head(kept.TARGET_TIMES)))
    # the details on their own: one that differs on every line (Cloudflare's "RayID ...") made
    # as many groups as rows; a group whose table is full counts only the ones it has
    # (FailureGroup.count_detail), so its other rows are left out before grouping
    # (each group's column of its details made once: sorting and converting them each batch was
    # ~2 ms of it on Cloudflare's logs)
    column_of = partial(pl.Series, "_detail", dtype=pl.String)
    columns = {gid: column for gid, grp in groups.items()
               if (column := grp.full_details(column_of)) is not None}
    full = list(columns)
    detailed = mine.filter(pl.col("_detail").is_not_null())
    if full:
        known = pl.concat(list(columns.values()))
        detailed = detailed.filter(~pl.col("_gid").is_in(full) | pl.col("_detail").is_in(known.implode()))
    queries.append(detailed.group_by("_gid", "_detail")
                   .agg(pl.len().alias("_n"), pl.col("idx").min().alias("_first")).sort("_first"))
    got = pl.collect_all(queries)
    for gid, worst, idxs, times in got[0].iter_rows():
        grp = groups[gid]
        grp.waited(worst)
        for i, time in zip(idxs[:max(rooms[gid], 0)], times, strict=False):
            grp.samples.append(Sample(path, first_line + i, texts[i], time))
    for gid, target, times, statuses in got[-2].iter_rows():
        grp = groups[gid]
        room = grp.stamps_room(target)
        if room > 0:
            grp.target_times[target].extend(zip(times[:room], statuses[:room], strict=True))
    for gid, detail, n, _first in got[-1].iter_rows():
        groups[gid].count_detail(detail, n)
