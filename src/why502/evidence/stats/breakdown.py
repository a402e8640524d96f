"""The kept 5xx rows at the end of a run: who made each (when the log format cannot say), the
error-log line joined to it (``join``), the breakdown tables by URI, client and location, and the
first 5xx as a sample.

Why at the end and block by block: the error log is read after the access logs, and the kept
rows wait in a ``frames.FrameStore`` (on disk for a big log); going through them one block at a
time keeps memory at one block plus the small tables, however many 5xx the log holds (all kept
rows at once took 500 MB for 500k 5xx, measured).

Without ``$upstream_header_time`` in the format, who made a 5xx is judged here: a joined
error-log line says "nginx"; no line (when an error log was read) and the backend's status in
``$upstream_status`` says "backend"; otherwise "unknown".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl

from why502.evidence.stats.join import (
    EMPTY_ERRORS,
    PARTITIONS,
    ErrorParts,
    JoinTotals,
    join_block,
    partition_key,
    prepare_errors,
)
from why502.evidence.stats.model import MAX_KEYS, TOP_N, Row
from why502.proxies import ENGINE

_SAMPLE_COLUMNS = (
    "file",
    "line",
    "minute",
    "client",
    "host",
    "request",
    "status",
    "ua",
    "us",
    "uht",
    "made_by",
    "symptom",
    "error_message",
)
SAMPLE_ROWS = 200  # the first 5xx by time, for display


@dataclass
class Breakdown:
    """What ``breakdown_5xx`` found in the kept 5xx rows."""

    # who made the 5xx and per (last upstream, who): judged here, so empty when the format has
    # ``$upstream_header_time`` (the exact counts come from every 5xx then)
    made: Counter[str] = field(default_factory=Counter)
    per_upstream: Counter[tuple[str, str]] = field(default_factory=Counter)
    errorlog: JoinTotals | None = None  # the join's counts, when an error log was given
    by_uri: list[Row] = field(default_factory=list)
    by_client: list[Row] = field(default_factory=list)
    by_location: list[Row] | None = None  # None: no config locations to match
    sample: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # a table that had to be pruned (MAX_KEYS)


def uri_template(request: pl.Expr) -> pl.Expr:
    """``GET /api/v1/users/12345?x=1 HTTP/1.1`` -> ``GET /api/v1/users/{id}``: ids, hashes and
    UUIDs collapsed, the query string dropped, so the same endpoint groups together."""
    method = request.str.extract(r"^(\S+) ").fill_null("")
    path = request.str.extract(r"^\S+ ([^ ?#]*)").fill_null(request)
    path = path.str.replace_all(
        r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "{uuid}"
    )
    path = path.str.replace_all(r"/[0-9a-fA-F]{16,}(/|$)", "/{hash}$1")
    for _ in range(2):
        path = path.str.replace_all(r"/[0-9]+(/|$|\.)", "/{id}$1")
    return pl.when(method == "").then(path).otherwise(pl.concat_str([method, pl.lit(" "), path]))


def _numbered(blocks: Iterable[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    """The kept 5xx rows numbered (``_id``) in log order, for the sample's ties."""
    offset = 0
    for block in blocks:
        yield block.with_row_index("_id", offset=offset)
        offset += block.height


def _unjoined(blocks: Iterable[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    for block in _numbered(blocks):
        yield block.with_columns(
            pl.lit(None, dtype=pl.String).alias("symptom"),
            pl.lit(None, dtype=pl.String).alias("error_message"),
        )


def _joined(blocks: Iterable[pl.DataFrame], err: pl.DataFrame, totals: JoinTotals) -> Iterator[pl.DataFrame]:
    for block in _numbered(blocks):
        block, part = join_block(block, err)
        totals.add(part)
        yield block


def _joined_parts(
    blocks: Iterable[pl.DataFrame], errors: ErrorParts, totals: JoinTotals
) -> Iterator[pl.DataFrame]:
    """The 5xx rows joined partition by partition (``join.ErrorParts``): the rows are first
    split by the same key into stores of the errors' kind (on disk), then each partition's
    errors are loaded once and its 5xx rows joined to them.  The rows come out in partition
    order, not log order: nothing after the join depends on the order but the sample, which is
    sorted by time and ``_id``."""
    five = [errors.parts[0].new() for _ in range(PARTITIONS)]
    try:
        for block in _numbered(blocks):
            keyed = block.with_columns(partition_key(pl.col("client"), pl.col("request")).alias("_part"))
            for (p,), sub in keyed.partition_by("_part", as_dict=True, include_key=False).items():
                five[int(p)].add(sub)
        base = 0
        # the next partition's errors are read from disk and prepared on a thread while this
        # one's 5xx rows are joined and counted: the join ran after both log passes, alone on
        # the machine, ~0.7 s of a 1 GB host's diagnose (BENCHMARKS.md stop 48)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="why502-join") as pool:
            ahead = pool.submit(_prepared_part, errors, 0)
            for p in range(PARTITIONS):
                err = ahead.result()
                if p + 1 < PARTITIONS:
                    ahead = pool.submit(_prepared_part, errors, p + 1)
                err = err.with_columns(pl.col("_err") + base)
                base += err.height
                totals.usable += err.height
                for block in five[p].blocks():
                    block, part = join_block(block, err)
                    totals.add(part)
                    yield block
                totals.fold()
                five[p].close()
    finally:
        for store in five:
            store.close()


def _prepared_part(errors: ErrorParts, p: int) -> pl.DataFrame:
    """Partition ``p``'s error rows as ``join_block`` wants them (``prepare_errors``)."""
    raw = errors.part(p)
    return prepare_errors(raw if raw is not None else EMPTY_ERRORS)


def _prune(table: pl.DataFrame, name: str, floors: dict[str, int]) -> pl.DataFrame:
    """``table`` cut to its ``MAX_KEYS // 2`` keys with the most 5xx once it holds more than
    ``MAX_KEYS`` (unique URIs, clients: it grew with the log).  A key dropped and seen again
    restarts from 0, so ``floors[name]`` keeps the most 5xx a dropped key had: the error bound
    of every count left, said in a note."""
    if table.height <= MAX_KEYS:
        return table
    ranked = table.sort(["5xx", name], descending=[True, False], nulls_last=True)
    keep = MAX_KEYS // 2
    floors[name] = max(floors.get(name, 0), int(ranked["5xx"][keep]))
    return ranked.head(keep)


def breakdown_5xx(
    blocks: Iterable[pl.DataFrame],
    errors: pl.DataFrame | ErrorParts | None,
    *,
    has_uht: bool,
    where: pl.Expr | None,
    has_up: bool = True,
) -> Breakdown:
    """Go through the kept 5xx rows (``blocks``, in log order) once.  ``errors``: classified
    error-log lines (``join.prepare_errors``); ``has_uht``: the rows' ``made_by`` is set already;
    ``where``: the location label of a row, for the by-location table.  ``has_up``: the format
    has ``$upstream_addr``; only then does an empty one prove nginx answered without a backend
    (``combined`` has no upstream field at all, so a 5xx with no error line is of unknown make)."""
    out = Breakdown()
    totals: JoinTotals | None = None
    joined: Iterator[pl.DataFrame]
    if isinstance(errors, ErrorParts):  # a big error log, partitioned on disk
        totals = JoinTotals(errors.height, 0)
        joined = _joined_parts(blocks, errors, totals)
    elif errors is not None:
        err = prepare_errors(errors)
        totals = JoinTotals(errors.height, err.height)
        joined = _joined(blocks, err, totals)
    else:
        joined = _unjoined(blocks)
    no_up = pl.col("ua_last").is_in(["-", ""])
    who: pl.Expr | None = None
    if not has_uht:
        who = pl.when(no_up & pl.lit(has_up)).then(pl.lit(ENGINE))
        if totals is not None:  # an error log was read
            who = (
                who.when(pl.col("symptom").is_not_null())
                .then(pl.lit(ENGINE))
                .when(pl.col("us_last") == pl.col("status").cast(pl.String))
                .then(pl.lit("backend"))
            )
        who = who.otherwise(pl.lit("unknown"))
    # the URI template is worked out per distinct request (the ``uri`` table below: the rows
    # summed by request, then by template): four regex passes over each kept 5xx row were
    # ~0.11 s of 250k rows, run after the whole log was read (BENCHMARKS.md stop 58)
    keys: dict[str, pl.Expr] = {"uri": pl.col("request"), "client": pl.col("client")}
    if where is not None:
        keys["location"] = where
    tables: dict[str, pl.DataFrame | None] = dict.fromkeys(keys)
    floors: dict[str, int] = {}  # table -> the most 5xx a pruned key had (see _prune)
    sample: pl.DataFrame | None = None
    for block in joined:
        if who is not None:
            block = block.with_columns(who.alias("made_by"))
            out.made.update(dict(block.group_by("made_by").len().iter_rows()))
            out.per_upstream.update(
                {
                    (a, w): n
                    for a, w, n in block.filter(~no_up).group_by("ua_last", "made_by").len().iter_rows()
                }
            )
        for name, key in keys.items():
            g = block.group_by(key.alias(name)).agg(
                pl.len().alias("5xx"),
                *((pl.col("status") == s).sum().alias(str(s)) for s in (502, 503, 504)),
                (pl.col("made_by") == ENGINE).sum().alias("by_proxy"),
                (pl.col("made_by") == "backend").sum().alias("by_backend"),
            )
            if name == "uri":  # the requests' sums, summed again by their template
                g = g.with_columns(uri_template(pl.col("uri")).alias("uri")).group_by("uri").agg(
                    pl.all().sum())
            have = tables[name]
            merged = (
                g
                if have is None
                else pl.concat([have, g], how="vertical_relaxed").group_by(name).agg(pl.all().sum())
            )
            tables[name] = _prune(merged, name, floors)
        # the first 200 by time (ties: in log order), kept across blocks
        cand = block.sort(["ts", "_id"], nulls_last=True).head(SAMPLE_ROWS)
        cand = cand.select([c for c in _SAMPLE_COLUMNS if c in cand.columns] + ["ts", "_id"])
        sample = (
            cand
            if sample is None
            else pl.concat([sample, cand], how="vertical_relaxed")
            .sort(["ts", "_id"], nulls_last=True)
            .head(SAMPLE_ROWS)
        )
    out.errorlog = totals

    def top(name: str) -> list[Row]:
        g = tables.get(name)
        if g is None:
            return []
        # ties broken by the key, so the same log always gives the same table
        g = g.sort(["5xx", name], descending=[True, False], nulls_last=True).head(TOP_N)
        return [dict(zip(g.columns, r)) for r in g.iter_rows()]

    for name, floor in floors.items():
        out.notes.append(
            f"5xx by {name}: more than {MAX_KEYS} distinct values; the table keeps the ones with the "
            f"most 5xx, whose counts may be short by up to {floor} each (totals are exact)"
        )
    out.by_uri = top("uri")
    out.by_client = top("client")
    if where is not None:
        out.by_location = top("location")
    if sample is not None:
        keep = [c for c in _SAMPLE_COLUMNS if c in sample.columns]
        out.sample = [dict(zip(keep, r)) for r in sample.select(keep).iter_rows()]
        for d in out.sample:
            d["minute"] = d.get("minute") or ""
    return out
