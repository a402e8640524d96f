"""What a PHP-FPM pool's own access log says (``access.log`` in the pool, lines in its
``access.format``): one record per request the pool finished, and which pool wrote the file.

Why its own type: the pool writes a line for each request a child finished, with the status the
script set (``fpm_log_write()`` in php-src ``sapi/fpm/fpm/fpm_log.c``: ``%s`` is
``SG(sapi_headers).http_response_code``), so it is the app server's own word on the requests a
proxy relayed, the one record that says "the app answered these 5xx itself" without a probe.
A request whose child was killed (``request_terminate_timeout``) has no line: the child is
killed before it reaches ``fpm_log_write()`` (checked with php-fpm 8.2,
tests/fixtures/fpm-access/README.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class FpmRequest:
    """One line of a pool's access log (``None``: the format has no such placeholder)."""

    line: int
    text: str  # verbatim: hostile, escape when shown
    time: datetime | None = None  # %t (accepted) or, without it, %T (written)
    status: int | None = None  # %s
    duration: float | None = None  # %d, in seconds whatever its unit
    method: str | None = None  # %m
    uri: str | None = None  # %r (the script's path: FPM logs no query string there), %Q%q after
    pool: str | None = None  # %n


@dataclass(frozen=True)
class FpmAccessLog:
    """A pool's access log as read: its lines (the last ``kept`` of the window), whose pool
    wrote it and how that is known."""

    file: str
    format: str
    pool: str | None = None  # the pool whose ``access.log`` it is (None: not known)
    key: str | None = None  # that pool's listen identity key (``FpmPool.key``)
    requests: tuple[FpmRequest, ...] = ()
    lines: int = 0  # lines read in the window
    unparsed: int = 0  # lines the format did not take
    origin: str = ""  # "pool www's access.log" / "--app-log"
