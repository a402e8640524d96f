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
from collections.abc import Iterator
from contextlib import contextmanager

from why502.app.stats.rewrite import rewritten
from why502.errors import InputError
from why502.evidence.haproxy_facts import haproxy_facts
from why502.proxies.apache import log as apache_log
from why502.proxies.haproxy import log as haproxy_log
from why502.proxies.haproxy.config import time_ms
from why502.sources.apache import apache_config
from why502.sources.haproxy import haproxy_config


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
    from why502.sources.haproxy import servers_state

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


@contextmanager
def haproxy_as_nginx(paths: list[str], config: str | None) -> Iterator[list[str]]:
    from datetime import datetime

    addresses = server_addresses(config)
    # this machine's offset, once: asking for it on every line took ~40% of the rewrite
    zone = datetime.now().astimezone().strftime("%z")
    with rewritten(paths, lambda line: haproxy_log.to_nginx_line(line, addresses, zone)) as out:
        yield out


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


@contextmanager
def apache_as_nginx(paths: list[str], config: str | None,
                    given: str | None) -> Iterator[tuple[list[str], str]]:
    fmt = apache_log.compile_log_format(apache_format(config, paths, given))
    with rewritten(paths, lambda line: apache_log.to_nginx_line(line, fmt)) as out:
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
    no upstream fields, so who made a 5xx is judged from the error log and the live probe)."""
    from why502.proxies.apache.log import NGINX_FORMAT

    if not access_logs:
        yield [], NGINX_FORMAT
        return
    with apache_as_nginx(list(access_logs), config, None) as (out, _fmt):
        yield out, NGINX_FORMAT
