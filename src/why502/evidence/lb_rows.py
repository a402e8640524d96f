"""A batch's other rows -- the failures, the 5xx, the proxy's error lines -- counted into an
``LbEvidence`` together, as ``LbEvidence.add`` counts them one by one in line order.

``diagnose`` on an edge log counts the requests that answered a batch at a time (``Answered``),
but built a record and called ``add`` for every other row: ~6 us each, a quarter of the rows of a
failure-dense log, and on the reading thread the record itself (a dict per row) and the text of
every such line (~40 % of the run's CPU, BENCHMARKS.md stop 55).  Here the rows stay a frame:
each table of the evidence is counted by a group-by whose groups are applied in the order of
their first row, which is the order ``add`` gives every table (a key enters a ``Counter`` at
its first row); what the order of the rows decides of a target's life is taken from the first
and last row indices (``_lives``); the few lines whose text is kept (the samples) come with the
batch (``texts``).  ``tests/diagnose/test_diagnose_edge_batches.py`` compares every field and
every order of the evidence with the line-by-line count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
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


def first_places(rows: pl.DataFrame) -> tuple[dict[Any, int], dict[Any, int], dict[Any, int]]:
    """The first ``idx`` of each target, status and minute among the access rows of
    ``prepared(rows)`` (for ``LbEvidence.reserve``, with the answered rows'); run on the
    reading thread, beside ``prepared``."""
    import polars as pl

    requests = rows.filter(pl.col("_access"))
    return tuple(  # type: ignore[return-value]
        dict(requests.filter(pl.col(column).is_not_null()).group_by(column).agg(pl.col("idx").min())
             .iter_rows())
        for column in ("_target", "status", "_minute"))


def add_rows(ev: LbEvidence, rows: pl.DataFrame, texts: Mapping[int, str], answered: Answered,
             path: str, first_line: int) -> None:
    """Count ``rows`` (``prepared``, in ``idx`` order: a batch's rows that are not
    ``answered``) into ``ev`` as ``add`` counts each in turn, and fill ``answered``'s runs with
    what its ``add_answered`` reads of them (``first_bad``, ``other_ok_idx``).  ``ev.reserve``
    has made room for the batch's targets, statuses and minutes; ``texts``: the lines of
    ``sample_rows``."""
    import polars as pl

    if rows.height == 0:
        return
    timed = rows.filter(pl.col("_timed"))
    if timed.height:
        lo, hi = str(timed["time"].min()), str(timed["time"].max())
        ev.first = lo if ev.first is None or lo < ev.first else ev.first
        ev.last = hi if ev.last is None or hi > ev.last else ev.last
    access = rows.filter(pl.col("_access"))
    ev.error_lines += rows.height - access.height
    if access.height:
        _requests(ev, access, texts, path, first_line)
        _lives(ev, access, answered)
    grouped = rows.filter(pl.col("_gid").is_not_null())
    if grouped.height:
        _groups(ev, grouped, texts, path, first_line)


def _requests(ev: LbEvidence, access: pl.DataFrame, texts: Mapping[int, str], path: str,
              first_line: int) -> None:
    """What ``add`` counts of every access line: the request, its status and minute (their
    tables' order is ``reserve``'s), and of a 5xx who made it, its minute and the first lines."""
    import polars as pl

    ev.requests += access.height
    ev.statuses.update(_counts(access.filter(pl.col("status").is_not_null()), "status"))
    ev.totals_per_minute.update(_counts(access.filter(pl.col("_minute").is_not_null()), "_minute"))
    five = access.filter(pl.col("_five"))
    if not five.height:
        return
    ev.five += five.height
    for idx, time in five.select("idx", "time").head(max(0, FIVE_SAMPLES - len(ev.five_samples))).iter_rows():
        ev.five_samples.append(Sample(path, first_line + idx, texts[idx], time))
    for made_by, n in _in_order(five, ["made_by"]):
        ev.made_by[made_by] += n
    for minute, status, n in _in_order(five.filter(pl.col("_minute").is_not_null()), ["_minute", "status"]):
        ev.per_minute.setdefault(minute, Counter())[str(status)] += n


def _counts(rows: pl.DataFrame, key: str) -> dict[Any, int]:
    return dict(rows.group_by(key).len().iter_rows())


def _in_order(rows: pl.DataFrame, keys: list[str]) -> list[tuple[Any, ...]]:
    """``(*keys, n)`` of ``rows``' groups by ``keys``, in the order of each group's first row."""
    import polars as pl

    return list(rows.group_by(keys).agg(pl.len().alias("_n"), pl.col("idx").min().alias("_first"))
                .sort("_first").drop("_first").iter_rows())


def _lives(ev: LbEvidence, access: pl.DataFrame, answered: Answered) -> None:
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

    idx, bad, timed = pl.col("idx"), pl.col("_bad"), pl.col("_timed")
    per = access.group_by("_target").agg(
        bad.sum().alias("n_bad"), (~bad).sum().alias("n_ok"),
        idx.filter(bad).min().alias("first_bad"), idx.filter(~bad).min().alias("first_ok"),
        idx.filter(~bad).max().alias("last_ok"),
        idx.filter(~bad & timed).max().alias("last_ok_timed"),
        pl.col("time").filter(~bad & timed).sort_by(idx.filter(~bad & timed)).last().alias("last_ok_time"))
    asked: list[tuple[str | None, int]] = []  # (target, index after which a failure is one after an answer)
    for target, n_bad, n_ok, first_bad, first_ok, last_ok, last_ok_timed, last_ok_time in per.iter_rows():
        life = ev.life(target)
        run = answered.targets.get(target)
        if n_bad and life.first_failed_after_ok is None:
            if life.ok:
                asked.append((target, -1))
            else:
                answers = [i for i in (first_ok, run.first_idx if run is not None else None) if i is not None]
                if answers:  # a failure after the first of them is one after an answer
                    asked.append((target, min(answers)))
        if n_ok and (life.failed or (first_bad is not None and last_ok > first_bad)):
            life.ok_after_failure = True
        life.failed += n_bad
        life.ok += n_ok
        if last_ok_time is not None:
            life.last_ok = last_ok_time
        if run is not None:
            if first_bad is not None:
                run.first_bad = first_bad if run.first_bad is None else run.first_bad
            if last_ok_timed is not None:
                run.other_ok_idx = last_ok_timed
    if asked:
        after = pl.DataFrame({"_target": [t for t, _a in asked], "_after": [a for _t, a in asked]},
                             schema={"_target": pl.String, "_after": pl.Int64})
        firsts = (access.filter(bad & pl.col("time").is_not_null())
                  .join(after, on="_target", nulls_equal=True)
                  .filter(idx.cast(pl.Int64) > pl.col("_after"))
                  .group_by("_target").agg(pl.col("time").sort_by(idx).first()))
        for target, time in firsts.iter_rows():
            ev.life(target).first_failed_after_ok = time


# the values of a failure group's tables, with the Counter of FailureGroup each one counts into
_TABLES = (("_code", "codes"), ("_symptom", "symptoms"), ("_proxy_status", "proxy_status"),
           ("status", "statuses"), ("_target", "targets"), ("_group", "groups"),
           ("_minute", "minutes"))


def _groups(ev: LbEvidence, rows: pl.DataFrame, texts: Mapping[int, str], path: str,
            first_line: int) -> None:
    """What ``add`` does with a failure: the group its cause names (``_into``), or the count of
    the proxy's failures without a word for why (``unexplained``)."""
    import polars as pl

    groups: dict[str, FailureGroup] = {}
    for gid, n in _in_order(rows, ["_gid"]):
        if gid == "u":
            ev.unexplained += n
        elif gid == "b":
            groups[gid] = ev.backend_5xx
        else:
            table = ev.failures if gid[0] == "a" else ev.error_failures
            cause = gid[2:]
            groups[gid] = table.setdefault(cause, FailureGroup(cause=cause))
    if not groups:
        return
    rows = rows.filter(pl.col("_gid") != "u")
    keys = [c for c, _f in _TABLES]
    for gid, *values, n in _in_order(rows, ["_gid", *keys]):
        grp = groups[gid]
        grp.count += n
        for (_c, name), value in zip(_TABLES, values, strict=True):
            if value is not None:
                getattr(grp, name)[value] += n
    # the details on their own: one that differs on every line (Cloudflare's "RayID ...") made
    # as many groups as rows above; the first DETAILS_KEPT distinct ones (FailureGroup.count_detail)
    for gid, detail, n in _in_order(rows.filter(pl.col("_detail").is_not_null()), ["_gid", "_detail"]):
        groups[gid].count_detail(detail, n)
    spans = rows.filter(pl.col("_timed")).group_by("_gid").agg(pl.col("time").min().alias("lo"),
                                                               pl.col("time").max().alias("hi"))
    for gid, lo, hi in spans.iter_rows():
        grp = groups[gid]
        grp.first = lo if grp.first is None or lo < grp.first else grp.first
        grp.last = hi if grp.last is None or hi > grp.last else grp.last
    for gid, grp in groups.items():
        mine = rows.filter(pl.col("_gid") == gid)
        room = kept.DURATIONS_KEPT - len(grp.durations_ms)
        if room > 0:
            grp.durations_ms.extend(mine["_dur"].drop_nulls().head(room).to_list())
        first = mine.select("idx", "time").head(max(0, kept.SAMPLES_KEPT - len(grp.samples)))
        for i, time in first.iter_rows():
            grp.samples.append(Sample(path, first_line + i, texts[i], time))
        _target_times(grp, mine)


def _target_times(grp: FailureGroup, rows: pl.DataFrame) -> None:
    """``FailureGroup.target_times``: the first ``TARGETS_TIMED`` targets with a time, each with
    its first ``TARGET_TIMES`` (time, status), in line order."""
    import polars as pl

    timed = rows.filter(pl.col("_target").is_not_null() & pl.col("_timed"))
    if not timed.height:
        return
    room: dict[str, int] = {}
    for (target,) in timed.select(pl.col("_target").unique(maintain_order=True)).iter_rows():
        if (left := grp.stamps_room(target)) > 0:
            room[target] = left
    if not room:
        return
    rooms = pl.DataFrame({"_target": list(room), "_room": list(room.values())},
                         schema={"_target": pl.String, "_room": pl.Int64})
    taken = (timed.join(rooms, on="_target", maintain_order="left")
             .filter(pl.int_range(pl.len()).over("_target") < pl.col("_room")))
    for target, time, status in taken.select("_target", "time", "status").iter_rows():
        grp.target_times[target].append((time, status))
