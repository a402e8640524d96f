"""Wiring for ``why502 stats``: inputs, format choice, config facts, error log -> ``AccessStats``.

The heavy lifting is pure (``evidence.stats``); this module decides *what* to read:

- the files, a rotated set in time order (``access.log.2.gz`` < ``access.log.1`` < ``access.log``);
- the ``log_format``: ``--log-format`` (a string or a name), else the format named by the
  ``access_log`` directive for that file in the nginx config (``--nginx-conf``), else the
  predefined format that matches the first lines best;
- the configured read timeout of each upstream address (``proxy_read_timeout`` and the
  fastcgi/uwsgi/scgi/grpc equivalents of the location that passes to it, nginx default 60s);
- the error log (``--error-log`` or the config's ``error_log``) for the per-request join.

Plain files are read by polars' streaming engine (``sources.scan``), which runs the parse plan
while it reads, in parallel; the main thread aggregates its batches ``GROUP_ROWS`` at a time.
``.gz`` and stdin are read by ``sources.byte_chunks`` in byte chunks cut at the last newline
(``.gz`` decompressed as a stream), parsed by two worker threads (polars releases the GIL) while
the main thread merges the results in order.  Either way memory stays flat: only a few batches
or chunks are in flight.  (Measured on a 5M-line log: the streaming scan takes ~25% less wall
time and ~20% less CPU than the chunk reader, which left ~0.5 core idle; bench/README.md.)
"""

from __future__ import annotations

import os
import re
import sys
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from why502.errors import InputError, UsageError
from why502.evidence.location_match import LocationModel
from why502.evidence.stats import UNPARSED_SAMPLES, AccessStats, Partial, StatsAccumulator
from why502.parsers.log_format import PREDEFINED, ByteChunk, CompiledFormat, compile_format, resolve_format
from why502.sources.byte_chunks import (
    CHUNK_BYTES,
    Progress,
    file_size,
    head_lines,
    head_tail_lines,
    iter_byte_chunks,
    order_rotated,
    rotated_base,
)
from why502.sources.localtime import local_zone_name
from why502.sources.logfiles import file_identity
from why502.sources.scan import (
    BATCH_ROWS,
    GROUP_ROWS,
    is_invalid_utf8,
    numbered_lines,
    scan_split,
    scannable,
    small_reader_chunks,
)
from why502.sources.spill import DiskFrames
from why502.textutil import strip_terminal_escapes

ProgressBytes = Callable[[int], None]

if TYPE_CHECKING:
    import polars as pl

    from why502.parsers.nginx_config import NginxConfig

_TIMEOUT_DIRECTIVE = {
    "proxy": "proxy_read_timeout",
    "fastcgi": "fastcgi_read_timeout",
    "uwsgi": "uwsgi_read_timeout",
    "scgi": "scgi_read_timeout",
    "grpc": "grpc_read_timeout",
}


@dataclass
class StatsOptions:
    """What ``why502 stats`` was asked (CLI flags, or diagnose's choices)."""

    paths: list[str] = field(default_factory=list)
    log_format: str | None = None
    nginx_conf: str | None = None
    config: NginxConfig | None = None
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
    # ``error_logs`` again; the columns of ``read_error_lines``
    errors: pl.DataFrame | None = None


# ---------------------------------------------------------------------------------------------
# format


def guess_format(lines: list[str]) -> tuple[str, int]:
    """The predefined format matching most of ``lines`` (ties: the richer format)."""
    best, score = "combined", -1
    for name, (fmt, escape) in PREDEFINED.items():
        cf = compile_format(fmt, escape, name=name)
        rx = re.compile(cf.pattern)
        hits = sum(1 for ln in lines if rx.match(ln))
        if hits > score or (
            hits == score and len(cf.fields) > len(compile_format(*PREDEFINED[best], name=best).fields)
        ):
            best, score = name, hits
    return best, score


def choose_format(
    opts: StatsOptions, cfg: NginxConfig | None, paths: list[str]
) -> tuple[CompiledFormat, str]:
    """Return the compiled format and a sentence saying where it came from."""
    formats: dict[str, tuple[str, str | None]] = {}
    if cfg is not None:
        formats = {
            name: (lf.format, lf.escape if lf.escape != "default" else None)
            for name, lf in cfg.log_formats.items()
        }
    if opts.log_format:
        name, fmt, escape = resolve_format(opts.log_format, formats)
        return compile_format(fmt, escape, name=name), f"--log-format {name or 'string'}"
    if cfg is not None:
        chosen = _config_format_name(cfg, paths)
        if chosen is not None:
            name, where = chosen
            name_, fmt, escape = resolve_format(name, formats)
            return compile_format(fmt, escape, name=name_), f"log_format {name} ({where})"
    sample = head_lines(paths[0]) if paths else []
    name, hits = guess_format(sample)
    fmt, escape = PREDEFINED[name]
    return compile_format(fmt, escape, name=name), f"guessed: {name} ({hits}/{len(sample)} first lines match)"


def _config_format_name(cfg: NginxConfig, paths: list[str]) -> tuple[str, str] | None:
    logs = [a for a in cfg.access_logs if not a.is_off]
    if not logs:
        return None
    want = {os.path.basename(rotated_base(p)) for p in paths}
    wantfull = {os.path.realpath(p) for p in paths}
    for a in logs:
        if os.path.realpath(a.path) in wantfull or os.path.basename(a.path) in want:
            return a.format or "combined", f"access_log {a.path} at {a.file}:{a.line}"
    a = logs[0]
    return a.format or "combined", f"first access_log {a.path} at {a.file}:{a.line}"


# ---------------------------------------------------------------------------------------------
# config facts


def _peer(host: str | None, port: int | None, unix_path: str | None) -> str | None:
    """An address the way ``$upstream_addr`` writes it: ``10.0.0.1:80``, ``[::1]:8080``,
    ``unix:/run/x.sock`` (nginx prints the resolved address, so host names cannot be matched)."""
    if unix_path:
        return f"unix:{unix_path}"
    if host is None:
        return None
    h = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{h}:{port or 80}"


def timeouts_from_config(cfg: NginxConfig) -> dict[str, tuple[float, str]]:
    """Upstream address -> (read timeout in seconds, where it is set).

    For an upstream group every member gets the location's timeout.  When several locations
    pass to the same address, the shortest timeout is kept (the first to produce 504s).
    """
    return {a: (secs, where) for a, (secs, where, _locs) in upstream_facts(cfg).items()}


def upstream_facts(cfg: NginxConfig) -> dict[str, tuple[float, str, list[str]]]:
    """Upstream address -> (shortest read timeout s, where it is set, locations passing to it)."""
    out: dict[str, tuple[float, str, list[str]]] = {}
    try:
        targets = cfg.targets()
    except Exception:
        return out
    for t in targets:
        directive = _TIMEOUT_DIRECTIVE.get(t.kind)
        if directive is None or t.context != "http":
            continue
        loc = cfg.location_of(t)
        if loc is None:
            continue
        setting = loc.effective(directive)
        secs = setting.seconds
        if secs is None:
            continue
        where = f"{directive} {setting.value} ({setting.where or 'nginx default'})"
        label = f"{t.server or '_'} {loc.label}"
        addrs: list[str | None] = []
        if t.group and t.group in cfg.upstreams:
            addrs = [_peer(s.host, s.port, s.unix_path) for s in cfg.upstreams[t.group].servers]
            addrs.append(t.group)  # "no live upstreams" shows the group name
        else:
            addrs = [_peer(t.host, t.port, t.unix_path) or t.address]
        for a in addrs:
            if a is None:
                continue
            prev = out.get(a)
            locs = [*(prev[2] if prev else []), *([label] if not prev or label not in prev[2] else [])]
            if prev is None or secs < prev[0]:
                out[a] = (secs, where, locs)
            else:
                out[a] = (prev[0], prev[1], locs)
    return out


def location_timeouts(cfg: NginxConfig | None) -> dict[str, tuple[float, str]]:
    """``"server location"`` -> (effective read timeout s, where) for each location that passes
    requests upstream (``proxy_read_timeout``, ``fastcgi_read_timeout``, ...)."""
    out: dict[str, tuple[float, str]] = {}
    if cfg is None:
        return out
    try:
        targets = cfg.targets()
    except Exception:
        return out
    for t in targets:
        directive = _TIMEOUT_DIRECTIVE.get(t.kind)
        loc = cfg.location_of(t) if directive and t.context == "http" else None
        if loc is None or directive is None:
            continue
        setting = loc.effective(directive)
        if setting.seconds is not None:
            out[f"{t.server or '_'} {loc.label}"] = (
                setting.seconds,
                f"{directive} {setting.value} ({setting.where or 'nginx default'})",
            )
    return out


def locations_from_config(cfg: NginxConfig) -> LocationModel:
    """The config's servers and locations, for the by-location breakdown (nginx's own
    matching order, ``evidence.location_match``)."""
    return LocationModel.from_config(cfg)


def error_logs_from_config(cfg: NginxConfig) -> list[str]:
    paths = []
    for e in cfg.error_logs:
        p = e.path
        if e.is_off or p.startswith(("syslog:", "stderr", "memory:")) or p == "/dev/null":
            continue
        if p not in paths and os.path.isfile(p):
            paths.append(p)
    return paths


# ---------------------------------------------------------------------------------------------
# error log


def read_error_lines(paths: list[str]) -> pl.DataFrame:
    """Classified error-log lines that name a client and a request (the ones a 5xx can match).

    Uses the classify engine (``parsers.errorlog_batch.classify_series`` when present, else the
    per-line ``parsers.errorlog.classify_line``) so each line carries its symptom ID.
    """
    import polars as pl

    frames: list[pl.DataFrame] = []
    batch_fn: Any = None
    try:
        from why502.parsers.errorlog_batch import classify_series  # type: ignore[import-not-found]

        batch_fn = classify_series
    except ImportError:
        batch_fn = None
    from why502.parsers.errorlog import classify_line

    def classify(data: bytes) -> pl.DataFrame | None:
        lines = pl.Series("line", data.decode("utf-8", "replace").split("\n"), dtype=pl.String)
        keep = lines.str.contains(", client: ", literal=True) & lines.str.contains(
            ", request: ", literal=True
        )
        lines = lines.filter(keep)
        if lines.len() == 0:
            return None
        if batch_fn is not None:
            df: pl.DataFrame = batch_fn(lines)
            if "source" in df.columns:
                df = df.filter(pl.col("source") == "nginx")
            if not df.height:
                return None
            return df.select("time", "client", "request", "host", "upstream", "symptom", "message")
        rows = []
        for text in lines.to_list():
            c = classify_line(text.rstrip("\r"))
            if c is None or c.source != "nginx":
                continue
            rows.append((c.time, c.client, c.request, c.host, c.upstream, c.symptom, c.message))
        if not rows:
            return None
        return pl.DataFrame(
            rows,
            schema=["time", "client", "request", "host", "upstream", "symptom", "message"],
            orient="row",
        )

    # chunks classified by two threads (polars releases the GIL), kept in input order; 4 MiB
    # each: the classify engine needs ~20x its input in memory (8 MiB chunks: +50 MB RSS)
    with ThreadPoolExecutor(max_workers=2) as pool:
        pending: deque[Future[pl.DataFrame | None]] = deque()
        for chunk in iter_byte_chunks(order_rotated(paths), 4 << 20, count_lines=False):
            pending.append(pool.submit(classify, chunk.data))
            while len(pending) > 2:
                frame = pending.popleft().result()
                if frame is not None:
                    frames.append(frame)
        for fut in pending:
            frame = fut.result()
            if frame is not None:
                frames.append(frame)
    schema = {c: pl.String for c in ("time", "client", "request", "host", "upstream", "symptom", "message")}
    if not frames:
        return pl.DataFrame(schema=schema).with_columns(pl.col("time").cast(pl.Datetime("us")))
    df = pl.concat([f.select([pl.col(c).cast(pl.String) for c in schema]) for f in frames])
    return df.with_columns(
        pl.col("time").str.slice(0, 19).str.strptime(pl.Datetime("us"), "%Y-%m-%dT%H:%M:%S", strict=False)
    )


# ---------------------------------------------------------------------------------------------
# the run


def run_stats(opts: StatsOptions) -> tuple[AccessStats, str]:
    """Compute the statistics; returns them and where the log format came from."""
    stores: list[DiskFrames] = []
    try:
        return _run_stats(opts, stores)
    finally:
        for store in stores:
            store.close()


def _run_stats(opts: StatsOptions, stores: list[DiskFrames]) -> tuple[AccessStats, str]:
    cfg = opts.config
    if cfg is None and opts.nginx_conf is not None:
        from why502.sources.nginx import load_config

        cfg = load_config(opts.nginx_conf)
    paths = list(opts.paths)
    if not paths and cfg is not None:
        named = list(dict.fromkeys(a.path for a in cfg.access_logs if not a.is_off))
        paths = [p for p in named if os.path.isfile(p) and os.access(p, os.R_OK)]
        if not paths:
            raise InputError(
                "no access log given and none of the config's access_log files is readable: "
                + (", ".join(named) or "none configured")
            )
    if not paths and opts.stdin_default and not sys.stdin.isatty():
        paths = ["-"]
    if not paths:
        raise UsageError("give an access log file (or - for stdin), or --nginx-conf to find it")
    for p in paths:
        if p != "-" and not os.path.exists(p):
            raise InputError(f"{p}: no such file")
    paths = order_rotated(_distinct(paths))
    # One accumulator per rotated set (each may have its own log_format), folded together.
    groups: dict[str, list[str]] = {}
    for p in paths:
        groups.setdefault(rotated_base(p), []).append(p)
    accs: list[StatsAccumulator] = []
    sources: list[str] = []
    total = sum(file_size(p) for p in paths)
    done = 0
    skipped_notes: list[str] = []
    locations = locations_from_config(cfg) if cfg is not None else None
    tz = opts.tz or local_zone_name()
    for group in groups.values():
        fmt, fmt_source = choose_format(opts, cfg, group)
        # kept 5xx rows wait on disk (sources.spill), so reading stays flat in memory
        stores.append(DiskFrames())
        acc = StatsAccumulator(
            fmt, since=opts.since, until=opts.until, locations=locations, tz=tz, store=stores[-1]
        )
        skipped = [p for p in group if _outside_window(p, fmt, opts.since, opts.until)]
        if skipped and len(skipped) < len(group):
            group = [p for p in group if p not in skipped]
            skipped_notes.append(
                "not read (wholly outside --since/--until by their first and last lines): "
                + ", ".join(skipped)
            )
        base_done = done

        def progress(n: int, _total: int, base: int = base_done) -> None:
            if opts.progress is not None:
                opts.progress(base + n, total)

        # Files in time order; plain files go through polars' streaming scan, ``.gz`` and stdin
        # through the chunk reader (``engine`` picks one path for all files, for tests).
        offset = 0
        for path in group:

            def file_progress(n: int, base: int = offset) -> None:
                progress(base + n, total)

            if opts.engine == "scan" or (opts.engine == "auto" and scannable(path)):
                _scan_file(acc, path, file_progress)
            else:
                chunks = iter_byte_chunks([path], opts.chunk_bytes, None, count_lines=False)
                _feed(acc, _tracked(chunks, file_progress), opts.workers)
            offset += file_size(path)
            progress(offset, total)
        acc.files = [p for p in group if p in acc.files or p != "-"]  # empty files are inputs too
        done += sum(file_size(p) for p in group)
        if acc.lines and acc.requests + acc.filtered == 0:
            sample = strip_terminal_escapes(acc.samples[0]["text"]) if acc.samples else ""
            hint = "give --log-format or --nginx-conf"
            if sample and re.match(fmt.pattern.removesuffix(r"\r?$"), sample):
                hint = "the lines start like this format but go on after it: give the full log_format"
            raise InputError(
                f"none of the {acc.lines} lines of {group[-1]} matches the log format ({fmt_source}): "
                f"{fmt.format!r}; first line: {sample[:200]!r} -- {hint}"
            )
        accs.append(acc)
        if fmt_source not in sources:
            sources.append(fmt_source)
    acc = accs[0]
    for other in accs[1:]:
        acc.absorb(other)
    fmt_source = "; ".join(sources)
    errors = None
    error_paths: list[str] = []
    if opts.errors is not None:  # diagnose classified these lines already: no second read
        errors = opts.errors
        error_paths = list(opts.error_logs or [])
    elif not opts.no_error_log:
        if opts.error_logs:
            error_paths = _distinct(list(opts.error_logs))
        elif cfg is not None:
            error_paths = error_logs_from_config(cfg)
        for p in error_paths:
            if not os.path.exists(p):
                raise InputError(f"{p}: no such file")
        if error_paths:
            try:
                errors = read_error_lines(error_paths)
            except InputError as err:
                if opts.error_logs:  # asked for explicitly: a real error
                    raise
                skipped_notes.append(f"error log from the config not read: {err}")
                error_paths = []
    facts = upstream_facts(cfg) if cfg is not None else {}
    timeouts = {a: (secs, where) for a, (secs, where, _l) in facts.items()} if cfg is not None else None
    st = acc.finish(
        errors=errors, timeouts=timeouts, locations=locations, location_timeouts=location_timeouts(cfg)
    )
    for u in st.upstreams:
        if u.address in facts:
            u.locations = facts[u.address][2]
    st.notes.insert(0, f"log format: {fmt_source}")
    st.notes.extend(skipped_notes)
    if locations:
        st.notes.extend(f"location matching: {n}" for n in locations.notes())
    if error_paths:
        st.notes.insert(1, "error log: " + ", ".join(error_paths))
    if acc.unparsed and acc.lines:
        share = 100.0 * acc.unparsed / acc.lines
        st.notes.append(f"{acc.unparsed} of {acc.lines} lines ({share:.2f}%) do not match the log format")
    return st, fmt_source


def _line_time(line: str, fmt: CompiledFormat) -> datetime | None:
    m = re.match(fmt.pattern, line)
    tf = fmt.time_field
    if not m or not tf:
        return None
    raw = m.group(tf)
    try:
        if tf == "time_local":
            return datetime.strptime(raw[:20], "%d/%b/%Y:%H:%M:%S")
        if tf == "time_iso8601":
            return datetime.strptime(raw[:19], "%Y-%m-%dT%H:%M:%S")
        return datetime.utcfromtimestamp(float(raw))
    except (ValueError, OverflowError):
        return None


def _outside_window(path: str, fmt: CompiledFormat, since: datetime | None, until: datetime | None) -> bool:
    """True when a plain (seekable, not gzip) file lies wholly before ``since`` or after
    ``until``, judged by its first and last lines -- so ``--since 2h`` does not read a rotated
    set's older files at all.  Unknown -> False (read it)."""
    if since is None and until is None:
        return False
    ends = head_tail_lines(path)
    if ends is None:
        return False
    first_lines, last_lines = ends
    firsts = [t for ln in first_lines if (t := _line_time(ln, fmt))]
    lasts = [t for ln in last_lines if (t := _line_time(ln, fmt))]
    if not firsts or not lasts:
        return False
    if since is not None and max(lasts) < since:
        return True
    return until is not None and min(firsts) > until


def _distinct(paths: list[str]) -> list[str]:
    """``paths`` without a second name for a file already named (a symlink, a hard link,
    ``./x`` and ``x``): read twice, every line would count twice."""
    seen: set[object] = set()
    out = []
    for p in paths:
        key = file_identity(p)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def _tracked(chunks: Iterator[ByteChunk], progress: ProgressBytes) -> Iterator[ByteChunk]:
    """``chunks``, reporting the bytes handed out so far to ``progress``."""
    done = 0
    for chunk in chunks:
        done += len(chunk.data)
        progress(done)
        yield chunk


def _bytes_per_line(path: str) -> float:
    """Average line length of ``path``'s first lines (progress of a scan is counted in lines)."""
    sample = head_lines(path)
    return sum(len(ln.encode("utf-8", "replace")) + 1 for ln in sample) / len(sample) if sample else 200.0


def _scan_file(acc: StatsAccumulator, path: str, progress: ProgressBytes) -> None:
    """Read one plain file with polars' streaming engine (``sources.scan``) into ``acc``.

    The file is read into its own accumulator, folded into ``acc`` at the end: a file with bytes
    that are not UTF-8 makes the strict reader fail part-way, and is then read again lossily
    (U+FFFD) without counting its first part twice.  Lines the fast split rejected are fetched
    by number after the scan and matched with the whole-line regex."""
    import polars as pl

    for lossy in (False, True):
        sub = acc.fresh()
        try:
            _scan_into(sub, path, lossy, progress)
            _rematch(sub, path)
        except pl.exceptions.ComputeError as err:
            sub.fivexx.close()
            if not lossy and is_invalid_utf8(err):
                continue
            raise InputError(f"{path}: cannot read: {str(err).splitlines()[0]}") from None
        except BaseException:
            sub.fivexx.close()  # its spilled 5xx rows are not run_stats' to remove
            raise
        acc.absorb(sub)
        return


def _rematch(acc: StatsAccumulator, path: str) -> None:
    """The rows to re-match, and the first few counted-unparsed rows (their text is only wanted
    for the samples): one pass over the file, stopped after the last row wanted."""
    import polars as pl

    bad = acc.bad_rows.pop(path, [])
    short = acc.short_rows.pop(path, [])
    if not bad and not short:
        return
    counted = pl.concat(short).head(UNPARSED_SAMPLES) if short else None
    wanted = pl.concat(bad + ([counted] if counted is not None else [])).unique().sort()
    lines = numbered_lines(path, wanted)
    with small_reader_chunks():
        for batch in acc.reducer.rematch_plan(lines).collect_batches(chunk_size=BATCH_ROWS):
            acc.merge(acc.reducer.partial_rematched(batch, path, counted))


def _scan_into(acc: StatsAccumulator, path: str, lossy: bool, progress: ProgressBytes) -> None:
    """One streaming pass over ``path``.  The engine hands out small batches; they are
    aggregated ``GROUP_ROWS`` at a time, because each aggregation call has a fixed cost of
    ~10 ms (measured: 50k-row groups took 20% more CPU than 200k-row ones; ``sources.scan``)."""
    import polars as pl

    size = file_size(path)
    per_line = _bytes_per_line(path)
    split = scan_split(path, acc.reducer.parser.split_columns, lossy=lossy)
    plan = acc.reducer.scan_plan(split).with_row_index("_row")
    pending: list[pl.DataFrame] = []
    rows = 0
    for batch in plan.collect_batches(chunk_size=BATCH_ROWS):
        pending.append(batch)
        rows += batch.height
        if rows >= GROUP_ROWS:
            acc.merge(acc.reducer.partial_batch(pl.concat(pending, rechunk=False), path))
            pending, rows = [], 0
            progress(min(size, int(acc.lines * per_line)))
    if pending:
        acc.merge(acc.reducer.partial_batch(pl.concat(pending, rechunk=False), path))


def _feed(acc: StatsAccumulator, chunks: Iterator[ByteChunk], workers: int) -> None:
    """Parse chunks in ``workers`` threads, merge in input order (at most workers+1 in flight)."""
    if workers <= 1:
        for chunk in chunks:
            acc.add(chunk)
        return
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: list[Future[Partial]] = []
        for chunk in chunks:
            pending.append(pool.submit(acc.reducer.partial, chunk))
            while len(pending) > workers:
                acc.merge(pending.pop(0).result())
        for fut in pending:
            acc.merge(fut.result())


def compute_for_diagnose(
    access_logs: list[str],
    *,
    config: NginxConfig | None = None,
    log_format: str | None = None,
    error_logs: list[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    errors: pl.DataFrame | None = None,
) -> AccessStats:
    """The ``AccessStats`` diagnose needs: per-upstream timings next to the configured timeouts,
    who made each 5xx (``made_by``, ``UpstreamStats.made_by``), the per-minute timeline and the
    incidents.  ``errors``: the rows of ``error_logs`` as ``read_error_lines`` returns them, when
    the caller classified those files already (they are then not read again).  Raises
    ``InputError`` like ``why502 stats`` does."""
    if not access_logs and config is None:
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
    )
    st, _ = run_stats(opts)
    return st


def existing(paths: list[str]) -> list[str]:
    """Keep the paths that exist (helper for callers that collect candidates)."""
    return [p for p in paths if p == "-" or Path(p).exists()]
