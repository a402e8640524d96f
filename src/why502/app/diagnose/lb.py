"""The one provider of ``EdgeFacts``: the logs of cloud load balancers and edge proxies (ALB,
Classic ELB, Cloudflare, Envoy/Istio, Caddy, Traefik), each file read once.

Such a log says in the edge's own words who failed each request and why: the log is the
evidence (``evidence.lb_evidence``), nothing of the machine is read for it, and the edge family
of the analyzers (``analyzers.cloud_lb``) weighs it with the others (``analyzers.rank``).
Reached when every ``--access-log`` is such a log (detected from the content, or
``--log-type``) and no nginx config or error log of nginx was named (``edge_families``).
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from why502.app.diagnose.options import DiagnoseOptions
from why502.app.stats.sniff import LOG_TYPES, check_log_type, has_lines_of, sniffed_log_types
from why502.errors import InputError
from why502.evidence.lb_evidence import Answered, ErrorJoin, LbEvidence, TargetRun, minute_of
from why502.evidence.model import EdgeFacts, GroupFact, TargetFact
from why502.facts.live_group import GroupLive
from why502.findings.model import Diagnostic
from why502.proxies.base import resolve
from why502.proxies.logfamilies import families as families_of
from why502.sources.proxyprocs import EdgeProcess

if TYPE_CHECKING:
    import polars as pl

    from why502.app.stats.lb import RecordBatch


def edge_families(options: DiagnoseOptions) -> tuple[str, ...]:
    """The load-balancer families when the access logs are ALB/Cloudflare/Envoy/... logs (one,
    or several mixed in one file) and nothing of nginx was named (else ``()``: no edge log)."""
    forced = check_log_type(options.log_type)  # None (sniff), a proxy's own, or an edge family
    if forced is not None:
        return (forced,) if forced in LOG_TYPES and options.access_logs else ()
    # --admin-api of an edge proxy whose logs say nothing yet (empty, or none named): its
    # admin API is the evidence (its /config_dump the config, /clusters the groups' state now),
    # read by the edge provider as with its log, never the packaged config of a host path
    admin_only = (options.admin_api is not None and not options.config and not options.error_logs
                  and options.proxy in LOG_TYPES)
    if not options.access_logs:
        if admin_only:
            return (str(options.proxy),)
        return _edge_error_logs(options)
    if options.default_proxy_config:
        return ()
    # (stdin too: its head is peeked and replayed to its one reader, sources.replay)
    families = sniffed_log_types(list(options.access_logs))
    if not families and admin_only:
        return (str(options.proxy),)
    if options.config and options.config != "-" and options.error_logs:
        from why502.proxies import detect_file

        # the proxy's own config and error lines (Caddy's): the proxy's diagnosis, its access
        # log read next to them by the edge provider (edge_logs) -- with --proxy named too, so
        # an app server's or PHP-FPM's evidence is read with them (issue 24)
        if (options.proxy or detect_file(options.config, fallback="")) in families:
            return ()
    if families and options.error_logs and not any(
            has_lines_of(list(options.error_logs), fam) for fam in families):
        return ()  # an nginx error log next to it: the nginx diagnosis
    return families


def _edge_error_logs(options: DiagnoseOptions) -> tuple[str, ...]:
    """The families of ``--error-log`` files named alone (no access log, no config, no
    ``--proxy``) when their lines are an edge's: read as that edge's log (cloudflared's origin
    errors, Caddy's or Traefik's error lines pasted alone), whose parser reads each line's time,
    origin and Go error.  The proxies' error-log readers know these lines' words but not their
    fields: a run of them alone was the last resort ``unexplained-5xx``.  With a config or
    ``--proxy`` the proxy's own path reads them (``edge_families``, ``edge_logs``)."""
    if (not options.error_logs or options.default_proxy_config or options.config or options.proxy
            or "-" in options.error_logs):
        return ()
    return sniffed_log_types(list(options.error_logs))


def edge_logs(options: DiagnoseOptions) -> tuple[list[str], tuple[str, ...]]:
    """Next to a proxy's own inputs (an nginx error log, a config): the ``--access-log`` files
    that are an edge's log, each sniffed on its own, and their families (``([], ())``: none).
    With ``--log-type`` naming an edge family every access log is that family's (an edge log
    with ``--app-log``: ``watch --log-type caddy --app-log ...`` hands its window on so; read as
    nginx access lines it showed nothing, "healthy" under the edge's 502s); stdin too, sniffed on
    the head its one reader replays (``sources.replay``; it was read as nginx's, stop 69)."""
    forced = check_log_type(options.log_type)
    if forced is not None:
        return ((list(options.access_logs), (forced,)) if forced in LOG_TYPES and options.access_logs
                else ([], ()))
    paths: list[str] = []
    families: dict[str, None] = {}
    for path in options.access_logs:
        found = sniffed_log_types([path])
        if found:
            paths.append(path)
            families.update(dict.fromkeys(found))
    return paths, tuple(families)


def read_edge(options: DiagnoseOptions, families: tuple[str, ...], since: dt.datetime | None,
              diags: list[Diagnostic], inputs: dict[str, Any],
              discovered: EdgeProcess | None = None, alone: bool = True,
              join_with: tuple[str, ...] = ()) -> EdgeFacts:
    """Read the edge logs of the run (``--access-log``, and ``--error-log`` for Caddy's and
    Traefik's error lines) into one ``LbEvidence`` per family.  With several families mixed in
    the files (``parsers.lblogs.detect_families``) each line is read as its own family and each
    family weighed on its own evidence, so every edge's failures are named.  What was read goes
    to ``inputs``, what was not to ``diags``; no request line at all is an ``InputError``.
    ``alone``: nothing else is read (else the proxy's own inputs are read next to it).
    ``join_with``: the error logs the proxy's own diagnosis reads; an access line of a failure
    one of their lines records (the same request, at the same time: ``ErrorJoin``) is counted
    as a request here and weighed there, once (issue 24)."""
    from why502.app.stats.lb import iter_records, no_request_line  # an edge's log only: not on an nginx run

    cutoff = None
    if since is not None:
        cutoff = (since if since.tzinfo else since.astimezone()).astimezone(dt.timezone.utc)
    mixed = len(families) > 1
    evs: dict[str, LbEvidence] = {fam: LbEvidence(family=fam) for fam in families}
    lines = unparsed = 0
    join = _error_join(list(join_with), families)
    # Caddy's and Traefik's error lines (the reason their access log does not give) may come as
    # --error-log or as one more --access-log
    logs = [*options.access_logs, *options.error_logs]
    if not mixed and families_of().frame(families[0]) is not None:
        lines, unparsed = _count_batches(logs, families[0], evs, join, cutoff)
    for path, n, text, rec in (iter_records(logs, None if mixed else families[0]) if not lines else ()):
        lines += 1
        if rec is None:
            unparsed += 1
            continue
        if cutoff is not None and rec.time and _before(rec.time, cutoff):
            continue
        ev = evs.get(rec.family) or evs.setdefault(rec.family, LbEvidence(family=rec.family))
        ev.add(rec, path, n, text, joined=join is not None and join.take(rec))
    read = {fam: ev for fam, ev in evs.items() if ev.requests or ev.error_lines}
    name = "+".join(read) or "+".join(families)
    if not read:
        if options.admin_api is None:
            raise no_request_line(name, options.access_logs)
        # its admin API is read next (edge_config): what it says of the groups now is the evidence
        read = evs
        diags.append(Diagnostic(severity="info", message=(
            f"no {name} request line in {', '.join(options.access_logs) or 'the logs (none named)'}: "
            f"the admin API {options.admin_api} is the evidence")))
    if unparsed:
        diags.append(Diagnostic(severity="info", message=(
            f"{unparsed:,} of {lines:,} lines were not {' or '.join(read)} request lines (not counted)")))
    for fam, ev in read.items():
        if ev.targets_capped:
            from why502.evidence.lb_evidence import TARGETS_KEPT

            diags.append(Diagnostic(severity="info", message=(
                f"more than {TARGETS_KEPT:,} distinct targets in the {fam} log: the first {TARGETS_KEPT:,} "
                "are followed one by one, the others are counted in the totals only")))
        if ev.joined:
            diags.append(Diagnostic(severity="info", message=(
                f"{ev.joined:,} failed requests of the {fam} access log are lines of its error log "
                "too (the same request at the same time): each is weighed once, from the error log")))
        if ev.unexplained and not ev.error_failures:
            diags.append(Diagnostic(severity="warning", message=(
                f"{ev.unexplained:,} 5xx were made by the {fam} proxy itself but its access log does "
                "not say why: pass its error log too (Caddy: the http.log.error lines; Traefik: the "
                "DEBUG log) with --error-log")))
    if len(read) > 1:
        diags.append(Diagnostic(severity="info", message=(
            "several load balancers' logs in one input, each read on its own: " + ", ".join(
                f"{fam} {ev.requests:,} requests ({ev.five:,} 5xx)" for fam, ev in read.items()))))
    diags.append(Diagnostic(severity="info", message=(
        f"read as a {' and '.join(read)} log: the load balancer's own fields are the evidence"
        + ("; nothing of this machine was read" if alone else ""))))
    made_by: dict[str, int] = {}
    for ev in read.values():
        for who, n in ev.made_by.items():
            made_by[who] = made_by.get(who, 0) + n
    inputs.update({
        "access_logs": list(options.access_logs), "log_type": name,
        "requests": sum(ev.requests for ev in read.values()),
        "5xx": sum(ev.five for ev in read.values()), "made_by": made_by,
        "error_logs": list(options.error_logs)})
    if discovered is not None:  # found running (diagnose with nothing named): its config is said
        inputs.update(config=discovered.config, proxy=discovered.kind, discovered=[
            {"proxy": discovered.kind, "pid": discovered.pid, "config": discovered.config}])
    if len(read) > 1:
        inputs["log_types"] = {fam: {"requests": ev.requests, "5xx": ev.five, "made_by": dict(ev.made_by)}
                               for fam, ev in read.items()}
    return EdgeFacts(families=tuple(read.values()))


#: ``_count_batches`` counts consecutive batches of a file as one (``RecordBatch.joined``) while
#: their rows to count stay within this many: each count costs a few polars queries (~6 ms a
#: batch on the counting thread, whatever its size), and a 16 MB batch of long lines holds few
#: rows (Cloudflare's ~3,700, ALB's ~7,800; Envoy's text ~24,000).  The batches themselves stay
#: the size the reading threads' memory allows (BENCHMARKS.md stop 68)
COUNTED_ROWS = 16_000


def _counted_together(batches: Iterator[RecordBatch], most: int) -> Iterator[RecordBatch]:
    """``batches``, consecutive ones of a file joined (``RecordBatch.joined``) while their rows
    to count (``RecordBatch.counted``) stay within ``most``.  A batch waits for the next (the
    reading threads read ahead meanwhile) only when one more like it would still fit: a batch
    of many rows is counted at once, not held (held by a first try that joined two batches
    whatever their rows, Envoy's and Traefik's text logs of 1M lines peaked 43-47 MB higher)."""
    from why502.app.stats.lb import RecordBatch  # an edge's log only

    held: list[RecordBatch] = []
    rows = 0
    for batch in batches:
        if held and (rows + batch.counted > most or batch.path != held[0].path):
            yield RecordBatch.joined(held)
            held, rows = [], 0
        held.append(batch)
        rows += batch.counted
        if rows + batch.counted > most:
            yield RecordBatch.joined(held)
            held, rows = [], 0
    if held:
        yield RecordBatch.joined(held)


def _count_batches(paths: list[str], family: str, evs: dict[str, LbEvidence],
                   join: ErrorJoin | None, cutoff: dt.datetime | None = None) -> tuple[int, int]:
    """Count ``paths`` of one ``family`` into ``evs`` a batch at a time: the answered requests
    together (``Answered``), every other line through ``LbEvidence.add`` in line order, the
    counts kept in the order of the lines (``LbEvidence.reserve``) -- the evidence line-by-line
    counting gives (``tests/diagnose/test_diagnose_edge_batches.py``).  ``cutoff``
    (``--since``): a line written before it is counted as a line and nothing else, as
    ``_before`` decides; an answered row whose time only ``_before`` can judge is a record.
    (non-empty lines, lines no parser read)."""
    from why502.app.stats.lb import iter_record_batches  # an edge's log only (issue 28)
    from why502.evidence.lb_rows import add_rows, tally

    certain, early = _cutoff_exprs(cutoff) if cutoff is not None else (None, None)
    lines = unparsed = 0
    # the answered rows are summed here (_answered) while the reading threads read and decide
    # the next batches (most families' native passes count most of them: LogFamily.answers); the other
    # rows are counted together too (evidence.lb_rows.tally: grouped on the reading threads,
    # Envoy's text log took 289-300 MB instead of 281-286 on 5M lines, and longer; at stop 64,
    # with two of lb_rows._groups' queries there too, no faster once the tree compared with
    # had its bytecode), but for a join with the proxy's error lines, where each access line
    # takes its error line in turn (ErrorJoin.take).  BENCHMARKS.md stops 57, 59 and 64
    batches = iter_record_batches(paths, family, certain, grouped=join is None, drop=early)
    for batch in _counted_together(batches, COUNTED_ROWS):
        lines += batch.lines
        ev = evs.get(family) or evs.setdefault(family, LbEvidence(family=family))
        failed = batch.rows
        others = [(idx, text, rec) for idx, text, rec in batch.others
                  if rec is None or cutoff is None or not (rec.time and _before(rec.time, cutoff))]
        unparsed += sum(rec is None for _idx, _text, rec in batch.others)
        answered, firsts = _answered(batch.answered if early is None else batch.answered.filter(~early),
                                     batch.answers)
        counted = tally(failed) if failed is not None else None
        for table, places in enumerate(counted.firsts if counted is not None else ()):  # the other rows'
            for key, first in places.items():
                firsts[table][key] = min(firsts[table].get(key, first), first)
        for idx, _text, rec in others:  # their keys' first places in the batch, too
            if rec is not None and rec.family == family and rec.kind == "access":
                minute = minute_of(rec.time)
                for table, key in ((0, rec.target), (1, rec.status), (2, minute)):
                    if key is not None and key != "":
                        firsts[table][key] = min(firsts[table].get(key, idx), idx)
        ev.reserve(*(sorted(keys, key=keys.__getitem__) for keys in firsts))  # type: ignore[arg-type]
        for target, answers in answered.targets.items():
            answers.failed_before = ev.life(target).failed > 0
        for idx, text, rec in others:
            if rec is None:
                continue
            own = evs.get(rec.family) or evs.setdefault(rec.family, LbEvidence(family=rec.family))
            run = answered.targets.get(rec.target or None) if rec.family == family else None
            bad = rec.made_by == "lb" and rec.failed
            own.add(rec, batch.path, batch.first_line + idx, text, joined=join is not None and join.take(rec),
                    ok_before=run is not None and bad and run.first_idx < idx)
            if run is not None and rec.kind == "access":
                if bad:
                    run.first_bad = idx if run.first_bad is None else run.first_bad
                elif rec.time:
                    run.other_ok_idx = idx
        if failed is not None:
            add_rows(ev, failed, batch.texts, answered, batch.path, batch.first_line, counted)
        ev.add_answered(answered)
    return lines, unparsed


# The times ``_before`` reads exactly as this does: ``datetime.isoformat``'s own forms (3 or 6
# digits of fraction, as every Python reads them -- from 3.11 any number, the first six kept:
# Go's RFC 3339 with nanoseconds, Traefik's and Caddy's, went line by line), a real date of a
# year from 1, the time of a day, a UTC offset or none (read as UTC).  Any other time is judged
# by ``_before`` itself.
_FRACTION = r"\d+" if sys.version_info >= (3, 11) else r"\d{3}|\d{6}"
_ISO = (r"^(?P<date>\d{4}-\d\d-\d\d)T(?P<H>[01]\d|2[0-3]):(?P<M>[0-5]\d):(?P<S>[0-5]\d)"
        r"(?:\.(?P<f>" + _FRACTION + r"))?(?P<z>Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?$")


def _cutoff_exprs(cutoff: dt.datetime) -> tuple[pl.Expr, pl.Expr]:
    """(whether an answered row's time is one ``early`` judges as ``_before`` does -- or none,
    which ``_before`` never judges; whether it is before ``cutoff``)."""
    import polars as pl

    t = pl.col("time")
    g = t.str.extract_groups(_ISO).struct.field
    date = g("date").str.to_date("%Y-%m-%d", strict=False)
    fraction = g("f").fill_null("0").str.slice(0, 6).str.pad_end(6, "0").cast(pl.Int64)
    offset = (pl.when(g("z").is_null() | (g("z") == "Z")).then(0)
              .otherwise((g("z").str.slice(1, 2).cast(pl.Int64) * 60 + g("z").str.slice(4, 2).cast(pl.Int64))
                         * pl.when(g("z").str.starts_with("-")).then(-1).otherwise(1)))
    us = ((date.cast(pl.Int64) * 86400 + g("H").cast(pl.Int64) * 3600 + g("M").cast(pl.Int64) * 60
           + g("S").cast(pl.Int64) - offset * 60) * 1_000_000 + fraction)
    limit = (cutoff - dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)) // dt.timedelta(microseconds=1)
    certain = (t.is_null() | (t == "") | (date.is_not_null() & ~g("date").str.starts_with("0000")))
    return certain, (t.is_not_null() & (t != "") & (us < limit))


def _answered(rows: pl.DataFrame, native: pl.DataFrame | None = None,
              ) -> tuple[Answered, tuple[dict[Any, int], dict[Any, int], dict[Any, int]]]:
    """A batch's answered rows counted together, and the first ``idx`` of each target, status
    and minute among them (for ``LbEvidence.reserve``).  One query groups the rows by status,
    minute and target (``_answer_groups``), and each table is rolled up from those groups in
    the order of their first row (five queries did it, one per table: ~1 ms a batch each,
    whatever its size; BENCHMARKS.md stop 59).  ``native``: the groups of the requests the
    family's native pass counted itself (``LogFamily.answers``: the same columns but ``_at``,
    every such row having a time), rolled up with them."""
    groups = _answer_groups(rows) if rows.height else []
    if native is not None and native.height:
        groups += [(st, m, k, n, first, last, last, time, lo, hi)
                   for st, m, k, n, first, last, time, lo, hi in native.rows()]
        groups.sort(key=lambda g: g[4])
    out = Answered(requests=sum(g[3] for g in groups))
    firsts: tuple[dict[Any, int], dict[Any, int], dict[Any, int]] = ({}, {}, {})
    for status, minute_, k, n, first, last, at, time, lo, hi in groups:
        if status is not None:
            out.statuses[int(status)] += n
            firsts[1].setdefault(int(status), first)
        if minute_ is not None:
            out.minutes[str(minute_)] += n
            firsts[2].setdefault(str(minute_), first)
        if k:
            firsts[0].setdefault(str(k), first)
        run = out.targets.get(k)
        if run is None:
            run = out.targets[k] = TargetRun(n=0, first_idx=first, last_idx=last)
        run.n += n
        run.last_idx = max(run.last_idx, last)
        if at is not None and at > run.last_time_idx:
            run.last_time, run.last_time_idx = time, at
        if lo is not None:
            out.first = lo if out.first is None or lo < out.first else out.first
            out.last = hi if out.last is None or hi > out.last else out.last
    return out, firsts


def _answer_groups(rows: pl.DataFrame) -> list[tuple[Any, ...]]:
    """The answered rows grouped by (status, minute, target): ``(status, minute, target, rows,
    first idx, last idx, last timed idx, its time, least and greatest time)``, in the order of
    their first row -- the reference of the native passes' answers (``native/answers.h``)."""
    import polars as pl

    t, idx = pl.col("time"), pl.col("idx")
    truthy = t.is_not_null() & (t != "")
    minute = pl.when((t.str.len_chars() >= 16) & (t.str.slice(4, 1) == "-")).then(t.str.slice(0, 16))
    target = pl.col("target")
    key = pl.when(target.is_null() | (target == "")).then(None).otherwise(target)
    timed = pl.col("_timed")
    timed_idx, timed_t = idx.filter(timed), t.filter(timed)
    return (rows.lazy().select("idx", "status", "time", minute.alias("_minute"), key.alias("_key"),
                               truthy.alias("_timed"))
            .group_by("status", "_minute", "_key")
            .agg(pl.len(), idx.min().alias("_first"), idx.max().alias("_last"),
                 timed_idx.max().alias("_at"), timed_t.sort_by(timed_idx).last().alias("_time"),
                 timed_t.min().alias("_lo"), timed_t.max().alias("_hi"))
            .sort("_first").collect().rows())


def _error_join(paths: list[str], families: tuple[str, ...]) -> ErrorJoin | None:
    """The error lines of ``paths`` in the one edge family of the access logs (a proxy's own
    error log: Caddy's), or None (several families, or no such line)."""
    if len(families) != 1 or not paths or "-" in paths or not has_lines_of(paths, families[0]):
        return None
    from why502.app.stats.lb import own_log  # an edge's log only: not on an nginx run (issue 28)

    join = ErrorJoin(rec for path in paths for rec in own_log(path, families[0]).request_errors)
    return join or None


@dataclass(frozen=True)
class EdgeConfig:
    """An edge proxy's ``--config``, read through its hooks (``Hooks.config_facts``): what
    ``analyzers.edge_config.with_config`` joins the ranked findings to (the group, the target's
    config line, the route's timeout and its diff); ``live``: its groups as its admin API shows
    them now (Envoy's ``/clusters`` and ``/stats``), by group name."""

    proxy: str
    targets: tuple[TargetFact, ...]
    groups: Mapping[str, GroupFact]
    files: Mapping[str, tuple[str, ...]]
    live: Mapping[str, GroupLive] = field(default_factory=dict)


def edge_config(options: DiagnoseOptions, diagnostics: list[Diagnostic],
                families: tuple[str, ...] = (), inputs: dict[str, Any] | None = None
                ) -> EdgeConfig | None:
    """``--config`` next to an edge proxy's own log, read once, for a proxy whose config is read
    through its hooks; with ``--admin-api`` and no ``--config``, the running proxy's own config
    (its admin ``/config_dump``: ``source.dump_config``).  Live (not ``--offline``), a proxy
    whose source plug-in reads its admin API (``source.live_groups``) has its groups' state read
    too.  None when there is no config, with a note when it was not read."""
    from why502.app.diagnose.proxies import load_with_hooks, view_with_hooks
    from why502.proxies import PROXIES, choose, get

    admin = options.admin_api
    if not options.config and not admin:
        return None
    if options.config:
        name = choose(options.proxy, options.config)
    else:  # the admin API of the proxy named, or of the one whose log this is
        named = [options.proxy] if options.proxy else [f for f in families if f in PROXIES]
        if len(named) != 1:
            diagnostics.append(Diagnostic(severity="info", message=(
                f"--admin-api {admin}: name the proxy it belongs to (--proxy NAME): not read")))
            return None
        name = named[0]
    proxy = get(name)
    if proxy.hooks.config_facts is None:
        diagnostics.append(Diagnostic(severity="info", message=(
            f"--config {options.config} ({name}) is not read with a load balancer's log")))
        return None
    source = _admin_source(name)
    if admin and source is None:
        raise InputError(f"--admin-api: why502 reads no admin API of {proxy.vocabulary.title}")
    cfg: object = None
    if options.config:
        cfg = load_with_hooks(options.config, name)
        view = view_with_hooks(cfg, options.config, diagnostics, {}, name)
    else:
        if options.offline:
            raise InputError("--admin-api reads a running proxy: not with --offline")
        assert admin is not None and source is not None
        cfg = source.dump_config(admin, options.probe_timeout)  # type: ignore[attr-defined]
        view = view_with_hooks(cfg, f"{admin.rstrip('/')}/config_dump", diagnostics, {}, name)
    diagnostics.append(Diagnostic(severity="info", message=(
        f"config {view.main_file} read: {len(view.groups)} {proxy.vocabulary.group}s, "
        f"{len(view.targets)} targets")))
    live: dict[str, GroupLive] = {}
    if source is not None and not options.offline:
        live, notes, base = source.live_groups(cfg, admin, options.probe_timeout)  # type: ignore[attr-defined]
        diagnostics.extend(Diagnostic(severity="info", message=n) for n in notes)
        if base is not None and inputs is not None:
            inputs["admin_api"] = base
            inputs["admin_groups"] = {
                g.name: {"hosts_out": {h.address: list(h.flags) for h in g.hosts_out},
                         **dict(g.counters)} for g in live.values()}
    return EdgeConfig(name, tuple(view.targets), view.groups, view.files, live)


def _admin_source(name: str) -> object | None:
    """The proxy's source plug-in when it reads an admin API (``live_groups``), else None."""
    from why502.proxies import get

    module = get(name).hooks.source
    if not module:
        return None
    plugin = resolve(module)
    return plugin if hasattr(plugin, "live_groups") else None


def _before(time: str, cutoff: dt.datetime) -> bool:
    try:
        when = dt.datetime.fromisoformat(time.replace("Z", "+00:00"))
    except ValueError:
        return False
    when = when if when.tzinfo else when.replace(tzinfo=dt.timezone.utc)
    return when < cutoff
