"""Does a system event belong to the backend that failed?  Identity and time, for every analyzer.

A shared host's kernel log holds OOM kills and segfaults of other jobs; its FPM and app-server
logs hold other pools' timeouts; its rotated logs hold old incidents.  An event is evidence for
a failure of ``peer`` only when it matches that backend by *identity* -- the PID or program that
owns the listening socket, the PHP-FPM pool listening there, the systemd unit serving it -- and by
*time*: inside the failure window or just before it, and after what serves the peer now started
(the socket owner's start in ``/proc/<pid>/stat``, else its unit's ``ActiveEnterTimestamp``): a
kill before that start was of an earlier process, and explains only the failures before the
start.  A name match alone is at most a note.
Every analyzer that reads ``Evidence.events`` asks these functions, so the rule is one rule.
"""

from __future__ import annotations

from bisect import bisect_left
from datetime import datetime, timedelta

from why502.analyzers.base import process_matches
from why502.evidence.model import Evidence, LogEvent, SymptomGroup

BEFORE = timedelta(seconds=3)  # log timestamps are per-second and clocks of two logs may skew
AFTER = timedelta(minutes=5)
# A process killed mid-request drops its in-flight requests at once: when only its name (or
# nothing) ties an event to the backend, the failures must start within seconds of it.
TIGHT_AFTER = timedelta(seconds=10)


def near_failure(g: SymptomGroup, t: datetime | None, after: timedelta = AFTER) -> bool:
    """Did a failure of ``g`` happen at ``t`` or within ``after`` of it?"""
    if t is None:
        return False
    ordered = _sorted_times(g)
    lo = t - BEFORE
    # the first time at or after the window's start, if it is inside the window: the same answer
    # as asking every time, which a host's dmesg of ~100 OOM kills against 40 peers' groups of
    # up to 300 times each made ~0.4M comparisons (~50 ms of a live diagnose, BENCHMARKS.md stop 48)
    at = bisect_left(ordered, lo)
    return at < len(ordered) and ordered[at] <= t + after


_SORTED: dict[int, tuple[tuple[datetime, ...], tuple[datetime, ...]]] = {}
_SORTED_MAX = 4096


def _sorted_times(g: SymptomGroup) -> tuple[datetime, ...]:
    """``g``'s failure times, sorted once per group.  Keyed by the identity of the group's own
    ``times`` tuple, which the entry keeps alive (so the key cannot be another tuple's); bounded."""
    times = g.times
    if not times:
        return tuple(sorted(x for x in (g.first, g.last) if x))
    hit = _SORTED.get(id(times))
    if hit is not None and hit[0] is times:
        return hit[1]
    if len(_SORTED) >= _SORTED_MAX:
        _SORTED.clear()
    ordered = tuple(sorted(times))
    _SORTED[id(times)] = (times, ordered)
    return ordered


def identity(ev: Evidence, peer: str | None, event: LogEvent) -> str | None:
    """Why ``event`` is *proved* to be about the backend of ``peer``, or None.

    Proof is an identity, not a name: the PID that owns the listening socket, a worker PID the
    backend's own log names (PHP-FPM's ``child N``, gunicorn's ``pid:N``), the FPM pool that
    listens there, the systemd unit that serves it.  A process name that matches (``python3`` is
    every Python program on the host) is :func:`name_match`, a weaker link.
    """
    if peer is None:
        return None
    for lst in ev.listeners_for(peer):
        if event.pid is not None and lst.pid == event.pid and not _before(event, _iso(lst.started)):
            return f"pid {event.pid} was listening on {peer}"
    if event.pid is not None:
        for other in ev.all_events:
            if (other is not event and other.pid == event.pid and other.source != event.source
                    and _from_backend_log(ev, peer, other)):
                return (f"pid {event.pid} is a worker of the backend of {peer} (its {other.source} "
                        "log names it)")
    for pool in ev.config.fpm_pools:
        if pool.key == peer and event.pool and event.pool == pool.name:
            return f"PHP-FPM pool [{pool.name}] listens on {peer}"
    unit = ev.host.target_units.get(peer)
    if event.unit and unit and event.unit == unit:
        return f"the event was in {unit}, the unit that serves {peer}"
    return None


def name_match(ev: Evidence, peer: str | None, event: LogEvent) -> str | None:
    """A weaker link: the process name matches what serves ``peer`` (at most a note alone)."""
    if peer is None:
        return None
    for lst in ev.listeners_for(peer):
        if process_matches(lst.process, event.process):
            return f"{lst.process} (pid {lst.pid}) listens on {peer} now; same name only"
    target = ev.target(peer)
    if target is not None and target.kind == "fastcgi" and process_matches(event.process, "php-fpm"):
        return f"{peer} is served by PHP-FPM"
    for pool in ev.config.fpm_pools:
        if pool.key == peer and process_matches(event.process, "php-fpm"):
            return f"PHP-FPM pool [{pool.name}] listens on {peer}"
    return None


def _from_backend_log(ev: Evidence, peer: str | None, e: LogEvent) -> bool:
    """``e`` comes from the backend's own log (its FPM pool, or an app server serving ``peer``)."""
    if e.source in ("kernel", "systemd", ""):
        return False
    if e.pool:
        return any(pool.name == e.pool and pool.key == peer for pool in ev.config.fpm_pools) or (
            not ev.config.fpm_pools and could_be_backend(ev, peer, e))
    return could_be_backend(ev, peer, e) and not other_than_pool(ev, peer, e)


def matching_groups(ev: Evidence, peer: str | None, event: LogEvent,
                    groups: list[SymptomGroup]) -> tuple[list[SymptomGroup], str | None]:
    """The failure groups ``event`` may explain, and the identity that ties them (None: name
    or nothing).  Proved identity: failures within minutes of the event.  Otherwise only
    failures within seconds of it, and never when what serves ``peer`` is known to be another
    program (:func:`could_be_backend`, :func:`other_than_pool`)."""
    if not could_be_backend(ev, peer, event) or other_than_pool(ev, peer, event):
        return [], None
    who = identity(ev, peer, event)
    after = AFTER if who else TIGHT_AFTER
    near = [g for g in groups if near_failure(g, event.time, after)]
    started = backend_started(ev, peer)
    if started is not None and _before(event, started):
        # What serves peer now started after the event: this process was not the one killed.
        # The event can explain only the failures before it started (the outage that start
        # ended); failures while the new process ran are not its doing.
        near = [g for g in near if any(t <= started + BEFORE for t in _times(g))]
    return near, who


def backend_started(ev: Evidence, peer: str | None) -> datetime | None:
    """When what serves ``peer`` now started: the latest start of the processes owning its
    listening sockets (``/proc/<pid>/stat``), else its systemd unit's ``ActiveEnterTimestamp``.
    None when unknown (offline, another user's process without root)."""
    if peer is None:
        return None
    starts = [t for lst in ev.listeners_for(peer) if (t := _iso(lst.started)) is not None]
    if starts:
        return max(starts)
    name = ev.host.target_units.get(peer)
    unit = ev.host.units.get(name) if name else None
    return _unit_time(unit.active_enter_timestamp) if unit is not None else None


def _before(event: LogEvent, started: datetime | None) -> bool:
    """Did ``event`` happen before ``started`` (beyond the log's per-second skew)?"""
    if started is None or event.time is None:
        return False
    return event.time.replace(tzinfo=None) < started - BEFORE


def _times(g: SymptomGroup) -> tuple[datetime, ...]:
    return g.times or tuple(x for x in (g.first, g.last) if x)


def _iso(text: str | None) -> datetime | None:
    try:
        return datetime.fromisoformat(text).replace(tzinfo=None) if text else None
    except ValueError:
        return None


def _unit_time(text: str | None) -> datetime | None:
    """``Mon 2026-11-23 09:00:01 UTC`` (``systemctl show``'s timestamp) as a naive datetime."""
    parts = (text or "").split()
    if len(parts) < 3:
        return None
    return _iso(f"{parts[1]}T{parts[2]}")


def could_be_backend(ev: Evidence, peer: str | None, event: LogEvent) -> bool:
    """False when we know who serves ``peer`` and ``event`` names a different process.

    Unknown identities stay possible: an FPM log line names a pool, not a listener, and without
    root the socket table does not name other users' processes.  A line from the log of an app
    server known to listen elsewhere (its ``--error-logfile``/``logto``) is never this backend's.
    """
    if peer is None:
        return True
    # the log of an app server that listens elsewhere (evidence.appservers): another program's
    if ev.apps.other_servers_log(event.file, peer):
        return False
    if not event.process and event.pid is None:
        return True
    # the log of an app server that listens on peer: a prefork server's line names the *worker*
    # (uWSGI "HARAKIRI ON WORKER 1 (pid: N)", core/master_utils.c; gunicorn "WORKER TIMEOUT
    # (pid:N)", gunicorn/arbiter.py murder_workers) while the listening socket is found as the
    # master's (the lowest pid holding it, sources.listeners.socket_owners): the pids never match.
    # Known by a server found (its --error-logfile/logto) or by the log's own start-up line
    # (a window copy that watch hands to diagnose under another path says it too)
    if event.file and event.file in ev.apps.logs_serving(peer):
        return True
    target = ev.target(peer)
    if target is not None and target.kind == "fastcgi" and process_matches(event.process, "php-fpm"):
        return True
    if any(pool.key == peer for pool in ev.config.fpm_pools) and process_matches(event.process, "php-fpm"):
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
    unit = ev.host.target_units.get(peer)
    if unit and event.unit and event.unit != unit:
        return True
    # an FPM line names its pool: another pool's worker is another backend
    named = [pool for pool in ev.config.fpm_pools if event.pool and pool.name == event.pool]
    if named and all(pool.key != peer for pool in named):
        return True
    return (bool(event.process) and any(pool.key == peer for pool in ev.config.fpm_pools)
            and not process_matches(event.process, "php-fpm"))



def belongs(ev: Evidence, peer: str | None, event: LogEvent, groups: list[SymptomGroup]) -> bool:
    """``event`` is about the backend of ``peer`` (identity) and happened when its failures did."""
    return bool(matching_groups(ev, peer, event, groups)[0])


def killed_by_timeout(event: LogEvent, timeouts: list[LogEvent]) -> bool:
    """A worker's death that its own time limit caused: PHP-FPM logs ``execution timed out ...
    terminating`` then ``child N exited on signal 15 (SIGTERM)`` for the same child
    (``fpm_request_check_timed_out()`` then ``fpm_children_bury()``, sapi/fpm/fpm/); gunicorn's
    ``WORKER TIMEOUT (pid:N)`` is followed by ``Worker (pid:N) was sent SIGKILL``."""
    if event.kind == "worker-timeout":
        return True
    return event.pid is not None and any(t.pid == event.pid for t in timeouts)
