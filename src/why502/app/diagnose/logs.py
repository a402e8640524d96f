"""The logs: nginx's error logs, PHP-FPM's, other programs' (``--app-log``) and the kernel's.

Every line goes through the classify engines once (``app.classify.classify_files``, the loop of
``why502 classify``); the classified rows feed the evidence (``evidence.aggregate.LogAggregator``)
and, for nginx's error log, the access-log join (``error_join_rows``), so no file is read or
classified twice.  The kernel log is read by ``sources.system`` (``journalctl -k``, ``dmesg``,
``kern.log`` or ``--kernel-log``) and recognised by the same catalog patterns.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import datetime

import polars as pl

from why502.app.classify import SideRead, classify_files, filter_since
from why502.app.stats.errorlog import JoinRows
from why502.app.stats.sniff import has_lines_of
from why502.errors import InputError
from why502.evidence.aggregate import LogAggregator, parse_time
from why502.evidence.events import log_event
from why502.evidence.model import LogEvent
from why502.findings.model import Diagnostic
from why502.proxies import DEFAULT
from why502.sources import system
from why502.sources.logfiles import expand_inputs, file_identity
from why502.sources.opening import discovered_skip, take_notes

# 4 MiB batches, two classifying threads while the next batch is read (app.classify._run):
# at most three batches in flight, each needing ~15x its size while it is classified
BATCH_BYTES = 4 << 20
CLASSIFY_WORKERS = 2
# 3 MiB with a side reader (HAProxy's access-log feed, read in the same workers: app.classify.
# SideRead): the workers, no longer waiting on the reading thread, classify two batches at once
# more of the time; at 4 MiB HAProxy's 4M-line log peaked at 298-315 MB, at 3 MiB 283 MB, as fast
# on 1M lines (2.28 against 2.24 s; BENCHMARKS.md stop 62)
SIDE_BATCH_BYTES = 3 << 20
# the records of several batches counted together (``LogAggregator.add_all``), from this many:
# each count is ~13 polars queries whatever its rows, and a failure-dense HAProxy log's 3 MiB
# batches hold ~3,000 records each (1M lines: 0.89-0.93x diagnose's CPU at 12k-30k, BENCHMARKS.md
# stop 66); the records held meanwhile are a few MB
COUNTED_ROWS = 12_000

# What ``app.stats.read_error_lines`` returns, in its order: the access-log join's input.
JOIN_COLUMNS = ("time", "client", "request", "host", "upstream", "symptom", "message")

FileKey = tuple[int, int] | str  # sources.logfiles.file_identity()


def classify_into(agg: LogAggregator, paths: list[str], since: datetime | None,
                  diags: list[Diagnostic], explicit: bool, seen: set[FileKey] | None = None,
                  join: JoinRows | None = None, family: str | None = None,
                  side: SideRead | None = None) -> list[str]:
    """Classify every line of ``paths`` (rotated sets, .gz) into ``agg``; return files read.

    The loop is ``app.classify.classify_files`` (the ``why502 classify`` one); this adds the
    per-file rules of diagnose (named files strict, discovered ones notes, ``--since`` skips old
    files).  ``seen``: identities of the files read so far (``sources.logfiles.file_identity``),
    shared by the calls of one run so no file is read twice -- ``--error-log error.log
    --error-log error.log.1`` names ``error.log.1`` again after finding it as a sibling.
    ``join``: when given, the rows of each file that the access-log join needs
    (``error_join_rows``) are collected there per file, before ``--since`` (as ``app.stats``
    reads them), so ``compute_for_diagnose`` need not read and classify the error log again.
    ``family``: the proxy's own log family of ``parsers.lblogs`` (its JSON error lines): a file
    with lines of it is read by that family's reader (``app.stats.lb.classify_lb``, the rows of
    ``why502 classify``).  ``side``: another reader of each batch read, next to its
    classification (HAProxy's one log is its access log too: ``Hooks.access_feed``), so the
    file is not read again.
    """
    if not paths:
        return []
    if seen is None:
        seen = set()
    done: list[str] = []
    for path in paths:
        if path != "-" and not os.path.exists(path):
            if explicit:
                raise InputError(f"cannot read {path}: No such file or directory")
            diags.append(Diagnostic("warning", f"log not found: {path}", path))
            continue
        try:
            files = [str(p) for p in expand_inputs([path], rotated=True)]
        except InputError as err:
            if explicit:
                raise
            diags.append(Diagnostic("warning", str(err), path))
            continue
        except OSError as err:
            if explicit:
                raise InputError(f"cannot read {path}: {err.strerror or err}") from None
            diags.append(Diagnostic("warning", f"cannot read {path}: {err.strerror or err}", path))
            continue
        diags.extend(Diagnostic("info", n) for n in take_notes())  # siblings not read
        for f in files:
            key = file_identity(f)
            if key in seen:  # named twice, or named and found as a rotated sibling: read once
                continue
            # the named file itself is strict; its rotated siblings were found by why502: notes
            strict = explicit and (f == path or os.path.realpath(f) == os.path.realpath(path))
            if not strict and (why := discovered_skip(f)):
                diags.append(Diagnostic("info", why, f))
                continue
            if since is not None and f != "-" and older_than(f, since):
                diags.append(Diagnostic("info", f"skipped {f}: last written before --since", f))
                continue
            seen.add(key)
            if family is not None and f != "-" and has_lines_of([f], family):
                try:
                    agg.add(_family_rows(f, family, since))
                    done.append(f)
                except OSError as err:
                    if strict:
                        raise InputError(f"cannot read {f}: {err.strerror or err}") from None
                    diags.append(Diagnostic("warning", f"cannot read {f}: {err.strerror or err}", f))
                continue
            pending: list[pl.DataFrame] = []
            try:
                for df in classify_files([f], batch_bytes=BATCH_BYTES if side is None else SIDE_BATCH_BYTES,
                                         with_text=True,
                                         workers=CLASSIFY_WORKERS, side=side):
                    if join is not None:
                        join.add(error_join_rows(df))
                    pending.append(df if since is None else filter_since(df, since))
                    if sum(p.height for p in pending) >= COUNTED_ROWS:
                        agg.add_all(pending)
                        pending.clear()
                done.append(f)
            except OSError as err:
                if strict:
                    raise InputError(f"cannot read {f}: {err.strerror or err}") from None
                diags.append(Diagnostic("warning", f"cannot read {f}: {err.strerror or err}", f))
            except InputError as err:
                if strict:
                    raise
                diags.append(Diagnostic("warning", str(err), f))
            finally:  # what was read before an error is counted, as each batch was when it came
                agg.add_all(pending)
            # a named FIFO or device stopped by its bounds (sources.opening)
            diags.extend(Diagnostic("warning", n, f) for n in take_notes())
    return done


def older_than(path: str, since: datetime) -> bool:
    """A file last modified before ``since`` holds no line after it (rotated sets: skip it)."""
    try:
        return datetime.fromtimestamp(os.stat(path).st_mtime) < since
    except OSError:
        return False


def error_join_rows(df: pl.DataFrame) -> pl.DataFrame:
    """The rows of one classified batch (``classify_files(with_text=True)``) that a 5xx access
    line can be joined to, as ``app.stats.read_error_lines`` picks them: nginx's own lines whose
    text names a client and a request (``ngx_http_log_error_handler`` appends ``, client: ``,
    ``, request: "..."``), columns ``JOIN_COLUMNS`` as strings."""
    text = pl.col("text")
    # the default proxy's own lines (nginx's) first: another proxy's batch (HAProxy's records)
    # has none, and the two searches over every record's text were ~0.3 s of the reading thread
    # of diagnose on 1M HAProxy lines (BENCHMARKS.md stop 62)
    if not (df.get_column("source") == DEFAULT).any():  # (a Series' compare: no query)
        return pl.DataFrame(schema=dict.fromkeys(JOIN_COLUMNS, pl.String))
    own = df.filter(pl.col("source") == DEFAULT)
    return own.filter(
        text.str.contains(", client: ", literal=True) & text.str.contains(", request: ", literal=True)
    ).select(pl.col(c).cast(pl.String) for c in JOIN_COLUMNS)


def kernel_log_events(path: str | None, since: datetime | None,
                      diags: list[Diagnostic]) -> list[LogEvent]:
    """OOM kills and segfaults (``sources.system.read_kernel_events``) as LogEvents."""
    res = system.read_kernel_events(path, since)
    diags += res.diagnostics
    # the oom-kill:constraint summary names the victim's memory cgroup (task_memcg=...); the
    # kill line after it does not
    memcg = {k.pid: k.memcg for k in res.events if k.kind == "oom-constraint" and k.memcg}
    out = []
    for k in res.events:
        if k.kind not in ("oom-kill", "segfault"):
            continue  # the constraint/invoked/chosen lines repeat the same kill
        event = log_event(k.event_id, k.raw, source="kernel", pattern=k.pattern,
                          captures=k.captures, time=parse_time(k.time), file=path or res.source,
                          line=k.line or None)
        out.append(replace(event, unit=unit_of_memcg(k.memcg or memcg.get(k.pid))))
    return out


def unit_of_memcg(memcg: str | None) -> str | None:
    """``/system.slice/php8.2-fpm.service`` -> ``php8.2-fpm.service`` (systemd puts each service
    in a cgroup named after it)."""
    if memcg and memcg.endswith(".service"):
        return memcg.rsplit("/", 1)[-1]
    return None


_FAMILY_COLUMNS = ("line", "file", "source", "symptom", "status", "time", "upstream", "request",
                   "host", "message")


def _family_rows(path: str, family: str, since: datetime | None) -> pl.DataFrame:
    """The failures a proxy logged in its own family's lines, as the aggregator's frame (the
    message stands for the line's text: a JSON line is long and its message is what it says)."""
    from why502.app.stats.lb import own_log  # another family's log only: not on an nginx run (issue 28)

    rows = [{k: row.get(k) for k in _FAMILY_COLUMNS} for row in own_log(path, family).rows(since)]
    schema = {k: (pl.Int64 if k in ("line", "status") else pl.Utf8) for k in _FAMILY_COLUMNS}
    df = pl.DataFrame(rows, schema=schema)
    return df.with_columns(pl.col("message").alias("text"))
