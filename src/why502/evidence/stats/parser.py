"""The line parser: chunks of access-log lines in one ``log_format`` -> a frame of the captured
variables.

Why split at quotes: with nginx's default escaping a ``"`` never appears inside a value
(``ngx_http_log_escape()`` writes it as ``\\x22``), so splitting a line at every ``"`` gives the
same pieces as the ``log_format`` string split at its literal quotes.  polars' multi-threaded CSV
reader does that split (separator ``"``, no quoting), then each piece that holds wanted variables
is sliced at known offsets (``$status`` in `` $status $body_bytes_sent ``) or matched with a small
anchored regex.  A line is accepted when it has exactly the expected number of pieces, its last
piece with literal text is there, and ``$status``/the time have their shape; others
(``escape=json`` values with ``\\"``, ``escape=none``, foreign lines) are re-matched against the
whole-line regex from ``parsers.log_format``; what still does not match is counted as unparsed,
with samples.

``LineParser.fields_plan`` (split pieces -> captured strings + ``_ok``) is a row-wise lazy plan:
polars' streaming engine runs it on a plain file as it reads (``sources.scan``), and ``parse``
runs it on a chunk of bytes (``.gz``, stdin).

The native path (issue 28 item 4): when the engine's C scanner is built (``parsers.native``, not
turned off by ``WHY502_NATIVE=0``) and the format's pieces are all of the kinds it knows,
``parse`` has the split and the parse of each line done in C (``access_columns`` of the
scanner's module, run from ``LineParser._native_program``: these same segments and checks), which hands
back the columns as Arrow buffers and every line it does not take with certainty; those lines
go through the polars split below, so every line is decided as before and the frame is the
same (``tests/stats/test_stats_native.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import ModuleType

import polars as pl

from why502.evidence.stats.model import UNPARSED_SAMPLES
from why502.parsers.arrowcols import frame as arrow_frame
from why502.parsers.arrowcols import native_on
from why502.parsers.log_format import (
    FIXED_SHAPES,
    FIXED_WIDTH,
    CompiledFormat,
    compile_format,
    split_pieces,
)
from why502.parsers.native import scanner_module
from why502.textutil import lines_at, unsniffed

BAD_BLANK, BAD_SHORT, BAD_RECHECK = 1, 2, 3  # why a row failed the fast split (``_bad``)
_DEFERRABLE = frozenset({"remote_addr"})  # needed for the 5xx rows only
_TIMES = ("request_time", "upstream_connect_time", "upstream_header_time", "upstream_response_time")
_VALIDATE = ("status", "time_local", "time_iso8601", "msec", *_TIMES)

# the native program's operations and checks (``_scan_columns.h``: COP_*, CHK_*)
_OP_SINGLE, _OP_ANCHOR, _OP_LIT, _OP_PRE, _OP_SUF, _OP_WHOLE, _OP_CUT = range(7)
_CHK_NONE, _CHK_STATUS_I16, _CHK_STATUS_STR, _CHK_TIME_LOCAL, _CHK_TIMES = range(5)
# the ``_shape_ok`` checks the C side has (the others, e.g. ``$msec``: the format stays on polars)
_NATIVE_CHECKS = {"status": _CHK_STATUS_STR, "time_local": _CHK_TIME_LOCAL,
                  **dict.fromkeys(_TIMES, _CHK_TIMES)}
NativeStep = tuple[int, int, int, int, int, int, int, int, bytes]

# ``_row`` when the frame has it (a streaming plan numbers its rows last, see ``fields_plan``)
ROW = pl.col("^_row$")

#: the variables of (``$status``, the time, the host, ``$upstream_addr``) of a fold, None when
#: the format has none
FoldRoles = tuple[str | None, str | None, str | None, str | None]
#: the fold as the C scanner takes it (``_scan_fold.h`` ``fold_spec``): the columns of the four
#: roles (-1: none), the minute key's bytes, the attempt columns and their names
FoldProgram = tuple[int, int, int, int, int, tuple[int, ...], tuple[bytes, ...]]
#: what the scanner hands back of a fold: three frames' (schema, array) capsules, rows folded
FoldGroups = tuple[object, object, object, object, object, object, int]


@dataclass(frozen=True)
class Folded:
    """The rows of a chunk the C scanner counted rather than handed over as columns (no 5xx,
    one attempt at most: ``_scan_fold.h`` says which and why), as the small frames the
    aggregation makes of its own rows (``Reducer._aggregate``): ``timeline`` (minute, status,
    host, len), ``attempts`` (the upstream columns, len) and ``answered`` (ua, time, ``_ord``:
    the last answered row per ``$upstream_addr``, with its row number)."""

    rows: int
    timeline: pl.DataFrame
    attempts: pl.DataFrame
    answered: pl.DataFrame

    @staticmethod
    def of(groups: FoldGroups, fold: FoldProgram) -> Folded | None:
        """The scanner's groups as frames; None when it folded no row."""
        tl_s, tl_a, att_s, att_a, ans_s, ans_a, rows = groups
        if not rows:
            return None
        timeline = arrow_frame(tl_s, tl_a)
        if fold[2] < 0:  # no host in the format: null, as ``RowPlan.typed`` has it
            timeline = timeline.with_columns(pl.lit(None, dtype=pl.String).alias("host"))
        return Folded(int(rows), timeline, arrow_frame(att_s, att_a), arrow_frame(ans_s, ans_a))

    @staticmethod
    def together(parts: list[tuple[int, Folded]]) -> Folded | None:
        """Several pieces' groups as one (None: none), each piece's ``_ord`` shifted by its
        offset (its first row's number in the file)."""
        if not parts:
            return None
        return Folded(
            rows=sum(f.rows for _, f in parts),
            timeline=pl.concat([f.timeline for _, f in parts], how="vertical_relaxed"),
            attempts=pl.concat([f.attempts for _, f in parts], how="vertical_relaxed"),
            answered=pl.concat([f.answered.with_columns(pl.col("_ord").cast(pl.Int64) + off)
                                for off, f in parts], how="vertical_relaxed"))


@dataclass(frozen=True)
class _Segment:
    index: int
    kind: str  # single | literal | anchor | mixed | positional | skip
    text: str
    var: str | None = None
    pattern: str | None = None
    fields: tuple[str, ...] = ()
    # positional: (field, prefix length or None, suffix length or None, width or None, stop char)
    slices: tuple[tuple[str, int | None, int | None, int | None, str | None], ...] = ()


def _positional(
    text: str, wanted: frozenset[str], last: bool
) -> tuple[tuple[str, int | None, int | None, int | None, str | None], ...] | None:
    """Cheap slicing instead of a regex when each wanted variable sits at a fixed offset from
    the start or the end of its piece (e.g. ``$status`` in `` $status $body_bytes_sent ``) or
    at a fixed offset and ends at a character it cannot contain."""
    pieces = split_pieces(text)
    out: list[tuple[str, int | None, int | None, int | None, str | None]] = []

    def length(ps: list[tuple[str, str]]) -> int | None:
        total = 0
        for kind, value in ps:
            if kind == "lit":
                total += len(value)
            elif value in FIXED_WIDTH:
                total += FIXED_WIDTH[value]
            else:
                return None
        return total

    taken: set[str] = set()
    for k, (kind, value) in enumerate(pieces):
        # a variable named twice (nginx allows ``$status $status``) is read where it first is:
        # two columns of one name were an internal error in polars
        if kind != "var" or value not in wanted or value in taken:
            continue
        taken.add(value)
        pre = length(pieces[:k])
        suf = length(pieces[k + 1 :])
        width = FIXED_WIDTH.get(value)
        nxt = pieces[k + 1] if k + 1 < len(pieces) else None
        if width is not None and pre is not None:
            out.append((value, pre, None, width, None))
        elif width is not None and suf is not None and not last:
            out.append((value, None, suf, width, None))
        elif (pre is not None and nxt is not None and nxt[0] == "lit" and value not in FIXED_SHAPES) or (
            pre is not None
            and nxt is not None
            and nxt[0] == "lit"
            and nxt[1][0] not in " ,:"
            and value.startswith("upstream_")
        ):
            out.append((value, pre, None, None, nxt[1][0]))
        elif pre is not None and nxt is None and not last:
            out.append((value, pre, None, None, None))
        else:
            return None
    return tuple(out)


class LineParser:
    """Parse chunks of lines in one ``log_format`` into a frame of the captured variables."""

    def __init__(self, fmt: CompiledFormat) -> None:
        self.fmt = fmt
        segs = fmt.format.split('"')
        self.n = len(segs)
        self.segments: list[_Segment] = []
        seen: set[str] = set()
        for i, text in enumerate(segs):
            vars_ = re.findall(r"\$\{?([A-Za-z0-9_]+)\}?", text)
            if not vars_:
                self.segments.append(_Segment(i, "literal" if text else "skip", text))
                continue
            if re.fullmatch(r"\$\{?[A-Za-z0-9_]+\}?", text):
                var = vars_[0]
                if var in fmt.fields and var not in seen:
                    seen.add(var)
                    self.segments.append(_Segment(i, "single", text, var=var))
                else:
                    self.segments.append(_Segment(i, "skip", text))
                continue
            wanted = frozenset(v for v in vars_ if v in fmt.fields and v not in seen)
            if not wanted:
                self.segments.append(_Segment(i, "skip", text))
                continue
            sub = _compile_segment(text, fmt.escape, wanted)
            seen |= set(sub.fields)
            pos = _positional(text, wanted, last=(i == len(segs) - 1))
            if pos is not None:
                self.segments.append(_Segment(i, "positional", text, fields=sub.fields, slices=pos))
            else:
                self.segments.append(_Segment(i, "mixed", text, pattern=sub.pattern, fields=sub.fields))
        # Only the last literal piece is checked (each column read costs CPU); the layout is also
        # guarded by the extra-column check, the status cast and the required upstream fields.
        # The anchor: the last piece with literal text of its own, so never empty in a whole line
        # (a truncated line or one with fewer quotes has it null).
        with_text = [i for i, t in enumerate(segs) if re.sub(r"\$\{?[A-Za-z0-9_]+\}?", "", t).strip()]
        self.anchor = with_text[-1] if with_text else None
        self.segments = [
            seg
            if seg.kind != "literal" or seg.index == self.anchor
            else _Segment(seg.index, "skip", seg.text)
            for seg in self.segments
        ]
        self.segments = [
            _Segment(seg.index, "anchor", seg.text)
            if seg.kind == "skip" and seg.index == self.anchor
            else seg
            for seg in self.segments
        ]
        self.columns = sorted({s.index for s in self.segments if s.kind != "skip"} | {self.n})
        # No header line is prepended (that would copy every chunk): the reader gets the n + 1
        # columns as a schema and pads short lines with nulls; column n is non-null only for a
        # line with more quotes than the format.
        self._schema = {f"column_{i + 1}": pl.String for i in range(self.n + 1)}
        self._read_cols = [f"column_{i + 1}" for i in self.columns]
        self._rename = {f"column_{i + 1}": f"c{i}" for i in self.columns}
        self.fields = fmt.fields
        self.deferred: dict[str, str] = {}  # field -> stop char, cut later (finish_deferred)
        self._build_exprs()
        self.native = self._native_program()

    def _build_exprs(self) -> None:
        """The per-line expressions, built once (they do not depend on the data).

        Two steps: the values (``_exprs``) and the checks that need the raw pieces
        (``_raw_oks``), then the checks on the values themselves (``_ok``): a value is cut from
        its piece once and checked where it is, instead of being cut again for the check."""
        exprs: list[pl.Expr] = []
        raw: list[pl.Expr] = [pl.col(f"c{self.n}").is_null()]
        oks: list[pl.Expr] = []
        for seg in self.segments:
            col = pl.col(f"c{seg.index}")
            if seg.kind == "single":
                assert seg.var is not None
                exprs.append(col.fill_null("").alias(seg.var))  # "" and missing read as null
                if seg.var in _VALIDATE:  # the shapes reject "" as they reject a missing value
                    oks.append(_shape_ok(seg.var, pl.col(seg.var)))
                if seg.index == self.anchor:
                    raw.append(col.is_not_null())
            elif seg.kind == "anchor":
                raw.append(col.is_not_null())
            elif seg.kind == "literal":
                raw.append(col == seg.text.rstrip("\r") if seg.index == self.n - 1 else col == seg.text)
            elif seg.kind == "positional":
                for name, pre, suf, width, stop in seg.slices:
                    e = col
                    if pre is not None and width is not None:
                        e = col.str.slice(pre, width)
                    elif suf is not None and width is not None:
                        e = col.str.slice(-(suf + width), width)
                    elif name in _DEFERRABLE and not pre and stop is not None:
                        # only the 5xx rows need it: cut it there (``finish_deferred``)
                        self.deferred[name] = stop
                    else:
                        if pre:
                            e = e.str.slice(pre)
                        if stop is not None:
                            e = e.str.split_exact(stop, 1).struct.field("field_0")
                    if name == "status":
                        e = e.cast(pl.Int16, strict=False)
                        oks.append(pl.col(name).is_not_null())
                    elif name in _VALIDATE:
                        oks.append(_shape_ok(name, pl.col(name)))
                    else:
                        raw.append(col.is_not_null())
                    exprs.append(e.alias(name))
            elif seg.kind == "mixed":
                assert seg.pattern is not None
                ex = col.str.extract_groups(seg.pattern)
                for f in seg.fields:
                    exprs.append(ex.struct.field(f).alias(f))
                if seg.fields:
                    oks.append(pl.col(seg.fields[0]).is_not_null())
                    # the piece's regex checks shapes only (a $msec in year 30000 is digits too)
                    oks += [_shape_ok(f, pl.col(f)) for f in seg.fields if f in _VALIDATE]
                else:
                    raw.append(col.str.contains(seg.pattern))
        self._exprs = exprs
        self._out_cols = [pl.col(e.meta.output_name()) for e in exprs]
        self._raw_oks = [e.alias(f"_k{i}") for i, e in enumerate(raw)]
        self._ok = (
            pl.all_horizontal([pl.col(f"_k{i}") for i in range(len(raw))] + oks).fill_null(False).alias("_ok")
        )
        # Why a row may fail (read only for rows that do): BAD_BLANK, a blank line (skipped, as
        # nginx never writes one); BAD_SHORT, fewer quotes than the format, which no value can
        # cause (escaping only ever adds quotes: ``\"`` with escape=json, raw with none), so
        # the whole-line regex cannot match it either and it is unparsed without a second
        # look; BAD_RECHECK, anything else (an escaped quote, a shape check), re-matched.
        others = [pl.col(f"c{i}").is_null() for i in self.columns if i != 0]
        first = [pl.col("c0").is_null() | (pl.col("c0") == "\r")] if 0 in self.columns else []
        blank = pl.all_horizontal(others + first) if others + first else pl.lit(False)
        short = pl.col(f"c{self.anchor}").is_null() if self.anchor is not None else pl.lit(False)
        self._bad = (
            pl.when(blank)
            .then(pl.lit(BAD_BLANK, dtype=pl.Int8))
            .when(short)
            .then(pl.lit(BAD_SHORT, dtype=pl.Int8))
            .otherwise(pl.lit(BAD_RECHECK, dtype=pl.Int8))
            .alias("_bad")
        )

    def _native_program(self) -> tuple[tuple[NativeStep, ...], tuple[tuple[bytes, bool], ...]] | None:
        """The segments as the C scanner's steps (``_scan_columns.h``) and its output columns
        (name, Int16 or String) in ``fields_plan``'s order; None when a piece needs what only
        polars has (a regex: ``mixed``; a shape check the C side lacks, e.g. ``$msec``).
        Each step does what ``_build_exprs`` does with that piece: the same slice, the same
        presence check, the same shape check."""
        if self.n > 64:  # COL_MAX_PIECES
            return None
        names = [e.meta.output_name() for e in self._exprs]
        out = {name: k for k, name in enumerate(names)}
        i16: set[str] = set()
        steps: list[NativeStep] = []

        def check(name: str) -> int | None:
            return _NATIVE_CHECKS.get(name) if name in _VALIDATE else _CHK_NONE

        for seg in self.segments:
            if seg.kind == "single":
                assert seg.var is not None
                chk = check(seg.var)
                if chk is None:
                    return None
                steps.append((seg.index, _OP_SINGLE, out[seg.var], 0, 0, 0, -1, chk, b""))
                if seg.index == self.anchor:
                    steps.append((seg.index, _OP_ANCHOR, -1, 0, 0, 0, -1, _CHK_NONE, b""))
            elif seg.kind == "anchor":
                steps.append((seg.index, _OP_ANCHOR, -1, 0, 0, 0, -1, _CHK_NONE, b""))
            elif seg.kind == "literal":
                text = seg.text.rstrip("\r") if seg.index == self.n - 1 else seg.text
                steps.append((seg.index, _OP_LIT, -1, 0, 0, 0, -1, _CHK_NONE, text.encode()))
            elif seg.kind == "positional":
                for name, pre, suf, width, stop in seg.slices:
                    chk = _CHK_STATUS_I16 if name == "status" else check(name)
                    if chk is None:
                        return None
                    if name == "status":
                        i16.add(name)
                    stop_byte = ord(stop) if stop is not None else -1
                    if pre is not None and width is not None:
                        op, a, b, w = _OP_PRE, pre, 0, width
                    elif suf is not None and width is not None:
                        op, a, b, w = _OP_SUF, 0, suf, width
                    elif name in _DEFERRABLE and not pre and stop is not None:
                        op, a, b, w = _OP_WHOLE, 0, 0, 0
                    else:
                        op, a, b, w = _OP_CUT, pre or 0, 0, 0
                    steps.append((seg.index, op, out[name], a, b, w, stop_byte, chk, b""))
            elif seg.kind == "mixed":
                return None
        if len(names) > 32 or len(steps) > 4 * 64:  # the C side's bounds (COL_MAX_FIELDS, steps)
            return None
        return tuple(steps), tuple((name.encode(), name in i16) for name in names)

    def _native_module(self) -> ModuleType | None:
        """The C scanner's module when this format runs on it (see the module's docstring)."""
        if self.native is None or not native_on():
            return None
        return scanner_module()

    @property
    def runs_native(self) -> bool:
        """Whether ``parse`` splits and parses this format in C (the reader then gives it
        chunks of bytes rather than polars' streaming scan, ``app.stats.read``)."""
        return self._native_module() is not None

    def fold_program(self, roles: FoldRoles, attempts: list[tuple[str, str]],
                     minute: int) -> FoldProgram | None:
        """The C scanner's fold (``_scan_fold.h``) of this format, or None when it does not run
        it: ``roles`` the variables of the status, the time, the host and ``$upstream_addr``
        (None: not in the format), ``attempts`` the (variable, column) of the upstream fields
        the attempts are grouped by, ``minute`` the bytes of the time that make its minute key.
        Every variable named must be one of the scanner's columns."""
        if self.native is None:
            return None
        index = {name.decode(): k for k, (name, _i16) in enumerate(self.native[1])}
        status, time, host, upstream = roles
        wanted = [v for v in (status, time, host, upstream, *(var for var, _ in attempts)) if v is not None]
        if status is None or any(v not in index for v in wanted):
            return None

        def at(var: str | None) -> int:
            return -1 if var is None else index[var]

        att = tuple(index[var] for var, _ in attempts)
        names = tuple(col.encode() for _, col in attempts)
        return at(status), at(time), at(host), at(upstream), minute, att, names

    def _fast_out(self, data: bytes | memoryview, native: bool = True, fold: FoldProgram | None = None,
                  ) -> tuple[pl.DataFrame, int, Folded | None, dict[int, bytes] | None]:
        """``fields_plan``'s rows of every line of ``data`` (``_row`` first), the number of
        lines, the rows the C scanner counted instead (``fold``, :class:`Folded`) and the lines
        it handed back by row (every row that can fail is one of them): by the C scanner when
        it runs this format (``native``), else by polars (nothing folded, no line at hand)."""
        module = self._native_module() if native else None
        if module is None:
            df = self._read(bytes(data))
            return self.fields_plan(df.lazy()).with_row_index("_row").collect(), df.height, None, None
        assert self.native is not None
        steps, fields = self.native
        folded = None
        if fold is None:
            schema, array, rows, back_rows, back = module.access_columns(data, self.n, steps, fields)
        else:
            schema, array, rows, back_rows, back, groups = module.access_columns(
                data, self.n, steps, fields, fold)
            folded = Folded.of(groups, fold)
        taken = arrow_frame(schema, array).with_columns(
            pl.lit(True).alias("_ok"), pl.lit(BAD_RECHECK, dtype=pl.Int8).alias("_bad"))
        if not back:
            return taken, int(rows), folded, {}
        # the lines the C side handed back, through the polars split (each line is read on its
        # own, so alone or among the others it gives the same row), numbered as in ``data``
        row_numbers = memoryview(back_rows).cast("I").tolist()
        texts = dict(zip(row_numbers, back.split(b"\n")))
        numbers = pl.Series("_row", row_numbers, dtype=pl.UInt32)
        rest = self.fields_plan(self._read(back).lazy()).collect()
        rest.insert_column(0, numbers)
        if not taken.height:
            return rest, int(rows), folded, texts
        if not rest["_ok"].any():  # the usual case (foreign lines): row order only matters among taken rows
            return pl.concat([taken, rest]), int(rows), folded, texts
        return taken.merge_sorted(rest, "_row"), int(rows), folded, texts  # both are in line order

    def regex_ok(self, field: Callable[[str], pl.Expr]) -> pl.Expr:
        """Whether the whole-line regex matched (``field(name)`` gives a captured value) and
        its values pass the checks of the fast path: the regex checks shapes only, and a year
        nginx cannot have written still matches ``\\d{4}``."""
        if not self.fields:
            return pl.lit(False)
        checks = [_shape_ok(f, field(f)).fill_null(False) for f in self.fields if f in _VALIDATE]
        return pl.all_horizontal([field(self.fields[0]).is_not_null(), *checks])

    def finish_deferred(self, name: str, e: pl.Expr) -> pl.Expr:
        """The real value of a deferred field (its piece is kept whole by ``parse``); also right
        for rows the whole-line regex parsed (their value has no stop character)."""
        stop = self.deferred.get(name)
        return e if stop is None else e.str.split_exact(stop, 1).struct.field("field_0")

    @property
    def split_columns(self) -> int:
        """How many columns a reader must give (``n`` pieces plus one that is non-null only
        for a line with more quotes than the format)."""
        return self.n + 1

    def fields_plan(self, split: pl.LazyFrame) -> pl.LazyFrame:
        """The captured variables (strings) and ``_ok`` of every row of ``split``, a frame of the
        reader's ``column_1..column_{n+1}`` (pieces between quotes) and, if it has one, ``_row``;
        row-wise only, so polars' streaming engine can run it while it reads (``sources.scan``).
        A streaming plan should number its rows *after* this: a row index ahead of the work
        makes the engine run the work in order on one thread (measured: 1.1 cores instead of 2)."""
        return (
            split.select(ROW, *self._read_cols)
            .rename(self._rename)
            .select(ROW, *self._exprs, *self._raw_oks, self._bad)
            .select(ROW, *self._out_cols, self._ok, "_bad")
        )

    def _read(self, data: bytes) -> pl.DataFrame:
        """Split each line at its quotes (polars' CSV reader, no quoting); blank lines are rows
        too, so row ``r`` is line ``r`` of the chunk.  Strict UTF-8 first (it is the common case
        and decodes faster), lossy decoding when the chunk has bytes that are not UTF-8
        (``escape=json``/``none`` formats write header bytes raw)."""
        data, blank = unsniffed(data)  # a first line polars would take for a zlib stream
        for encoding in ("utf8", "utf8-lossy"):
            try:
                df = pl.read_csv(
                    data,
                    separator='"',
                    quote_char=None,
                    has_header=False,
                    schema=self._schema,
                    missing_columns="insert",
                    extra_columns="ignore",
                    truncate_ragged_lines=True,
                    columns=self._read_cols,
                    encoding=encoding,
                    comment_prefix=None,
                    eol_char="\n",
                    raise_if_empty=False,
                )
                return df.slice(blank) if blank else df
            except pl.exceptions.ComputeError as err:
                if encoding != "utf8" or "utf-8" not in str(err).lower():
                    raise
        raise AssertionError("unreachable")

    def parse(self, data: bytes, native: bool = True) -> tuple[pl.DataFrame, int, list[tuple[int, str]], int]:
        """Return (parsed frame with ``_row``, unparsed count, unparsed samples (row, text), rows).

        Blank lines are skipped silently (nginx never writes one).  ``native=False``: polars
        only, even when the C scanner runs this format (the tests compare the two).
        """
        good, unparsed, samples, rows, _folded = self.parse_folded(data, native)
        return good, unparsed, samples, rows

    def parse_folded(self, data: bytes | memoryview, native: bool = True, fold: FoldProgram | None = None,
                     ) -> tuple[pl.DataFrame, int, list[tuple[int, str]], int, Folded | None]:
        """``parse``, with the rows the C scanner counted in ``fold``'s groups left out of the
        frame and handed back as :class:`Folded` (None: nothing folded, every row is in the frame).
        ``data`` may be a view (the native reader's, ``sources.byte_chunks``): the C scanner
        reads any buffer; polars gets bytes."""
        if not data or (len(data) < 4096 and not bytes(data).strip()):
            return _empty_frame(self.fields), 0, [], 0, None
        if not native or self._native_module() is None:
            data = bytes(data)  # polars reads it (no copy when it is bytes already)
        # one lazy query (each eager step costs a planning pass per chunk, in the GIL-holding
        # Python part that keeps the two worker threads from running side by side)
        out, rows, folded, back = self._fast_out(data, native, fold)
        if out["_ok"].all():  # the usual case: no copy
            good = out
            good.drop_in_place("_ok")
            good.drop_in_place("_bad")
            bad_rows: list[int] = []
        else:
            good = out.filter(pl.col("_ok")).drop("_ok", "_bad")
            bad_rows = out.filter(~pl.col("_ok"))["_row"].to_list()
        unparsed = 0
        samples: list[tuple[int, str]] = []
        if bad_rows:
            texts: list[str] = []
            idx: list[int] = []
            # the C side's handed-back lines are at hand (no count of the chunk's newlines)
            found = lines_at(bytes(data), bad_rows) if back is None else [back.get(r) for r in bad_rows]
            for r, raw in zip(bad_rows, found):
                if raw is not None:
                    t = raw.decode("utf-8", errors="replace").rstrip("\r")
                    if not t.strip():
                        continue
                    texts.append(t)
                    idx.append(r)
            if texts:
                ser = pl.Series("line", texts, dtype=pl.String)
                exf = ser.str.extract_groups(self.fmt.pattern).struct.unnest()
                exf = exf.with_columns(pl.Series("_row", idx, dtype=pl.UInt32))
                # the regex checks shapes only: the values must also pass ``_shape_ok`` (a year
                # nginx cannot have written matches ``\d{4}``)
                exf = exf.with_columns(self.regex_ok(pl.col).alias("_hit"))
                matched = exf.filter(pl.col("_hit")).drop("_hit")
                miss_mask = ~exf["_hit"]
                for r, t, miss in zip(idx, texts, miss_mask.to_list()):
                    if miss:
                        unparsed += 1
                        if len(samples) < UNPARSED_SAMPLES:
                            samples.append((r, t))
                if matched.height:
                    good = pl.concat([good, matched.select(good.columns)], how="vertical_relaxed")
        return good, unparsed, samples, rows, folded


def _shape_ok(var: str, e: pl.Expr) -> pl.Expr:
    """A cheap check that a fixed-shape variable looks right (a regex per line costs more)."""
    if var == "status":
        return e.cast(pl.Int16, strict=False).is_not_null()
    if var == "time_local":  # 20/Nov/2026:00:00:00 +0100
        return ((e.str.slice(2, 1) == "/") & (e.str.slice(11, 1) == ":")
                & _plausible_year(e.str.slice(7, 4)) & e.str.slice(3, 3).is_in(_MONTH_NAMES))
    if var == "time_iso8601":  # 2026-11-20T00:00:00+01:00
        return ((e.str.slice(4, 1) == "-") & (e.str.slice(10, 1) == "T")
                & _plausible_year(e.str.slice(0, 4)) & e.str.slice(5, 2).is_in(_MONTH_NUMBERS))
    if var == "msec":  # seconds since the epoch, before year 9999
        t = e.str.strip_chars_end("\r").cast(pl.Float64, strict=False)
        return e.str.contains("^(?:" + FIXED_SHAPES[var] + r")\r?$") & (t < _MSEC_MAX)
    if var in _TIMES:
        # nginx writes seconds as "%T.%03M" (ngx_http_upstream_response_time_variable(),
        # ngx_http_log_request_time()): digits, a dot, "-" for an attempt without the phase,
        # joined by ", " and " : ".  NaN, inf, 1e309 or -1.000 are not what nginx wrote: the line
        # is counted unparsed.  One character-class search, not a per-line regex of the shape.
        return (~e.str.contains(r"[^0-9., :\r-]|-[0-9]")).fill_null(True)  # absent: not wrong
    return e.str.contains("^(?:" + FIXED_SHAPES[var] + r")\r?$")


# nginx writes the time of its own clock (ngx_times.c): a year before the epoch or at 9999 (where
# one more minute overflows every date type) is not a time nginx wrote, and a month that is not
# one of the twelve cannot be placed; such a line is counted as unparsed, never a crash later.
_MONTH_NAMES = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
_MONTH_NUMBERS = [f"{m:02d}" for m in range(1, 13)]
_MSEC_MAX = 253_370_764_800.0  # 9999-01-01T00:00:00Z


def _plausible_year(e: pl.Expr) -> pl.Expr:
    year = e.cast(pl.Int32, strict=False)
    return (year >= 1970) & (year < 9999)


def _compile_segment(text: str, escape: str | None, wanted: frozenset[str]) -> CompiledFormat:
    """A regex for one quote-free piece of the format."""
    return compile_format(text, escape, capture=wanted, require_status=False)


def _empty_frame(fields: Iterable[str]) -> pl.DataFrame:
    cols = {f: pl.Series(f, [], dtype=pl.String) for f in fields}
    cols["_row"] = pl.Series("_row", [], dtype=pl.UInt32)
    return pl.DataFrame(cols)
