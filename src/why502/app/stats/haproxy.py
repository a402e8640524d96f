"""``why502 stats`` on HAProxy's log: its httplog lines rewritten into the engine's format.

The statistics engine (``evidence.stats``) reads nginx's access-log variables; HAProxy writes
one httplog line per request with the same facts under other names
(``parsers.haproxy_log.to_nginx_line``).  The lines are rewritten once, streaming, into a
temporary file in the ``why502`` format, which the engine then reads like any nginx log; the
server names become the addresses of the config's ``server`` lines when a ``haproxy.cfg`` is
given, so per-upstream rows name the same peers as diagnose.
"""

from __future__ import annotations

import gzip
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from why502.errors import InputError
from why502.evidence.haproxy_facts import haproxy_facts
from why502.parsers.haproxy import load_haproxy
from why502.parsers.haproxy_log import to_nginx_line


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
def as_nginx_format(paths: list[str], config: str | None) -> Iterator[list[str]]:
    """The httplog lines of ``paths`` rewritten into one temporary file (removed afterwards)."""
    addresses = server_addresses(config)
    fd, out = tempfile.mkstemp(prefix="why502-haproxy-", suffix=".log")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for path in paths:
                try:
                    opener = gzip.open if path.endswith(".gz") else open
                    with opener(path, "rt", encoding="utf-8", errors="replace") as src:
                        for line in src:
                            row = to_nginx_line(line, addresses)
                            if row is not None:
                                fh.write(row + "\n")
                except OSError as err:
                    raise InputError(f"cannot read {path}: {err.strerror or err}") from None
        yield [out]
    finally:
        os.unlink(out)
