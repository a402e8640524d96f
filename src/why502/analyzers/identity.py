"""Does a system event belong to the backend that failed?  Identity and time, for every analyzer.

A shared host's kernel log holds OOM kills and segfaults of other jobs; its FPM and app-server
logs hold other pools' timeouts; its rotated logs hold old incidents.  An event is evidence for
a failure of ``peer`` only when it matches that backend by *identity* -- the PID or program that
owns the listening socket, the PHP-FPM pool listening there, the systemd unit serving it -- and by
*time*: inside the failure window or just before it.  A name match alone is at most a note.
Every analyzer that reads ``Evidence.events`` asks these functions, so the rule is one rule.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from why502.analyzers.base import process_matches
from why502.evidence.model import Evidence, LogEvent, SymptomGroup

BEFORE = timedelta(seconds=3)  # log timestamps are per-second and clocks of two logs may skew
AFTER = timedelta(minutes=5)

def near_failure(g: SymptomGroup, t: datetime | None) -> bool:
    if t is None:
        return False
    times = g.times or tuple(x for x in (g.first, g.last) if x)
    return any(t - BEFORE <= x <= t + AFTER for x in times)


def identity(ev: Evidence, peer: str | None, oom: LogEvent) -> str | None:
    """Why this OOM victim is the backend of ``peer`` (None when no identity link is known)."""
    if peer is None:
        return None
    for lst in ev.listeners_for(peer):
        if oom.pid is not None and lst.pid == oom.pid:
            return f"pid {oom.pid} was listening on {peer}"
        if process_matches(lst.process, oom.process):
            return f"{lst.process} (pid {lst.pid}) listens on {peer} now"
    target = ev.target(peer)
    if target is not None and target.kind == "fastcgi" and process_matches(oom.process, "php-fpm"):
        return f"{peer} is served by PHP-FPM"
    for pool in ev.fpm_pools:
        if pool.key == peer and process_matches(oom.process, "php-fpm"):
            return f"PHP-FPM pool [{pool.name}] listens on {peer}"
    unit = ev.target_units.get(peer)
    if oom.unit and unit and oom.unit == unit:
        return f"the kill was in {unit}, the unit that serves {peer}"
    return None


def could_be_backend(ev: Evidence, peer: str | None, event: LogEvent) -> bool:
    """False when we know who serves ``peer`` and ``event`` names a different process.

    Unknown identities stay possible: an FPM log line names a pool, not a listener, and without
    root the socket table does not name other users' processes.
    """
    if (not event.process and event.pid is None) or peer is None:
        return True
    target = ev.target(peer)
    if target is not None and target.kind == "fastcgi" and process_matches(event.process, "php-fpm"):
        return True
    if any(pool.key == peer for pool in ev.fpm_pools) and process_matches(event.process, "php-fpm"):
        return True
    owners = [lst for lst in ev.listeners_for(peer) if lst.process or lst.pid is not None]
    if not owners:
        return True
    return any((event.pid is not None and lst.pid == event.pid)
               or process_matches(lst.process, event.process) for lst in owners)


def other_than_pool(ev: Evidence, peer: str | None, event: LogEvent) -> bool:
    """True when what serves ``peer`` is known to be another program than ``event``'s: a PHP-FPM
    pool's ``listen`` (its config, so even offline) is ``peer`` and ``event`` names another
    process, or ``peer``'s systemd unit and ``event``'s unit differ."""
    if peer is None:
        return False
    # systemd says which unit serves peer and which unit the kill was in: same name (python3,
    # node) in another unit is another program
    unit = ev.target_units.get(peer)
    if unit and event.unit and event.unit != unit:
        return True
    # an FPM line names its pool: another pool's worker is another backend
    named = [pool for pool in ev.fpm_pools if event.pool and pool.name == event.pool]
    if named and all(pool.key != peer for pool in named):
        return True
    return (bool(event.process) and any(pool.key == peer for pool in ev.fpm_pools)
            and not process_matches(event.process, "php-fpm"))



def belongs(ev: Evidence, peer: str | None, event: LogEvent, groups: list[SymptomGroup]) -> bool:
    """``event`` is about the backend of ``peer`` (identity) and happened when its failures did."""
    return (could_be_backend(ev, peer, event) and not other_than_pool(ev, peer, event)
            and any(near_failure(g, event.time) for g in groups))


def killed_by_timeout(event: LogEvent, timeouts: list[LogEvent]) -> bool:
    """A worker's death that its own time limit caused: PHP-FPM logs ``execution timed out ...
    terminating`` then ``child N exited on signal 15 (SIGTERM)`` for the same child
    (``fpm_request_check_timed_out()`` then ``fpm_children_bury()``, sapi/fpm/fpm/); gunicorn's
    ``WORKER TIMEOUT (pid:N)`` is followed by ``Worker (pid:N) was sent SIGKILL``."""
    if event.kind == "worker-timeout":
        return True
    return event.pid is not None and any(t.pid == event.pid for t in timeouts)
