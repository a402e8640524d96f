"""HAProxy's stats plug-in (``Hooks.stats``, ``access_log``, ``access_feed``, ``watch_access``):
its one log's httplog lines as the statistics engine's columns.

HAProxy writes one log (configuration.txt 8.2.3): the httplog line *is* the request's record and
its errors are termination states on it.  ``why502 stats`` reads it once, in batches, each batch
cut by the ``HTTPLOG`` regex in polars' string kernels into nginx's variables with nginx's
meanings (:func:`httplog_fields`, the facts of ``log.to_fields``), aggregated by the engine as
they come (``app.stats.read.read_frames``): no rewritten copy and no second parse.  Server names
become the addresses of the config's ``server`` lines, so per-upstream rows name the same peers
as diagnose, each next to its backend's ``timeout server``; the runtime API's ``show servers
state`` adds each server's state now when the config has a ``stats socket`` that answers.

``diagnose`` reads the same columns: from the files it is given as access logs
(:func:`haproxy_for_diagnose`, ``Hooks.access_log``), or, with none, from the batches its
error-log pass reads (:class:`HttplogFeed`, ``Hooks.access_feed``), so the one log is read once.
"""

from __future__ import annotations

import gzip
import importlib
from array import array as array_of
from collections.abc import Callable, Mapping
from datetime import datetime
from itertools import islice
from types import ModuleType
from typing import TYPE_CHECKING, Protocol, cast

from why502.errors import InputError
from why502.proxies.haproxy import log as haproxy_log
from why502.proxies.haproxy.config import HaproxyConfig, time_ms
from why502.proxies.haproxy.facts import haproxy_facts
from why502.proxies.haproxy.source import haproxy_config as _read_config
from why502.proxies.haproxy.source import servers_state

if TYPE_CHECKING:
    import polars as pl

    from why502.app.stats.read import BlockReader, FramedLog
    from why502.app.stats.report import ProxiedInput
    from why502.app.stats.run import FedLog, TextRead
    from why502.evidence.stats.parser import Folded, FoldGroups
    from why502.findings.results import StatsReport


def haproxy_config(path: str) -> HaproxyConfig:
    """The config, parsed once per run (``proxies.haproxy.source``: ``sources.once``)."""
    return _read_config(path)


def haproxy_timeouts(config: str | None) -> tuple[dict[str, tuple[float, str]], list[str]]:
    """Each server's ``timeout server`` (its backend's, else the ``defaults``': seconds and
    file:line) by the address the rows name, and one note per backend: the column next to the
    per-backend percentiles.  Unset is infinite (configuration.txt 4.2): no column value, and
    the note says so."""
    if config is None:
        return {}, []
    try:
        cfg = haproxy_config(config)
    except OSError as err:
        raise InputError(f"cannot read {config} (--config): {err.strerror or err}") from None
    addresses = server_addresses(config)
    out: dict[str, tuple[float, str]] = {}
    notes: list[str] = []
    for sec in cfg.backends:
        eff = sec.effective("timeout server")
        ms = time_ms(eff.value)
        where = f"{eff.file}:{eff.line}" if eff.file else "HAProxy's default"
        if ms is None or ms <= 0:
            notes.append(f"timeout server of {sec.kind} {sec.name}: unset (infinite)")
            continue
        notes.append(f"timeout server of {sec.kind} {sec.name}: {eff.value} ({where})")
        for srv in sec.servers:
            addr = addresses.get(f"{sec.name}/{srv.name}")
            if addr:
                out[addr] = (ms / 1000, where)
    return out, notes


def backends_of(config: str | None) -> dict[str, list[str]]:
    """Server address -> the backends it serves (the per-server rows' "location")."""
    out: dict[str, list[str]] = {}
    for name, addr in server_addresses(config).items():
        backend = name.split("/", 1)[0]
        if backend not in out.setdefault(addr, []):
            out[addr].append(backend)
    return out


def runtime_servers(config: str | None) -> tuple[list[dict[str, str]], list[str]]:
    """``show servers state`` from the config's stats socket, when it has one that answers:
    each server's state now, beside what the log says happened."""
    if config is None:
        return [], []
    try:
        cfg = haproxy_config(config)
    except OSError:
        return [], []
    if not cfg.stats_sockets:
        return [], []
    rows, notes = servers_state(cfg)
    return [{"server": r.name, "address": r.address or "", "state": r.status,
             "check": r.check_status or ""} for r in rows], notes


def server_addresses(config: str | None) -> dict[str, str]:
    """``backend/server`` -> ``host:port`` from a ``haproxy.cfg`` (empty without one)."""
    if config is None:
        return {}
    try:
        _t, _g, _f, aliases = haproxy_facts(haproxy_config(config))
    except OSError as err:
        raise InputError(f"cannot read {config} (--config): {err.strerror or err}") from None
    return {name: key for name, key in aliases.items() if "/" in name and "<NOSRV>" not in name}


def _zone() -> str:
    # this machine's offset, once: asking for it on every line took ~40% of the rewrite
    return datetime.now().astimezone().strftime("%z")


def _secs(ms: pl.Expr) -> pl.Expr:
    """``proxies.haproxy.log._secs`` over a column: ``max(ms, 0) / 1000`` to 3 decimals, by
    integer arithmetic (the same text as ``f"{ms / 1000:.3f}"`` for any timer below 2**53)."""
    import polars as pl

    ms = ms.clip(lower_bound=0)
    return pl.concat_str([(ms // 1000).cast(pl.String), pl.lit("."),
                          (ms % 1000).cast(pl.String).str.zfill(3)])


#: the engine's variables :func:`httplog_fields` fills (``log.to_fields``' keys, in order)
FIELDS = ("remote_addr", "time_local", "request", "status", "body_bytes_sent", "request_time",
          "upstream_addr", "upstream_status", "upstream_connect_time", "upstream_header_time",
          "upstream_response_time")


def httplog_fields(lines: pl.Series, addresses: Mapping[str, str], zone: str,
                   first_row: int = 0) -> pl.DataFrame:
    """The httplog request lines of a batch as the engine's columns (:data:`FIELDS`, with
    ``log.to_fields``' values), plus ``_row`` (``first_row`` + the line's index in the batch) and
    ``_text`` (the line); lines that are no httplog request line are left out.

    The native pass (``_hapscan.c``) cuts and converts the lines of printable ASCII as
    :func:`_fields_polars` does and hands the others back to it, so the rows are the same with or
    without it (``tests/haproxy/test_hapscan.py``).  Per line in Python this cost ~25 us, in
    polars ~5 us (the regex's capture groups, then the timers written as seconds), in the pass
    ~0.4 us (BENCHMARKS.md, stop 50)."""
    import polars as pl

    from why502.parsers.arrowcols import frame, joined_bytes, native_on
    from why502.parsers.lblogs.batch import with_rest

    module = _native_module() if native_on() and lines.len() else None
    if module is None:
        return _fields_polars(lines, addresses, zone, first_row)
    schema, array, count, back_rows, _text = module.httplog_columns(joined_bytes(lines),
                                                                    zone.encode())
    if count != lines.len():  # a "line" holding a newline: the regex reads the batch
        return _fields_polars(lines, addresses, zone, first_row)
    taken = frame(schema, array)
    if addresses:  # backend/server -> the config's address (a backend alone holds no "/")
        taken = taken.with_columns(pl.col("upstream_addr").replace(dict(addresses)))
    taken = taken.with_columns(lines.gather(taken["idx"]).alias("_text"))

    def polars_rows(part: pl.Series) -> tuple[pl.DataFrame, pl.Series]:  # with_rest's reader
        rows = _fields_polars(part, addresses, zone).rename({"_row": "idx"})
        return rows, pl.Series("idx", [], dtype=pl.UInt32)

    rows, _left = with_rest(taken, array_of("I", back_rows).tolist(), polars_rows, lines)
    return rows.select((pl.col("idx").cast(pl.Int64) + first_row).alias("_row"), *FIELDS, "_text")


def httplog_block(data: bytes, addresses: Mapping[str, str], zone: str, first_row: int = 0,
                  fold: bool = False) -> tuple[pl.DataFrame, Folded | None] | None:
    """:func:`httplog_fields` on the undecoded lines of a raw block (``app.stats.read``'s
    ``BlockReader``), None when the native pass is not there or turned off.  The pass takes
    only lines of printable ASCII, and hands the others back undecoded: those are decoded as the
    batch reader decodes a whole batch (UTF-8, U+FFFD for a bad byte; a newline ends any bad
    sequence, so a line decodes alone as within its batch) and read by :func:`_fields_polars`.

    ``fold``: the rows the engine only counts (no 5xx; ``_hapscan.c``'s fold says which and why)
    are counted by the pass into groups and handed back as ``Folded`` instead of as rows, as
    nginx's C scanner does (BENCHMARKS.md, stops 51 and 52).  Not when a config address could
    read as several attempts (", ", " : ") or as none ("-", ""): the pass groups by the
    ``backend/server`` it read, mapped here."""
    import polars as pl

    from why502.parsers.arrowcols import frame, native_on

    module = _native_module() if native_on() else None
    if module is None:
        return None
    # the pass makes the columns and the groups as the engine takes them -- the row numbered in
    # the file, backend/server -> the config's address (as ``replace`` would), no text (the rows
    # taken pass the engine's checks: ``_hapscan.c`` hands back the others), the groups in the
    # engine's types -- so no polars query per block is left but the Arrow imports (four small
    # queries were ~1-2 ms a block against the pass's ~1.7: BENCHMARKS.md, stop 52)
    (schema, array, _count, back_rows, back_text), groups = module.httplog_block(
        data, zone.encode(), first_row, fold and foldable(addresses), dict(addresses))
    taken = frame(schema, array)
    back = array_of("I", back_rows)
    if back:  # the lines handed back, in polars, numbered as in the block
        lines = pl.Series("line", back_text.decode("utf-8", errors="replace").split("\n")[:-1])
        rest = _fields_polars(lines, addresses, zone)
        rest = rest.with_columns(pl.Series("_n", back, dtype=pl.Int64).gather(rest["_row"]) + first_row) \
            .drop("_row").rename({"_n": "_row"}).select("_row", *FIELDS, "_text")
        taken = pl.concat([taken, rest]).sort("_row")
    return taken, (_folded(groups) if groups is not None else None)


def foldable(addresses: Mapping[str, str]) -> bool:
    """Whether the pass may fold with these addresses: none that the engine would read as
    several attempts (", ", " : ") or as no upstream ("-", ""), and no ``-`` mapped -- the pass
    decides on the ``backend/server`` it read (``_hapscan.c``), which is mapped after."""
    odd = any(a in ("", "-") or ", " in a or " : " in a for a in addresses.values())
    return "-" not in addresses and not odd


def _folded(groups: FoldGroups) -> Folded | None:
    """The pass's groups as the engine's ``Folded`` (made in the engine's types by the pass)."""
    from why502.evidence.stats.parser import Folded
    from why502.parsers.arrowcols import frame

    tl_s, tl_a, att_s, att_a, ans_s, ans_a, rows = groups
    if not rows:
        return None
    return Folded(int(rows), frame(tl_s, tl_a), frame(att_s, att_a), frame(ans_s, ans_a))


def _fields_polars(lines: pl.Series, addresses: Mapping[str, str], zone: str,
                   first_row: int = 0) -> pl.DataFrame:
    """:func:`httplog_fields` in polars alone: ``HTTPLOG`` in polars' string kernels, then the
    meanings of ``log.to_fields`` as column expressions (the reference of the native pass)."""
    import polars as pl

    from why502.parsers.lblogs.batch import without_cr

    read = without_cr(lines)  # a CRLF line without its CR, as the pass reads it; ``_text`` is the line
    m = read.rename("line").str.extract_groups(haproxy_log.HTTPLOG_TEXT).struct.unnest()
    m = m.with_columns(lines.rename("_text"),
                       pl.int_range(first_row, first_row + lines.len(), dtype=pl.Int64).alias("_row"),
                       ).filter(pl.col("client").is_not_null())
    tr, tw, tc, t_r, ta = (pl.col(k).cast(pl.Int64, strict=False) for k in ("TR", "Tw", "Tc", "Tr", "Ta"))
    connected = tc >= 0
    server_side = ta - tr.clip(lower_bound=0) - tw.clip(lower_bound=0)  # Tc onwards
    relayed = connected & (t_r >= 0) & ~pl.col("ts").str.slice(1, 1).is_in(list("RQCHT"))
    name = pl.concat_str([pl.col("backend"), pl.lit("/"), pl.col("server")])
    if addresses:
        name = name.replace(dict(addresses))
    addr = pl.when(pl.col("server") == "<NOSRV>").then(pl.col("backend")).otherwise(name)
    request = pl.col("request")
    request = (pl.when(request.is_null() | (request == "")).then(pl.lit("-"))
               .otherwise(request.str.replace_all('"', "%22", literal=True)))
    status = pl.col("status")
    none = pl.lit("-")
    values = (pl.col("client"), pl.concat_str([pl.col("time"), pl.lit(f" {zone}")]), request, status,
              pl.col("bytes"), _secs(ta), addr, status,
              pl.when(connected).then(_secs(tc)).otherwise(none),
              pl.when(relayed).then(_secs(tc + t_r)).otherwise(none),
              pl.when(connected).then(_secs(server_side)).otherwise(none))
    # a timer polars cannot read as an integer (Python's int() reads any Unicode digit): the
    # line gets Python's reading (log.to_fields)
    fast = pl.all_horizontal(t.is_not_null() for t in (tr, tw, tc, t_r, ta))
    out = m.select("_row", *(v.alias(f) for f, v in zip(FIELDS, values)), "_text", fast.alias("_fast"))
    if out["_fast"].all():
        return out.drop("_fast")
    odd = out.filter(~pl.col("_fast")).select("_row", "_text")
    slow = [(row, fields, text) for row, text in odd.iter_rows()
            if (fields := haproxy_log.to_fields(text, addresses, zone)) is not None]
    redone = pl.DataFrame({"_row": [r for r, _f, _t in slow],
                           **{f: [d[f] for _r, d, _t in slow] for f in FIELDS},
                           "_text": [t for _r, _f, t in slow]},
                          schema={"_row": pl.Int64, **dict.fromkeys(FIELDS, pl.String), "_text": pl.String})
    return pl.concat([out.filter(pl.col("_fast")).drop("_fast"), redone]).sort("_row")


def _native_module() -> ModuleType | None:
    """The native pass, when it was built (``setup.py``; without a C compiler it is not)."""
    try:
        from why502.proxies.haproxy.proxy import PROXY

        return importlib.import_module(PROXY.hooks.native_log_reader)
    except ImportError:
        return None


def access_frames(config: str | None) -> Callable[[pl.Series, int], pl.DataFrame]:
    """The reader ``app.stats.read.read_frames`` calls on each batch of the log's lines."""
    addresses, zone = server_addresses(config), _zone()
    return lambda lines, first_row: httplog_fields(lines, addresses, zone, first_row)


#: what HAProxy's access log format is called in the notes and errors of ``stats`` and ``diagnose``
HTTPLOG_SOURCE = "HAProxy httplog (configuration.txt 8.2.3)"


def access_blocks(config: str | None) -> BlockReader:
    """The reader ``app.stats.read.read_frames`` calls on each raw block of the log (its
    ``BlockReader``: :func:`httplog_block`)."""
    addresses, zone = server_addresses(config), _zone()
    return lambda data, first_row, fold: httplog_block(data, addresses, zone, first_row, fold)


def proxied_input(files: list[str], config: str | None, log_format: str | None) -> ProxiedInput:
    """What ``app.stats.report.proxied_report`` needs to read HAProxy's log: its reader, the
    engine's format it fills (``why502``), each server's ``timeout server``, and the backends
    and runtime state added to the report after."""
    from why502.app.stats.report import ProxiedInput

    timeouts, notes = haproxy_timeouts(config)

    def finish(report: StatsReport) -> None:  # its backends, and the runtime API's view
        backends = backends_of(config)
        for u in report.upstreams:
            if not u.get("locations"):
                u["locations"] = backends.get(str(u.get("address")), [])
        servers, why = runtime_servers(config)
        if servers:
            report.servers_now = servers
        report.notes = [*report.notes, *why]

    return ProxiedInput(frames=access_frames(config), blocks=access_blocks(config), log_format="why502",
                        source=HTTPLOG_SOURCE, timeouts=timeouts,
                        notes=notes, finish=finish)


class _Batch(Protocol):  # sources.logfiles.LineBatch, as diagnose's error-log pass hands it
    path: str
    first_line: int
    text: str
    count: int


class HttplogFeed:
    """HAProxy's one log aggregated as the engine's columns *while* diagnose reads it as the error log.

    HAProxy writes one log (configuration.txt 8.2.3), and ``diagnose`` reads it as both its
    error log and its access log.  Reading it twice cost 2.7x on big logs (issue 28), and each
    input is read once per run (issue 23 item 3): the error log's classifying pass
    (``app.diagnose.logs.classify_into``) hands each batch it read here (``feed``), and the
    httplog lines of a file whose first 200 lines hold some (``_has_httplog``'s rule; every
    file with ``head=False``) are cut into the engine's columns (:func:`httplog_fields`) and
    aggregated as they come (``app.stats.run.FedLog``), which ``log`` then gives the statistics
    engine to finish: no rewritten copy, no temporary file.  ``since``: diagnose's window."""

    HEAD = 200

    def __init__(self, config: str | None, since: datetime | None = None, head: bool = True) -> None:
        from why502.app.stats.run import FedLog

        self._log = FedLog(access_frames(config), "why502", since, blocks=access_blocks(config))
        self.head = head
        self._take: dict[str, bool] = {}

    @property
    def paths(self) -> list[str]:
        """The files whose lines were taken, in the order they came."""
        return self._log.paths

    def feed(self, batch: _Batch) -> None:
        """Each batch, in the order of the file: ``take(batch, read(batch))``."""
        self.take(batch, self.read(batch))

    def read(self, batch: _Batch) -> TextRead | None:
        """The native pass over ``batch`` (``FedLog.read_text``), in any thread: the
        ``app.classify.SideRead`` of diagnose's classifying pass, run in its workers."""
        if (self.head and batch.path == "-") or not batch.count or self._take.get(batch.path) is False:
            return None
        if batch.first_line == 1:  # (a file's first batch decides; take, in order, reads the answer)
            self._taken(batch)
        return self._log.read_text(batch.first_line, batch.text)

    def take(self, batch: _Batch, got: object) -> None:
        """``batch``'s lines aggregated as ``read`` read them, in the order of the file."""
        if (self.head and batch.path == "-") or not batch.count:
            return
        if self._taken(batch):
            self._log.add_read(batch.path, batch.first_line, batch.text, cast("TextRead | None", got))

    def _taken(self, batch: _Batch) -> bool:
        """Whether the lines of ``batch``'s file are read (its first 200 lines hold httplog
        lines, or ``head`` is off): decided on its first batch, once."""
        import polars as pl

        take = self._take.get(batch.path)
        if take is None:
            head = (pl.Series("line", batch.text.split("\n", self.HEAD)[:self.HEAD]) if batch.first_line == 1
                    else pl.Series("line", [], dtype=pl.String))
            take = self._take[batch.path] = (
                not self.head or bool(head.str.contains(haproxy_log.HTTPLOG_TEXT).any()))
        return take

    def log(self) -> FedLog:
        """The lines fed, aggregated (what ``haproxy_for_diagnose`` would read)."""
        return self._log

    def close(self) -> None:
        self._log.close()


def haproxy_for_diagnose(access_logs: list[str], error_logs: list[str], config: str | None) -> FramedLog:
    """``Hooks.access_log`` of HAProxy: the files to read as its access log and the reader of
    their httplog lines into the engine's ``why502`` columns (:func:`access_frames`).

    HAProxy writes one log (configuration.txt 8.2.3: the httplog line *is* the request's
    record; its errors are termination states on it), so without an ``--access-log`` the
    error logs that hold httplog lines are the access log too."""
    from why502.app.stats.read import FramedLog

    paths = list(access_logs) or [p for p in error_logs if _has_httplog(p)]
    return FramedLog(paths, access_frames(config) if paths else None, "why502", HTTPLOG_SOURCE)


def _has_httplog(path: str) -> bool:
    """Do the first lines of ``path`` look like httplog lines (``proxies.haproxy.log``)?"""
    try:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
            head = list(islice(fh, 200))
    except OSError:
        return False
    return any(haproxy_log.HTTPLOG.search(line) for line in head)


def haproxy_for_watch(config: str | None, path: str) -> tuple[None, haproxy_log.HttplogCounter]:
    """``Hooks.watch_access`` of HAProxy: its httplog lines counted as the ``why502`` rows
    diagnose reads (``proxies.haproxy.log.HttplogCounter``, the meanings of ``to_fields``),
    so ``watch`` counts the 5xx HAProxy relayed as well as the ones it made (before, only its
    failure lines counted: a backend's own 502s never opened an incident).  No line rewritten
    (None): the counter reads HAProxy's lines a block at a time, without polars."""
    return None, haproxy_log.HttplogCounter(server_addresses(config))
