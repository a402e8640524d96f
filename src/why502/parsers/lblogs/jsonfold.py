"""The rows of a JSON family's log that ``stats`` only counts, counted in the native JSON pass
(issue 28 item 2), as ``parsers.lblogs.fold`` describes for the ALB: what
``LbStatsAccumulator`` does with a row is count it by its minute, status, who made it, its
retries, target, target group and upstream timing, and keep a failure the edge made itself by
its code with its first and last time.

The ALB pass decides its rows in C.  A JSON family's decisions are its parser's
(``LogFamily.parse_json``: Envoy's response flags and details, Cloudflare's two statuses,
Traefik's router and service), so here the pass (``_jsonscan.c``'s fold) groups the lines it
reads by the *raw values* of the keys those decisions read (``countspec.JsonFoldSpec``), and
each group is decided once, by the parser, on an object holding those values -- as
``json_counts`` serves ``watch``.  Two tables: the timeline (the deciding keys and the minute,
each group with its least and greatest time) and the per-target table (the deciding keys with
the target, group and timing keys).  A group is decided once per read (``_Decider``'s cache);
a key the parser reads that the spec leaves out would make the groups wrong, which
``tests/stats/test_json_fold.py`` catches by comparing ``stats`` with the fold and without it.
"""

from __future__ import annotations

import array
from collections.abc import Callable
from typing import Any, cast

import polars as pl

from why502.parsers.arrowcols import frame as arrow_frame
from why502.parsers.lblogs.batch import empty_records
from why502.parsers.lblogs.countspec import JsonCount, JsonFoldSpec
from why502.parsers.lblogs.fold import BlockFold, Counted, Raw
from why502.parsers.lblogs.model import LbRecord

ParseJson = Callable[[dict[str, Any]], "LbRecord | None"]

_TIMELINE = {"minute": pl.String, "status": pl.Int64, "made_by": pl.String, "retries": pl.Int64,
             "n": pl.Int64}
#: ``Counted.codes``' columns
CODES_SCHEMA = {"code": pl.String, "status": pl.Int64, "made_by": pl.String, "symptom": pl.String,
                "proxy_status": pl.String, "cause": pl.String, "failed": pl.Boolean, "kind": pl.String,
                "first": pl.String, "last": pl.String, "n": pl.Int64}
_PER = {"status": pl.Int64, "made_by": pl.String, "retries": pl.Int64, "upstream_ms": pl.Float64,
        "n": pl.Int64}
#: decided groups kept for the next takes of a read (each is a parser call, ~10 us): the
#: per-target table's values other than the timing's repeat across takes, and the timeline's
#: without their minute (``_Decider.timed``); past this many (a few MB of records) the cache
#: starts again
CACHE_MAX = 1 << 14


def empty_counted() -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """``Counted``'s timeline, target and group frames of no row (a codes-only fold's)."""
    per = pl.DataFrame(schema={"target": pl.String, "group": pl.String, **_PER})
    return pl.DataFrame(schema=_TIMELINE), per.drop("group"), per.drop("target")


class _Decider:
    """A group's values -> the family's record of them, once per distinct group."""

    def __init__(self, parse: ParseJson, names: tuple[str, ...],
                 shape: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
        self.parse, self.names, self.shape = parse, names, shape
        self.cache: dict[tuple[Any, ...], LbRecord] = {}
        self.times: dict[Any, str | None] = {}  # (``timed``) a time's value -> the parser's text of it

    def same_as(self, other: _Decider) -> bool:
        """Whether ``other`` decides as this one does (the same parser, keys and shaping), so
        their decisions may be kept in one cache."""
        return (self.parse, self.names, self.shape) == (other.parse, other.names, other.shape)

    def adopt(self, other: _Decider) -> None:
        """Keep decisions in ``other``'s caches (``same_as`` it), which it keeps in too."""
        self.cache, self.times = other.cache, other.times

    def obj(self, values: tuple[Any, ...], present: int) -> dict[str, Any]:
        """The keys of a group's ``values`` the line holds (bit k of ``present``: part k's key)."""
        return {name: value for k, (name, value) in enumerate(zip(self.names, values)) if (present >> k) & 1}

    def decide(self, obj: dict[str, Any]) -> LbRecord:
        """The parser's record of the keys ``obj`` (shaped as the parser reads them: ``JsonFoldSpec.obj``)."""
        rec = self.parse(self.shape(obj))
        if rec is None or rec.kind != "access":  # the pass takes no such line (tested)
            raise ValueError(f"a group its parser does not read as a request: {obj!r}")
        return rec

    def __call__(self, values: tuple[Any, ...], present: int) -> LbRecord:
        """The record of a group's values, decided once."""
        key = (*values, present)
        rec = self.cache.get(key)
        if rec is None:
            if len(self.cache) >= CACHE_MAX:
                self.cache.clear()
            rec = self.cache[key] = self.decide(self.obj(values, present))
        return rec

    def timed(self, values: tuple[Any, ...], present: int) -> tuple[LbRecord, str | None]:
        """``self(values, present)`` of a group whose last value is its time, decided in two
        parts: the record once per value of the others (its ``time`` is whichever group's came
        first: the second item is this group's), the parser's text of the time once per time.

        Why: decided whole, the timeline was decided once per (values, minute) -- for a day of
        1M Traefik JSON lines 322k times, 2.8 of the 6.7 s of its ``stats`` (BENCHMARKS.md stop
        72), where the bench's logs of ~8 minutes hid it.  Why it is the same record: each
        family's parser reads the time key only into ``time``, as a function of its value alone
        (``parse_traefik_json``'s ``StartUTC``, ``parse_cloudflare``'s ``_time(start)``,
        ``parse_caddy``'s ``_unix(ts)``, Envoy's first of ``TIME_KEYS``), and the fold counts no
        line whose time is another key's (``JsonFoldSpec.time``); ``tests/stats/test_json_fold.py``
        holds the fold's ``stats`` equal to the rows'.  A group whose other values or time were
        not seen yet is decided whole, so a group the parser refuses is refused as before."""
        key = (*values[:-1], present)
        rec = self.cache.get(key)
        when = values[-1]
        text = self.times.get(when, _UNSEEN)
        if rec is None or text is _UNSEEN:
            whole = self.decide(self.obj(values, present))
            if len(self.cache) >= CACHE_MAX or len(self.times) >= CACHE_MAX:
                self.cache.clear()
                self.times.clear()
            if rec is None:
                rec = self.cache[key] = whole
            text = self.times[when] = whole.time
        return rec, cast("str | None", text)


_UNSEEN = object()


class JsonFold:
    """``parsers.lblogs.fold.BlockFold`` of a JSON family: its lines counted in ``_jsonscan.c``'s
    fold across the blocks of one read, the groups decided by ``parse`` when taken."""

    def __init__(self, module: Any, count: JsonCount, spec: JsonFoldSpec, parse: ParseJson) -> None:
        self.module = module
        tables = (((*spec.decide, (spec.time, "m")), True), ((*spec.decide, *spec.per, *spec.timing), False))
        self.cap = module.json_fold_new(
            count.keys, tuple(f.encode() for f in count.forbidden), count.nested_ok,
            tuple((tuple((name.encode(), mode) for name, mode in parts), ranged) for parts, ranged in tables),
            spec.time.encode(), tuple((name.encode(), text.encode()) for name, text in spec.prefix))
        self.timeline = _Decider(parse, tuple(name for name, _m in tables[0][0]), spec.obj)
        # the per-target table's groups are decided in two steps: the target, group, status,
        # made_by and retries once per value of the keys other than the timing's, the timing once
        # per value of its keys (and of ``timing_reads``): most groups differ by their timing
        # alone (Envoy's bench log: 28k groups, 507 values of the other keys, 376 timings)
        self.width = len(spec.decide) + len(spec.per)
        self.per = _Decider(parse, tuple(name for name, _m in (*spec.decide, *spec.per)), spec.obj)
        self.timing_names = tuple(name for name, _m in spec.timing)
        self.reads = tuple(self.per.names.index(k) for k in spec.timing_reads)
        self.timing_of = spec.timing_of
        self.count, self.spec = count, spec
        self.codes: _Decider | None = None

    def codes_only(self) -> None:
        """One table only, the deciding keys with each group's least and greatest time: what
        ``Counted.codes`` is made of (``classify``'s summary).  No minute in its key and no
        per-target table: the groups are the distinct deciding values (Cloudflare's and
        Traefik's per-target groups were nearly the rows, their nanosecond timings)."""
        count, spec = self.count, self.spec
        self.cap = self.module.json_fold_new(
            count.keys, tuple(f.encode() for f in count.forbidden), count.nested_ok,
            ((tuple((name.encode(), mode) for name, mode in spec.decide), True),),
            spec.time.encode(), tuple((name.encode(), text.encode()) for name, text in spec.prefix))
        self.codes = _Decider(self.timeline.parse, tuple(name for name, _m in spec.decide), spec.obj)

    def share(self, other: BlockFold) -> None:
        """One cache of decided groups for the folds of one read (``FoldPerThread``: a fold per
        thread): a group's record is the parser's answer on its values alone, and the folds of a
        read see mostly the same groups -- 1M Traefik JSON lines, two folds: 4,320 decisions
        each, the same 4,320, ~60 % of the last take, which ``stats`` waits on after the read
        (BENCHMARKS.md stop 72).  A fold of another family keeps its own."""
        if not isinstance(other, JsonFold):
            return
        # (a codes-only fold's groups are decided each with its own time, ``_take_codes``: no cache)
        for mine, theirs in ((self.timeline, other.timeline), (self.per, other.per)):
            if mine.same_as(theirs):
                mine.adopt(theirs)

    def block(self, data: Raw) -> tuple[pl.DataFrame, list[int], int]:
        back, _text, folded = self.block_text(data)
        return _NO_RECORDS, back, folded

    def block_text(self, data: Raw) -> tuple[list[int], bytes, int]:
        """``block``'s lines handed back, with their text (each line and a newline), and the
        rows counted: for a family whose other lines another pass reads."""
        _lines, back_rows, text, folded = self.module.json_fold_block(self.cap, data)
        return array.array("I", back_rows).tolist(), text, int(folded)

    def size(self) -> tuple[int, int]:
        """(the groups of its tables together, rows counted): what its memory holds -- on a day's
        log the timeline fills with the per-target table (``_jsonscan.c`` ``json_fold_size``)."""
        groups, rows = self.module.json_fold_size(self.cap)
        return int(groups), int(rows)

    def take(self) -> Counted | None:
        if self.codes is not None:
            return self._take_codes()
        (tl_caps, per_caps), rows = self.module.json_fold_take(self.cap)
        if not rows:
            return None
        timeline, codes = self._timeline(arrow_frame(*tl_caps))
        target, group = self._per(arrow_frame(*per_caps))
        return Counted(int(rows), timeline, target, group, codes)

    def _take_codes(self) -> Counted | None:
        """``take`` of ``codes_only``'s table: each group decided with its least time as the
        row's time (the parser reads a request only with one; its decisions do not depend on
        which), its range as the parser writes the times."""
        assert self.codes is not None
        ((caps,), rows) = self.module.json_fold_take(self.cap)
        if not rows:
            return None
        groups = arrow_frame(*caps)
        width = len(self.codes.names)
        time = self.spec.time
        codes: list[tuple[Any, ...]] = []
        for row in groups.iter_rows():
            values, present, n, first, last = row[:width], row[width], *row[width + 1:]
            obj = self.codes.obj(values, present)
            obj[time] = first
            rec = self.codes.decide(obj)
            if rec.failed and rec.made_by == "lb":
                if isinstance(first, float):  # Unix seconds: the parser's text of each
                    first = rec.time
                    obj[time] = last
                    last = self.codes.decide(obj).time
                codes.append((rec.code, rec.status, rec.made_by, rec.symptom, rec.proxy_status, rec.cause,
                              True, rec.kind, first, last, n))
        return Counted(int(rows), *empty_counted(), pl.DataFrame(codes, schema=CODES_SCHEMA, orient="row"))

    def _timeline(self, groups: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The timeline's groups decided (their minute the time's first 16 characters, as
        ``lbstats._minute``), and the failures the edge made itself with their first and last
        time.  A time that is a number (Unix seconds) comes as its Unix minute, and its range
        as numbers: the parser writes each as text (``_seconds``).

        The groups are decided in two parts (``_Decider.timed``): the record once per value of
        the other keys, the time's text once per minute, each joined back; a loop over the
        groups, one row at a time, was ~2 us a group, and a day's log holds a group per
        (values, minute): ~400k for 1M Traefik JSON lines (BENCHMARKS.md stop 72)."""
        names = self.timeline.names
        when = names[-1]
        number = groups.schema[when] == pl.Int64
        if number:  # (Unix minutes: the seconds of each, as the parser is given them)
            groups = groups.with_columns(pl.col(when) * 60.0)
        keys = [*names[:-1], "present"]
        # each combination of the other values with one of its times, and each time with one
        # of its combinations: what the parser decides (every group is one of each)
        combos = groups.group_by(keys, maintain_order=True).agg(pl.col(when).first())
        decided = [self.timeline.timed(row[:-2] + row[-1:], row[-2])[0] for row in combos.iter_rows()]
        times = groups.group_by(when, maintain_order=True).agg(pl.col(k).first() for k in keys)
        texts = [self.timeline.timed(row[1:-1] + row[:1], row[-1])[1] for row in times.iter_rows()]
        combos = combos.select(keys).with_columns(
            pl.Series("_status", [r.status for r in decided], dtype=pl.Int64),
            pl.Series("_made_by", [r.made_by for r in decided], dtype=pl.String),
            pl.Series("_retries", [r.retries for r in decided], dtype=pl.Int64),
            pl.Series("_own", [r.failed and r.made_by == "lb" for r in decided], dtype=pl.Boolean),
            *(pl.Series(f"_{c}", [getattr(r, c) for r in decided], dtype=pl.String)
              for c in ("code", "symptom", "proxy_status", "cause", "kind")))
        minutes = times.select(when, pl.Series("_minute", [t[:16] if t is not None else None for t in texts],
                                               dtype=pl.String))
        both = (groups.join(combos, on=keys, how="left", nulls_equal=True, maintain_order="left")
                .join(minutes, on=when, how="left", nulls_equal=True, maintain_order="left"))
        timeline = both.select(pl.col("_minute").alias("minute"), pl.col("_status").alias("status"),
                               pl.col("_made_by").alias("made_by"), pl.col("_retries").alias("retries"),
                               pl.col("n").cast(pl.Int64))
        own = both.filter(pl.col("_own"))
        if number and own.height:
            width = len(names)
            own = own.with_columns(
                pl.Series(end, [self._seconds(row[:width], row[width], row[-1])
                                for row in own.select(*names, "present", end).iter_rows()], dtype=pl.String)
                for end in ("first", "last"))
        codes = own.select(*(pl.col(f"_{c}").alias(c) for c in ("code", "status", "made_by", "symptom",
                                                                "proxy_status", "cause")),
                           pl.lit(True).alias("failed"), pl.col("_kind").alias("kind"),
                           pl.col("first").cast(pl.String), pl.col("last").cast(pl.String),
                           pl.col("n").cast(pl.Int64))
        return timeline, codes

    def _seconds(self, values: tuple[Any, ...], present: int, seconds: float) -> str | None:
        """The parser's text of the time ``seconds`` of a group of ``values`` (once per time:
        ``_Decider.timed``)."""
        return self.timeline.timed((*values[:-1], seconds), present)[1]

    def _per(self, groups: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """The per-target table's groups decided: the target, group, status, made_by and
        retries once per distinct value of the keys other than the timing's, then joined back;
        the timing by the family's own expression (``JsonFoldSpec.timing_of``, the one its
        column reader uses), else once per distinct timing by the parser."""
        names = self.per.names
        split = 1 << self.width  # ``present``: the bits of the parts, the timing's above the others'
        groups = groups.with_columns((pl.col("present") % split).alias("_p"),
                                     (pl.col("present") // split).alias("_t"))
        keys = [*names, "_p"]
        combos = groups.select(keys).unique()
        decided = [self.per(row[:-1], row[-1]) for row in combos.iter_rows()]
        # (the decided columns under names no key has: Envoy reads a key "status")
        combos = combos.with_columns(
            pl.Series("_target", [r.target for r in decided], dtype=pl.String),
            pl.Series("_group", [r.group for r in decided], dtype=pl.String),
            pl.Series("_status", [r.status for r in decided], dtype=pl.Int64),
            pl.Series("_made_by", [r.made_by for r in decided], dtype=pl.String),
            pl.Series("_retries", [r.retries for r in decided], dtype=pl.Int64))
        both = groups.join(combos, on=keys, how="left", nulls_equal=True)
        if self.timing_of is not None:
            both = both.with_columns(pl.Series("_ms", self.timing_of(both), dtype=pl.Float64))
        else:
            tkeys = [*self.timing_names, "_t", *(names[k] for k in self.reads)]
            timings = both.unique(subset=tkeys, keep="any")
            ms = [self._upstream_ms(row) for row in timings.iter_rows(named=True)]
            both = both.join(timings.select(*tkeys).with_columns(pl.Series("_ms", ms, dtype=pl.Float64)),
                             on=tkeys, how="left", nulls_equal=True)
        both = both.select(*(pl.col(f"_{c}").alias(c) for c in ("target", "group", "status", "made_by",
                                                               "retries", "ms")), pl.col("n"))
        both = both.rename({"ms": "upstream_ms"})
        return both.drop("group"), both.drop("target")

    def _upstream_ms(self, row: dict[str, Any]) -> float | None:
        """The parser's upstream timing of a group (``row``: the group's columns by name), read
        with the rest of its values (which do not change it: ``JsonFoldSpec.timing_reads``)."""
        tpresent, present = row["_t"], row["_p"]
        obj = self.per.obj(tuple(row[name] for name in self.per.names), present)
        obj.update((name, row[name]) for k, name in enumerate(self.timing_names) if (tpresent >> k) & 1)
        return self.per.decide(obj).upstream_ms


_NO_RECORDS = empty_records()


def json_fold(count: JsonCount, spec: JsonFoldSpec, parse: ParseJson) -> JsonFold | None:
    """A new fold of the native JSON pass for a family, or None when the pass was not built (or
    has no fold) or is turned off (``WHY502_NATIVE=0``)."""
    from why502.parsers.lblogs.batch import _native_pass

    module = _native_pass("_jsonscan")
    if module is None or not hasattr(module, "json_fold_new"):
        return None
    return JsonFold(module, count, spec, parse)
