"""The access logs: what the clients got, per upstream (``app.stats.compute_for_diagnose``).

An error-log line is one failed attempt; the access log says how requests ended (final status,
a retry that rescued one), how long the backend took next to the configured timeout, and who
made each 5xx (``$upstream_status`` vs ``$status``).  The error logs were classified already
(``logs.classify_into``): their join rows go along instead of a second read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from why502 import proxies
from why502.app.diagnose.options import unreadable
from why502.app.stats import compute_for_diagnose
from why502.app.stats.errorlog import JoinRows
from why502.app.stats.read import FramedLog
from why502.app.stats.run import AccessRead, FedLog
from why502.errors import InputError, UnmatchedLogError
from why502.evidence.model import UpstreamTiming
from why502.evidence.stats import AccessStats, UpstreamStats
from why502.findings.model import Diagnostic
from why502.proxies.base import resolve
from why502.sources.opening import discovered_skip


@dataclass
class Started:
    """The engine's own access logs being read on their own thread (``start_access``) while the
    error logs are classified: the read, the files it reads and what checking them said."""

    read: AccessRead
    readable: list[str]
    diags: list[Diagnostic]


def start_access(paths: list[str], cfg: Any, since: datetime | None, explicit: bool,
                 proxy: str | None = None) -> Started | None:
    """Start reading the access logs ``access_stats`` would read in the engine's own format
    (``app.stats.AccessRead``), before the error logs are classified; None when there is
    nothing to start so (another proxy's format, ``Hooks.access_log``; no readable file; a
    named file that cannot be read, said by ``access_stats`` in its place)."""
    if proxy is not None and proxies.of(proxy).hooks.access_log is not None:
        return None
    diags: list[Diagnostic] = []
    try:
        readable = _readable(paths, explicit, diags)
    except InputError:
        return None
    if not readable:
        return None
    try:
        read = AccessRead(readable, cfg, since)
    except RuntimeError:  # no thread to be had (a pids limit): read after the error logs
        return None
    return Started(read, readable, diags)


#: the start of the note of an access log ``diagnose`` could not use
NOT_USED = "access log not used: "


def not_used(err: InputError) -> Diagnostic:
    """The note of an access log the run could not use; a log none of whose lines is in its
    format (``UnmatchedLogError``) is its ``source`` (``cli.cmd_diagnose`` exits 3 for a named
    one when nothing else gave a finding)."""
    return Diagnostic("warning", f"{NOT_USED}{err}",
                      source=err.path if isinstance(err, UnmatchedLogError) else None)


def access_stats(paths: list[str], cfg: Any, error_logs: list[str],
                 since: datetime | None, diags: list[Diagnostic], inputs: dict[str, Any],
                 explicit: bool, join: JoinRows | None = None, proxy: str | None = None,
                 config: str | None = None, fed: Callable[[], FedLog] | None = None,
                 started: Started | None = None,
                 ) -> tuple[dict[str, UpstreamTiming], AccessStats | None]:
    """Per-upstream truth from the access logs, and the stats themselves (timeline, join).

    ``cfg``: the parsed config the engine reads next to logs in its own format (the log_format
    and timeouts it names: ``ProxyView.engine_config``), None when there is none.
    When no error log was read, ``error_logs=None`` leaves stats its own fallback (the config's
    ``error_log``).  ``proxy``: whose logs these are; a proxy with its own access-log format
    (``Hooks.access_log``: HAProxy's httplog, Apache's ``LogFormat``) has its lines read by its
    plug-in straight into the engine's columns (``config``: its config file, which names the
    servers and the ``LogFormat``), so who made each 5xx reaches the analyzers the same way from
    every proxy; each 5xx row names the user's file and its line there.  ``fed``: those columns
    already aggregated from the error logs' one read (``Hooks.access_feed``), used instead of
    the hook's own read.  ``started``: ``start_access`` of these logs, finished here."""
    hook = proxies.of(proxy).hooks.access_log if proxy is not None else None
    if hook is None:
        return _access_stats(paths, cfg, error_logs, since, diags, inputs, explicit, join,
                             started=started)
    try:
        log: FramedLog | FedLog = (fed() if fed is not None else
                                   resolve(hook)(list(paths), list(error_logs or ()), config))  # type: ignore[operator]
    except InputError as err:
        diags.append(not_used(err))
        return {}, None
    if not log.paths or (isinstance(log, FramedLog) and log.frames is None):
        inputs["access_logs"] = []
        return {}, None
    timing, st = _access_stats(list(log.paths), None, error_logs, since, diags, inputs, True, join,
                               log=log)
    if st is not None:
        inputs["access_logs"] = list(paths) or [p for p in error_logs or () if p]
    return timing, st


def _access_stats(paths: list[str], cfg: Any, error_logs: list[str],
                  since: datetime | None, diags: list[Diagnostic], inputs: dict[str, Any],
                  explicit: bool, join: JoinRows | None, log: FramedLog | FedLog | None = None,
                  started: Started | None = None,
                  ) -> tuple[dict[str, UpstreamTiming], AccessStats | None]:
    """``log``: another proxy's access log (``access_stats``), its files read by its plug-in
    (their errors said as the engine's, ``access log not used``), or read already."""
    inputs["access_logs"] = []
    if started is not None:
        diags.extend(started.diags)
        readable = started.readable
    else:
        readable = list(paths) if log is not None else _readable(paths, explicit, diags)
    if not readable:
        return {}, None
    try:
        errors = join.result() if join is not None and error_logs else None
        if started is not None:
            st = started.read.finish(error_logs or None, errors)
        elif isinstance(log, FedLog):
            st = compute_for_diagnose([], error_logs=error_logs or None, since=since, errors=errors, fed=log)
        else:
            st = compute_for_diagnose(readable, config=cfg, error_logs=error_logs or None, since=since,
                                      errors=errors, log_format=log.log_format if log else None,
                                      frames=log.frames if log else None,
                                      format_source=log.source if log else None)
    except InputError as err:
        # the files exist (checked above): lines that do not parse are a tool-side problem,
        # a diagnostic, not a reason to withhold the diagnosis
        diags.append(not_used(err))
        return {}, None
    except OSError as err:
        diags.append(Diagnostic("warning", f"access log not read: {err.strerror or err}"))
        return {}, None
    inputs["access_logs"] = list(readable)
    inputs["access_requests"] = st.requests
    for note in st.notes:
        if any(word in note for word in ("cannot tell", "no $upstream_header_time", "stopped reading after",
                                         "looks like UTF-16")):
            diags.append(Diagnostic("info", note))
    return {u.address: timing_from_stats(u) for u in st.upstreams}, st


def _readable(paths: list[str], explicit: bool, diags: list[Diagnostic]) -> list[str]:
    """The access logs that can be read; a discovered one that cannot is a diagnostic."""
    readable = []
    for p in paths:
        if p == "-" and explicit:  # stdin (``--access-log -``): read as ``stats -`` reads it
            readable.append(p)
            continue
        skip = None if explicit else discovered_skip(p)
        if skip:
            diags.append(Diagnostic("info", f"access log {skip}", p))
            continue
        why = unreadable(p)
        if why is None:
            readable.append(p)
        elif explicit:  # checked up front (check_named_inputs); kept for direct callers
            raise InputError(f"cannot read {p} (--access-log): {why}")
        else:
            diags.append(Diagnostic("warning", f"access log not read: cannot read {p}: {why}", p))
    return readable


def timing_from_stats(u: UpstreamStats) -> UpstreamTiming:
    """``evidence.stats.UpstreamStats`` -> ``UpstreamTiming``."""
    statuses = {int(k): v for k, v in u.statuses.items() if str(k).isdigit()}
    backend = int(u.made_by.get("backend", 0))
    # the engine's word for a 5xx the proxy made is the default proxy's name (it reads every
    # access log in nginx's fields: evidence.stats)
    proxy_made = int(u.made_by.get(proxies.DEFAULT, 0))
    # per-attempt 5xx mix nginx's own (a failed attempt is written as 502/504 in
    # $upstream_status) with the backend's: take the failed attempts off 502, then 504, and
    # name the backend's 5xx by what is left (a backend 503 is not nginx's more frequent 502)
    left = {s: n for s, n in statuses.items() if s >= 500}
    failed = u.failed_attempts
    for s in (502, 504):
        take = min(failed, left.get(s, 0))
        if s in left:
            left[s] -= take
        failed -= take
    five = sorted(((n, s) for s, n in left.items() if n), reverse=True) or sorted(
        ((n, s) for s, n in statuses.items() if s >= 500), reverse=True)
    own = sorted(((n, s) for s, n in statuses.items() if s in (502, 504)), reverse=True) or five
    rt = u.header_time if u.header_time.count else u.response_time
    p50 = rt.quantile(0.5)
    p95 = rt.quantile(0.95)
    return UpstreamTiming(
        upstream=u.address, requests=u.attempts, statuses=statuses,
        backend_5xx={five[0][1]: backend} if five and backend else {},
        proxy_5xx={own[0][1]: proxy_made} if own and proxy_made else {},
        p50_ms=p50 * 1000 if p50 is not None else None,
        p95_ms=p95 * 1000 if p95 is not None else None,
        max_ms=rt.max * 1000 if rt.count else None,
        at_timeout=int(u.near_timeout), timeout_s=u.timeout, last_ok=u.last_ok)
