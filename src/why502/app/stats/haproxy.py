"""``why502 stats`` on HAProxy's log and on Apache's access log (``app.stats.rewrite``).

HAProxy: the httplog lines (``parsers.haproxy_log.to_nginx_line``), with the server names turned
into the addresses of the config's ``server`` lines so per-upstream rows name the same peers as
diagnose.  Apache: the ``LogFormat`` of the ``CustomLog`` that writes the file (else
``combined``), compiled by ``parsers.apache_log``; ``%D``/``%T`` become ``$request_time``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from why502.app.stats.rewrite import rewritten
from why502.errors import InputError
from why502.evidence.haproxy_facts import haproxy_facts
from why502.parsers import apache_log, haproxy_log
from why502.parsers.apache import load_apache
from why502.parsers.haproxy import load_haproxy


def server_addresses(config: str | None) -> dict[str, str]:
    """``backend/server`` -> ``host:port`` from a ``haproxy.cfg`` (empty without one)."""
    if config is None:
        return {}
    try:
        _t, _g, _f, aliases = haproxy_facts(load_haproxy(config))
    except OSError as err:
        raise InputError(f"cannot read {config} (--config): {err.strerror or err}") from None
    return {name: key for name, key in aliases.items() if "/" in name and "<NOSRV>" not in name}


@contextmanager
def haproxy_as_nginx(paths: list[str], config: str | None) -> Iterator[list[str]]:
    addresses = server_addresses(config)
    with rewritten(paths, lambda line: haproxy_log.to_nginx_line(line, addresses)) as out:
        yield out


def apache_format(config: str | None, paths: list[str], given: str | None) -> str:
    """The ``LogFormat`` of ``paths``: ``given`` (a string or nickname), else the format of the
    config's ``CustomLog`` writing that file, else ``combined``."""
    if given:
        return apache_log.NICKNAMES.get(given, given)
    if config is None:
        return apache_log.COMBINED
    try:
        cfg = load_apache(config)
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
