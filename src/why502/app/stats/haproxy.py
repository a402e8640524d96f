"""``why502 stats`` on HAProxy's log and on Apache's access log (``app.stats.rewrite``).

HAProxy: the httplog lines (``proxies.haproxy.log.to_nginx_line``), with the server names turned
into the addresses of the config's ``server`` lines so per-upstream rows name the same peers as
diagnose, each next to its backend's ``timeout server``; the runtime API's ``show servers state``
adds each server's state now when the config has a ``stats socket`` that answers. Apache: the
``LogFormat`` of the ``CustomLog`` that writes the file (else ``combined``), compiled by
``proxies.apache.log``; ``%D``/``%T`` become ``$request_time``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING

from why502.app.stats.rewrite import rewritten
from why502.errors import InputError
from why502.proxies.apache import log as apache_log
from why502.proxies.apache.config import ApacheConfig
from why502.proxies.apache.proxy import PROXY as APACHE
from why502.proxies.base import resolve
from why502.proxies.haproxy import log as haproxy_log
from why502.proxies.haproxy.config import HaproxyConfig, time_ms
from why502.proxies.haproxy.proxy import PROXY as HAPROXY

if TYPE_CHECKING:
    import polars as pl

    from why502.sources.logfiles import LineBatch


# Each proxy's plug-ins (its source: the config parsed once per run, the runtime API; its facts)
# are resolved by name through its Hooks, never imported by the layer they serve.
def haproxy_config(path: str) -> HaproxyConfig:
    return resolve(HAPROXY.hooks.source).haproxy_config(path)  # type: ignore[attr-defined, no-any-return]


def apache_config(path: str) -> ApacheConfig:
    return resolve(APACHE.hooks.source).apache_config(path)  # type: ignore[attr-defined, no-any-return]


def haproxy_timeouts(config: str | None) -> tuple[dict[str, tuple[float, str]], list[str]]:
    """Each server's ``timeout server`` (its backend's, else the ``defaults``': seconds and
    file:line) by the address the rewritten lines name, and one note per backend: the column
    next to the per-backend percentiles.  Unset is infinite (configuration.txt 4.2): no column
    value, and the note says so."""
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
    rows, notes = resolve(HAPROXY.hooks.source).servers_state(cfg)  # type: ignore[attr-defined]
    return [{"server": r.name, "address": r.address or "", "state": r.status,
             "check": r.check_status or ""} for r in rows], notes


def server_addresses(config: str | None) -> dict[str, str]:
    """``backend/server`` -> ``host:port`` from a ``haproxy.cfg`` (empty without one)."""
    if config is None:
        return {}
    try:
        _t, _g, _f, aliases = resolve(HAPROXY.hooks.facts).haproxy_facts(haproxy_config(config))  # type: ignore[attr-defined]
    except OSError as err:
        raise InputError(f"cannot read {config} (--config): {err.strerror or err}") from None
    return {name: key for name, key in aliases.items() if "/" in name and "<NOSRV>" not in name}


def _zone() -> str:
    from datetime import datetime

    # this machine's offset, once: asking for it on every line took ~40% of the rewrite
    return datetime.now().astimezone().strftime("%z")


def _secs(ms: pl.Expr) -> pl.Expr:
    """``proxies.haproxy.log._secs`` over a column: ``max(ms, 0) / 1000`` to 3 decimals, by
    integer arithmetic (the same text as ``f"{ms / 1000:.3f}"`` for any timer below 2**53)."""
    import polars as pl

    ms = ms.clip(lower_bound=0)
    return pl.concat_str([(ms // 1000).cast(pl.String), pl.lit("."),
                          (ms % 1000).cast(pl.String).str.zfill(3)])


def httplog_as_nginx(lines: pl.Series, addresses: Mapping[str, str], zone: str) -> pl.Series:
    """``proxies.haproxy.log.to_nginx_line`` over a batch of lines, in polars' string kernels
    (the same regex, ``HTTPLOG``; the same text out), without the lines that are no httplog
    request lines.  Per line in Python it cost ~25 us, most of it the regex."""
    import polars as pl

    m = lines.rename("line").str.extract_groups(haproxy_log.HTTPLOG.pattern).struct.unnest()
    m = m.with_columns(lines.rename("_line")).filter(pl.col("client").is_not_null())
    if not m.height:
        return pl.Series("row", [], dtype=pl.String)
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
    row = pl.concat_str([
        pl.col("client"), pl.lit(" - - ["), pl.col("time"), pl.lit(f' {zone}] "'), request,
        pl.lit('" '), status, pl.lit(" "), pl.col("bytes"), pl.lit(' "-" "-" "-" rt='), _secs(ta),
        pl.lit(' ua="'), addr, pl.lit('" us="'), status,
        pl.lit('" uct="'), pl.when(connected).then(_secs(tc)).otherwise(pl.lit("-")),
        pl.lit('" uht="'), pl.when(relayed).then(_secs(tc + t_r)).otherwise(pl.lit("-")),
        pl.lit('" urt="'), pl.when(connected).then(_secs(server_side)).otherwise(pl.lit("-")),
        pl.lit('"')])
    # a timer polars cannot read as an integer (Python's int() reads any Unicode digit): null
    # here, so the line gets Python's reading below
    row = pl.when(pl.all_horizontal(t.is_not_null() for t in (tr, tw, tc, t_r, ta))).then(row).alias("row")
    out = m.select(row, "_line")
    if out["row"].null_count():
        out = out.with_columns(pl.when(pl.col("row").is_null()).then(
            pl.col("_line").map_elements(lambda ln: haproxy_log.to_nginx_line(ln, addresses, zone),
                                         return_dtype=pl.String)).otherwise(pl.col("row")).alias("row"))
    return out["row"].drop_nulls()


class HttplogFeed:
    """HAProxy's one log turned into the engine's rows *while* it is read as the error log.

    HAProxy writes one log (configuration.txt 8.2.3), and ``diagnose`` reads it as both its
    error log and its access log.  Reading it twice cost 2.7x on big logs (issue 28), and each
    input is read once per run (issue 23 item 3): the error log's classifying pass
    (``app.diagnose.logs.classify_into``) hands each batch it read here (``feed``), and the
    httplog lines of a file whose first 200 lines hold some (``_has_httplog``'s rule; every
    file with ``head=False``) are rewritten into a scratch file, which ``rows`` gives the
    stats engine as its access log."""

    HEAD = 200

    def __init__(self, config: str | None, head: bool = True) -> None:
        from why502.sources.scratch import scratch_file

        self.addresses = server_addresses(config)
        self.zone = _zone()
        self.head = head
        fd, self.out = scratch_file("access-", ".log")
        self._fh = os.fdopen(fd, "w", encoding="utf-8")
        self._take: dict[str, bool] = {}
        self.paths: list[str] = []

    def feed(self, batch: LineBatch) -> None:
        import polars as pl

        if (self.head and batch.path == "-") or not batch.count:
            return
        lines = pl.Series("line", [batch.text]).str.split("\n").explode()
        take = self._take.get(batch.path)
        if take is None:
            head = lines.head(self.HEAD) if batch.first_line == 1 else lines.head(0)
            take = self._take[batch.path] = (
                not self.head or bool(head.str.contains(haproxy_log.HTTPLOG.pattern).any()))
            if take:
                self.paths.append(batch.path)
        if not take:
            return
        rows = httplog_as_nginx(lines, self.addresses, self.zone)
        if rows.len():
            self._fh.write("\n".join(rows.to_list()) + "\n")

    @contextmanager
    def rows(self) -> Iterator[tuple[list[str], str]]:
        """What ``haproxy_for_diagnose`` yields, from the lines fed."""
        self._fh.close()
        yield ([self.out] if self.paths else []), "why502"

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        with suppress(FileNotFoundError):
            os.unlink(self.out)


@contextmanager
def haproxy_as_nginx(paths: list[str], config: str | None) -> Iterator[list[str]]:
    """``paths`` (plain or ``.gz``) as one scratch file of the engine's rows, in batches."""
    from why502.sources.logfiles import iter_batches

    feed = HttplogFeed(config, head=False)
    try:
        try:
            for batch in iter_batches(paths):
                feed.feed(batch)
        except OSError as err:
            raise InputError(f"cannot read {err.filename}: {err.strerror or err}") from None
        with feed.rows():
            yield [feed.out]
    finally:
        feed.close()


def apache_format(config: str | None, paths: list[str], given: str | None) -> str:
    """The ``LogFormat`` of ``paths``: ``given`` (a string or nickname), else the format of the
    config's ``CustomLog`` writing that file, else ``combined``."""
    if given:
        return apache_log.NICKNAMES.get(given, given)
    if config is None:
        return apache_log.COMBINED
    try:
        cfg = apache_config(config)
    except OSError as err:
        raise InputError(f"cannot read {config} (--config): {err.strerror or err}") from None
    nick = {d.args[1]: d.args[0] for d in cfg.values("LogFormat") if len(d.args) >= 2}
    names = {os.path.basename(p) for p in paths}
    for d in cfg.values("CustomLog"):
        if len(d.args) >= 2 and os.path.basename(cfg.resolve(d.args[0])) in names:
            fmt = d.args[1]
            return nick.get(fmt, apache_log.NICKNAMES.get(fmt, fmt))
    return apache_log.COMBINED


def _only_target(config: str | None) -> str:
    """The one backend of an Apache config (its identity key), else ``-``: an access line does
    not say which backend served it, so a relayed 5xx names one only when there is one."""
    if config is None:
        return "-"
    try:
        keys = {t.key for t in apache_config(config).targets()}
    except OSError:
        return "-"
    return next(iter(keys)) if len(keys) == 1 else "-"


@contextmanager
def apache_as_nginx(paths: list[str], config: str | None,
                    given: str | None) -> Iterator[tuple[list[str], str]]:
    fmt = apache_log.compile_log_format(apache_format(config, paths, given))
    upstream = _only_target(config) if fmt.relay else "-"
    with rewritten(paths, lambda line: apache_log.to_nginx_line(line, fmt, upstream)) as out:
        yield out, fmt.format


@contextmanager
def haproxy_for_diagnose(access_logs: list[str], error_logs: list[str],
                         config: str | None) -> Iterator[tuple[list[str], str]]:
    """``Hooks.access_log`` of HAProxy: its httplog lines as the engine's ``why502`` rows.

    HAProxy writes one log (configuration.txt 8.2.3: the httplog line *is* the request's
    record; its errors are termination states on it), so without an ``--access-log`` the
    error logs that hold httplog lines are the access log too."""
    paths = list(access_logs) or [p for p in error_logs if _has_httplog(p)]
    if not paths:
        yield [], "why502"
        return
    with haproxy_as_nginx(paths, config) as out:
        yield out, "why502"


def _has_httplog(path: str) -> bool:
    """Do the first lines of ``path`` look like httplog lines (``proxies.haproxy.log``)?"""
    import gzip
    from itertools import islice

    try:
        opener = gzip.open if path.endswith(".gz") else open
        with opener(path, "rt", encoding="utf-8", errors="replace") as fh:
            head = list(islice(fh, 200))
    except OSError:
        return False
    return any(haproxy_log.HTTPLOG.search(line) for line in head)


@contextmanager
def apache_for_diagnose(access_logs: list[str], error_logs: list[str],
                        config: str | None) -> Iterator[tuple[list[str], str]]:
    """``Hooks.access_log`` of Apache: its access log through the ``LogFormat`` of the
    ``CustomLog`` that writes it (else ``combined``), as the engine's rows (``NGINX_FORMAT``:
    no upstream fields, so who made a 5xx is judged from the error log and the live probe;
    ``why502`` when the format has ``%{proxy-status}n``, which says it offline:
    ``proxies.apache.log``)."""
    from why502.proxies.apache.log import NGINX_FORMAT

    if not access_logs:
        yield [], NGINX_FORMAT
        return
    with apache_as_nginx(list(access_logs), config, None) as (out, fmt):
        yield out, apache_log.engine_format(apache_log.compile_log_format(fmt))


def apache_for_watch(config: str | None, path: str) -> tuple[Callable[[str], str | None], str]:
    """``Hooks.watch_access`` of Apache: each line of its access log at ``path`` rewritten as
    ``apache_for_diagnose`` has diagnose read it (the ``LogFormat`` of the ``CustomLog`` that
    writes it, else ``combined``), and the nginx format of the rewritten lines: ``watch``
    counts Apache's requests with the same reader as diagnose (without it every line failed
    nginx's format and no incident ever opened on Apache's access log)."""
    from why502.parsers.log_format import PREDEFINED

    fmt = apache_log.compile_log_format(apache_format(config, [path], None))
    upstream = _only_target(config) if fmt.relay else "-"
    engine = apache_log.engine_format(fmt)
    nginx_format = PREDEFINED[engine][0] if engine in PREDEFINED else engine
    return (lambda line: apache_log.to_nginx_line(line, fmt, upstream)), nginx_format


def haproxy_for_watch(config: str | None, path: str) -> tuple[None, haproxy_log.HttplogCounter]:
    """``Hooks.watch_access`` of HAProxy: its httplog lines counted as the ``why502`` rows
    diagnose reads (``proxies.haproxy.log.HttplogCounter``, the meanings of ``to_nginx_line``),
    so ``watch`` counts the 5xx HAProxy relayed as well as the ones it made (before, only its
    failure lines counted: a backend's own 502s never opened an incident).  No line rewritten
    (None): the counter reads HAProxy's lines a block at a time, without polars."""
    return None, haproxy_log.HttplogCounter(server_addresses(config))
