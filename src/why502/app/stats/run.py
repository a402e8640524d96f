"""``why502 stats`` from end to end: options -> files -> one accumulator per rotated set (each in
its own ``log_format``) -> folded together -> joined with the error log -> ``AccessStats`` with
the config's timeouts and the notes that say what was read and how.
"""

from __future__ import annotations

import contextvars
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from why502 import proxies
from why502.app.stats.errorlog import error_rows
from why502.app.stats.formats import check_matched, choose_format
from why502.app.stats.inputs import access_paths, outside_window
from why502.app.stats.read import BlockReader, FrameFeed, FrameReader, read_files, read_frames
from why502.errors import InputError, UnmatchedLogError
from why502.evidence.stats import AccessStats, ErrorParts, StatsAccumulator
from why502.proxies.base import resolve
from why502.sources.byte_chunks import CHUNK_BYTES, Progress, all_empty, file_size, rotated_base
from why502.sources.localtime import local_zone_name
from why502.sources.opening import own_notes, take_notes
from why502.sources.spill import DiskFrames
from why502.textutil import strip_terminal_escapes

if TYPE_CHECKING:
    import polars as pl

    from why502.evidence.stats.parser import Folded
    from why502.facts.logconfig import LogConfig
    from why502.parsers.log_format import CompiledFormat


@dataclass
class StatsOptions:
    """What ``why502 stats`` was asked (CLI flags, or diagnose's choices)."""

    paths: list[str] = field(default_factory=list)
    log_format: str | None = None
    config_file: str | None = None  # the default proxy's config (--config): its LogConfig read from it
    config: LogConfig | None = None
    error_logs: list[str] | None = None
    no_error_log: bool = False
    since: datetime | None = None
    until: datetime | None = None
    chunk_bytes: int = CHUNK_BYTES
    workers: int = 2
    progress: Progress | None = None
    engine: str = "auto"  # auto: streaming scan for plain files, chunks for .gz/stdin; scan | chunks
    tz: str | None = None  # zone for $msec times; None: the machine's (sources.localtime)
    stdin_default: bool = True  # no file and stdin is a pipe: read it (the CLI only)
    # the error-log rows for the join, classified already (diagnose): used instead of reading
    # ``error_logs`` again; the columns of ``errorlog.read_error_lines``
    errors: pl.DataFrame | ErrorParts | None = None
    # upstream address -> (timeout seconds, where): another proxy's (HAProxy's timeout server),
    # used when there is no nginx config to take the read timeouts from
    timeouts: dict[str, tuple[float, str]] | None = None
    # another proxy's log read through nginx's columns (app.stats.report.proxied_report): its
    # word in the notes (``Vocabulary.stats_word``) and what its log format is called
    maker: str | None = None
    format_source: str | None = None
    # another proxy's access log read by its stats plug-in straight into the engine's columns
    # (``read.read_frames``), in ``log_format`` (the engine's format whose variables it fills):
    # ``paths`` are read once, in the order given, as one set
    frames: FrameReader | None = None
    blocks: BlockReader | None = None  # ... and of its raw blocks, by its native pass (``read.read_frames``)
    # another proxy's access log aggregated already, while another pass read its file (diagnose's
    # error-log pass: ``Hooks.access_feed``): finished here like a set read here; ``paths`` unused
    fed: FedLog | None = None
    # the views only ``why502 stats`` shows (``RowPlan.stats_views``: per-location timings, the
    # connect-time histogram): ``compute_for_diagnose`` turns them off, diagnose reads neither
    stats_views: bool = True


class TextRead(NamedTuple):
    """A batch's lines as the plug-in's native pass read them (``FedLog.read_text``)."""

    rows: pl.DataFrame
    folded: Folded | None


class FedLog:
    """Another proxy's access log aggregated while another pass reads the same file: HAProxy
    writes one log, which ``diagnose`` reads as its error log, and that one read hands each
    batch here (``Hooks.access_feed``) instead of the file being read again (issue 23 item 3,
    issue 28).  ``run_stats`` finishes it (``StatsOptions.fed``) as it finishes a set it read
    itself: the same accumulator, format, window and zone, the 5xx rows spilled to disk as there
    (``sources.spill``).  ``close`` removes those."""

    def __init__(self, frames: FrameReader, log_format: str, since: datetime | None = None,
                 blocks: BlockReader | None = None) -> None:
        self.fmt, self.fmt_source = choose_format(log_format, None, [])
        self.store = DiskFrames()
        self.acc = StatsAccumulator(self.fmt, since=since, locations=None, tz=local_zone_name(),
                                    store=self.store)
        # each group of rows aggregated in a thread of its own, merged here in order
        # (``FrameFeed.drain``): in the thread that takes the batches it was a quarter of the
        # thread diagnose's run of HAProxy's log waits on (BENCHMARKS.md stop 62)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="why502-fed")
        self._feed = FrameFeed(self.acc, frames, self._pool)
        self._blocks = blocks
        self.paths: list[str] = []  # the files fed, in the order they came

    def add(self, path: str, first_line: int, lines: pl.Series) -> None:
        if path not in self.paths:
            self.paths.append(path)
        self._feed.add(path, first_line, lines)

    def add_text(self, path: str, first_line: int, text: str) -> None:
        """``add`` of the lines of ``text`` (whole lines joined by newlines, as a ``LineBatch``
        holds them): through the plug-in's native pass when it runs (``blocks``, as ``stats``
        reads the file: ``read.read_frames``), else split into lines for ``frames``.  The
        feed's lines through polars were two thirds of the thread that classifies HAProxy's log
        for diagnose (BENCHMARKS.md stop 55).  A line that is not printable ASCII -- a byte the
        reading pass decoded as U+FFFD too -- is handed back by the pass and read as ``frames``
        reads it.  ``read_text`` then ``add_read``: the first may run in another thread."""
        self.add_read(path, first_line, text, self.read_text(first_line, text))

    def read_text(self, first_line: int, text: str) -> TextRead | None:
        """The native pass over ``text`` (the lines from ``first_line`` on): no shared state is
        touched, so it may run in any thread (``app.classify.SideRead``); None: not read so."""
        if self._blocks is None:
            return None
        try:
            data = text.encode("utf-8") + b"\n"
        except UnicodeEncodeError:  # (a lone surrogate: the lines as they are, in add_read)
            return None
        read = self._blocks(data, first_line - 1, self.acc.reducer.folds_fields)
        return None if read is None else TextRead(*read)  # (not data: a batch's copy per batch in flight)

    def add_read(self, path: str, first_line: int, text: str, got: TextRead | None) -> None:
        """The lines of ``text`` aggregated, as ``read_text`` read them (None: split here for
        ``frames``); in the order of the file."""
        import polars as pl

        if got is None:
            self.add(path, first_line, pl.Series("line", [text]).str.split("\n").explode())
            return
        if path not in self.paths:
            self.paths.append(path)
        self._feed.add_read(path, first_line, lambda: pl.Series("line", [text]).str.split("\n").explode(),
                            got.rows, got.folded)

    def done(self) -> StatsAccumulator:
        """The accumulator, every row fed aggregated."""
        self._feed.flush()
        self._feed.drain()
        return self.acc

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.store.close()


def run_stats(opts: StatsOptions) -> tuple[AccessStats, str]:
    """Compute the statistics; returns them and where the log format came from."""
    stores: list[DiskFrames] = []
    try:
        return _run_stats(opts, stores)
    finally:
        for store in stores:
            store.close()


@dataclass
class _Read:
    """What reading the access logs left for ``_finish``: the sets folded into one accumulator,
    the config's location model and stats plug-in, and the notes of the read so far."""

    cfg: LogConfig | None
    acc: StatsAccumulator
    fmt_source: str
    skipped_notes: list[str]
    locations: Any
    plugin: Any
    nothing: bool
    notes: list[str] = field(default_factory=list)  # taken on the thread that read (AccessRead)


def _run_stats(opts: StatsOptions, stores: list[DiskFrames]) -> tuple[AccessStats, str]:
    return _finish(opts, _read_sets(opts, stores))


def _read_sets(opts: StatsOptions, stores: list[DiskFrames]) -> _Read:
    """Every access log read, one accumulator per rotated set folded into one: the part of a
    run that needs neither the error log nor its rows (``StatsOptions.errors``)."""
    cfg = opts.config
    if cfg is None and opts.config_file is not None:
        from why502.proxies import source_of

        cfg = source_of().load_config(opts.config_file)
    # One accumulator per rotated set (each may have its own log_format), folded together;
    # another proxy's log read by its plug-in is one set, in the order given
    groups: dict[str, list[str]] = {}
    proxied = opts.frames is not None or opts.fed is not None
    if opts.fed is not None:
        paths = list(opts.fed.paths)
    else:
        paths = access_paths(opts.paths, cfg, opts.stdin_default) if not proxied else list(opts.paths)
    for p in paths:
        groups.setdefault(rotated_base(p) if not proxied else "", []).append(p)
    accs: list[StatsAccumulator] = []
    sources: list[str] = []
    total = sum(file_size(p) for p in paths)
    done = 0
    skipped_notes: list[str] = []
    # the config's location model and read timeouts describe lines; with no byte to read they
    # would only be built (half a second on 5000 servers) and dropped
    nothing = all_empty(paths)
    # the config's own stats plug-in (the default proxy's: its locations as the engine's
    # neutral RouteModel, its read timeouts), reached through the registry
    plugin: Any = resolve(proxies.of(None).hooks.stats) if cfg is not None else None
    locations = plugin.locations_from_config(cfg) if cfg is not None and not nothing else None
    tz = opts.tz or local_zone_name()
    for group in groups.values():
        if opts.fed is not None:  # read already (FedLog)
            acc, fmt, fmt_source = opts.fed.done(), opts.fed.fmt, opts.fed.fmt_source
        else:
            acc, fmt, fmt_source, group = _read_group(opts, cfg, group, locations, tz, stores,
                                                      skipped_notes, done, total)
        acc.files = [p for p in group if p in acc.files or p != "-"]  # empty files are inputs too
        done += sum(file_size(p) for p in group)
        check_matched(acc, fmt, fmt_source, group[-1])
        accs.append(acc)
        if fmt_source not in sources:
            sources.append(fmt_source)
    acc = accs[0]
    for other in accs[1:]:
        acc.absorb(other)
    return _Read(cfg, acc, "; ".join(sources), skipped_notes, locations, plugin, nothing)


def _finish(opts: StatsOptions, read: _Read) -> tuple[AccessStats, str]:
    """The error log's rows joined to what was read, the config's timeouts, and the notes."""
    cfg, acc, fmt_source, skipped_notes = read.cfg, read.acc, read.fmt_source, read.skipped_notes
    locations, plugin, nothing = read.locations, read.plugin, read.nothing
    errors, error_paths = error_rows(opts.errors, opts.error_logs, opts.no_error_log, cfg, skipped_notes)
    reads = plugin.read_timeouts(cfg if not nothing else None) if plugin is not None else []
    facts = plugin.upstream_facts(cfg, reads) if plugin is not None else {}
    timeouts = {a: (secs, where) for a, (secs, where, _l) in facts.items()} if cfg is not None else None
    if timeouts is None and opts.timeouts is not None:
        timeouts = opts.timeouts
    per_location = plugin.location_timeouts(reads) if plugin is not None else {}
    try:
        st = acc.finish(
            errors=errors, timeouts=timeouts, locations=locations, location_timeouts=per_location,
            maker=opts.maker,
        )
    finally:
        if isinstance(errors, ErrorParts) and opts.errors is None:
            errors.close()  # the partitions read here (diagnose's are its own to close)
    for u in st.upstreams:
        if u.address in facts:
            u.locations = facts[u.address][2]
    st.notes.insert(0, f"log format: {opts.format_source or fmt_source}")
    st.notes.extend(skipped_notes)
    st.notes.extend(read.notes + take_notes())  # files not read, streams cut short (sources.opening)
    if locations:
        st.notes.extend(f"location matching: {n}" for n in locations.notes())
    if error_paths:
        st.notes.insert(1, "error log: " + ", ".join(error_paths))
    if acc.unparsed and acc.lines:
        share = 100.0 * acc.unparsed / acc.lines
        st.notes.append(f"{acc.unparsed} of {acc.lines} lines ({share:.2f}%) do not match the log format")
    return st, fmt_source


def _read_group(opts: StatsOptions, cfg: LogConfig | None, group: list[str], locations: Any,
                tz: str | None, stores: list[DiskFrames], skipped_notes: list[str], done: int, total: int,
                ) -> tuple[StatsAccumulator, CompiledFormat, str, list[str]]:
    """One rotated set (or another proxy's files, ``opts.frames``) read into its own
    accumulator: it, its format, where the format came from and the files read."""
    fmt, fmt_source = choose_format(opts.log_format, cfg, group, keep=True)  # read whole next
    # kept 5xx rows wait on disk (sources.spill), so reading stays flat in memory
    stores.append(DiskFrames())
    acc = StatsAccumulator(
        fmt, since=opts.since, until=opts.until, locations=locations, tz=tz, store=stores[-1],
        stats_views=opts.stats_views,
    )
    skipped = [p for p in group if opts.frames is None and outside_window(p, fmt, opts.since, opts.until)]
    if skipped and len(skipped) < len(group):
        group = [p for p in group if p not in skipped]
        skipped_notes.append(
            "not read (wholly outside --since/--until by their first and last lines): "
            + ", ".join(skipped)
        )

    def progress(n: int, base: int = done) -> None:
        if opts.progress is not None:
            opts.progress(base + n, total)

    if opts.frames is not None:
        feed = read_frames(acc, group, opts.frames, progress, opts.blocks, opts.workers)
        if not acc.lines and feed.first is not None:
            path, line, text = feed.first
            # (UnmatchedLogError: ``diagnose`` exits 3 for such a log named with --access-log
            # when nothing else gave a finding, as for nginx's; it said "healthy" and exit 0)
            raise UnmatchedLogError(
                f"none of the {feed.seen} lines of {', '.join(group)} is a request in the log format "
                f"({opts.format_source or fmt_source}); first line ({path}:{line}): "
                f"{strip_terminal_escapes(text)[:200]!r} -- give --log-format or --config", path)
    else:
        read_files(
            acc,
            group,
            engine=opts.engine,
            chunk_bytes=opts.chunk_bytes,
            workers=opts.workers,
            progress=progress,
        )
    return acc, fmt, fmt_source, group


def compute_for_diagnose(
    access_logs: list[str],
    *,
    config: LogConfig | None = None,
    log_format: str | None = None,
    error_logs: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    errors: pl.DataFrame | ErrorParts | None = None,
    frames: FrameReader | None = None,
    fed: FedLog | None = None,
    format_source: str | None = None,
) -> AccessStats:
    """The ``AccessStats`` diagnose needs: per-upstream timings next to the configured timeouts,
    who made each 5xx (``made_by``, ``UpstreamStats.made_by``), the per-minute timeline and the
    incidents.  ``errors``: the rows of ``error_logs`` as ``read_error_lines`` returns them, when
    the caller classified those files already (they are then not read again).  Another proxy's
    access log comes as its plug-in's ``frames`` over ``access_logs`` (in ``log_format``, the
    engine's format they fill: ``Hooks.access_log``; ``format_source``: what the user's format
    is called), or ``fed`` while its error-log pass read it (``Hooks.access_feed``): each file
    read once, with no rewritten copy.  The per
    (upstream, location) timings ``UpstreamStats.by_location`` and the connect-time histogram
    are left empty (``RowPlan.stats_views``): diagnose reads neither.  Raises ``InputError``
    like ``why502 stats`` does."""
    if not access_logs and config is None and (fed is None or not fed.paths):
        raise InputError("no access log to read")
    opts = StatsOptions(
        paths=access_logs,
        log_format=log_format,
        config=config,
        error_logs=error_logs,
        no_error_log=error_logs is None and config is None,
        stdin_default=False,
        since=since,
        until=until,
        errors=errors,
        frames=frames,
        fed=fed,
        stats_views=False,
        format_source=format_source,
    )
    st, _ = run_stats(opts)
    return st


class AccessRead:
    """``compute_for_diagnose`` of the engine's own access logs in two halves: the logs are read
    on a thread of their own from the start, while the caller classifies the error logs, and
    ``finish`` joins that read to the error log's rows once they are known.  The two passes
    share nothing but the CPUs (polars releases the GIL), so on two cores the read costs little
    wall time beyond the classification (issue 28 item 1).  What the thread records is kept
    apart (``sources.opening.own_notes``) and said where the serial run says it, so the answer
    is the same."""

    def __init__(self, access_logs: list[str], config: LogConfig | None,
                 since: datetime | None = None) -> None:
        if not access_logs and config is None:
            raise InputError("no access log to read")
        self.opts = StatsOptions(paths=access_logs, config=config, stdin_default=False,
                                 since=since, stats_views=False)
        self._stores: list[DiskFrames] = []
        self._read: _Read | None = None
        self._error: BaseException | None = None
        # the thread runs in a copy of the caller's context: the run's registry (``sources.once``:
        # the file the format sniff kept open is the one the read takes, so each log is opened once)
        context = contextvars.copy_context()
        self._thread = threading.Thread(target=context.run, args=(self._run,), name="why502-access",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            with own_notes() as notes:
                self._read = _read_sets(self.opts, self._stores)
                self._read.notes = list(notes)
        except BaseException as err:  # raised again by finish, on the caller's thread
            self._error = err

    def finish(self, error_logs: list[str] | None,
               errors: pl.DataFrame | ErrorParts | None) -> AccessStats:
        """The ``AccessStats`` of ``compute_for_diagnose(access_logs, config=..., since=...,
        error_logs=error_logs, errors=errors)``.  Raises what the read raised."""
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._read is not None
        self.opts.error_logs, self.opts.errors = error_logs, errors
        self.opts.no_error_log = error_logs is None and self.opts.config is None
        st, _ = _finish(self.opts, self._read)
        return st

    def close(self) -> None:
        """Wait for the read (when ``finish`` was never called) and remove its spilled rows."""
        self._thread.join()
        for store in self._stores:
            store.close()
