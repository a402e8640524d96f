"""A PHP-FPM pool's own record of the requests a proxy relayed: its access log, identity- and
time-checked.

Identity: the log is the ``access.log`` of the pool listening where the proxy routes the
request (``FpmAccessLog.key``, the pool's ``listen`` as an identity key, against the target's
key; a pool on all addresses serves every local one of its port), or a log of no known pool when
the config has exactly one FastCGI target (nothing else it could be).  Time: only its lines in
the window of the clients' 5xx (``ClientFailures.first``/``last`` are minutes: one minute of
slack each side).  Which requests: the lines whose path is the failing request's, when there
are any; else every line of that window (the proxy already routes the path to this pool).

What the lines mean is php-src's (``sapi/fpm/fpm/fpm_log.c`` ``fpm_log_write()``, called when
a child finished a request): ``%s`` is the status the script set, so a 5xx there is the app's
own answer; a request whose child was killed (``request_terminate_timeout``) has no line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from why502.evidence.model import ClientFailures, Evidence, TargetFact
from why502.facts.fpm_access import FpmAccessLog, FpmRequest
from why502.facts.net import split_key

SLACK = timedelta(minutes=1)


@dataclass(frozen=True)
class PoolRecord:
    """The pool's lines about the failing requests."""

    log: FpmAccessLog
    lines: tuple[FpmRequest, ...]  # in the window (and of the path, when any is)
    made: tuple[FpmRequest, ...]  # of those, the 5xx the pool answered itself
    answered: tuple[FpmRequest, ...]  # of those, the < 500 it answered

    @property
    def statuses(self) -> dict[int, int]:
        out: dict[int, int] = {}
        for r in self.made:
            if r.status is not None:
                out[r.status] = out.get(r.status, 0) + 1
        return out


def pool_record(ev: Evidence, target: TargetFact, cf: ClientFailures) -> PoolRecord | None:
    """What the access log of the pool behind ``target`` says of ``cf``'s requests; None when no
    such log was read (or its lines carry no time or status to check)."""
    logs = [a for a in ev.logs.fpm_access if a.key is not None and _serves(a.key, target.key)]
    fastcgi = {t.key for t in ev.config.targets if t.kind == "fastcgi"}
    if not logs and fastcgi == {target.key}:
        logs = [a for a in ev.logs.fpm_access if a.key is None]
    if not logs or cf.first is None:
        return None
    start = _naive(cf.first) - SLACK
    end = _naive(cf.last or cf.first) + SLACK + timedelta(minutes=1)
    path = _path((cf.request or "").split(" ")[1] if len((cf.request or "").split(" ")) > 1 else "")
    for log in logs:
        window = [r for r in log.requests if r.time is not None and r.status is not None
                  and start <= _naive(r.time) <= end]
        if not window:
            continue
        same = [r for r in window if r.uri is not None and _path(r.uri) == path]
        lines = tuple(same or window)
        return PoolRecord(log, lines, tuple(r for r in lines if (r.status or 0) >= 500),
                          tuple(r for r in lines if (r.status or 0) < 500))
    return PoolRecord(logs[0], (), (), ())


def _serves(pool_key: str, target_key: str) -> bool:
    """Does a pool listening on ``pool_key`` take connections to ``target_key``?"""
    if pool_key == target_key:
        return True
    host, port, path = split_key(pool_key)
    _t_host, t_port, t_path = split_key(target_key)
    if path is not None or t_path is not None:
        return False
    return port == t_port and host in (None, "0.0.0.0", "::", "*")  # noqa: S104


def _path(uri: str) -> str:
    return uri.split("?", 1)[0]


def _naive(t: datetime) -> datetime:
    """Both clocks as local naive time: the proxy's and FPM's lines carry an offset (``%z``)."""
    return t.astimezone().replace(tzinfo=None) if t.tzinfo is not None else t
