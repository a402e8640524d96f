"""App-server evidence: the one record of what was read of the app servers behind the proxy.

One provider (:func:`app_server_evidence`) fills one grouped record (:class:`AppServerEvidence`):
the app servers found (``--app-conf``, the process table, systemd units), kept only when they
listen where the proxy sends requests (identity: a ``bind``/``socket``/``--port`` that serves a
target key, ``facts.appserver.AppServer.serves``), and the app-server logs read.  An app
server listening elsewhere is another program: its settings and its log never count as
evidence for this proxy's failures (:meth:`AppServerEvidence.other_servers_log`, asked by
``analyzers.identity``).  Its log lines are tied by time in ``analyzers.identity`` like every
other program's events.

An app-server log also names its own server: the line it writes when it opens its listening
socket (gunicorn's ``Listening at: http://HOST:PORT``, uvicorn's ``Uvicorn running on ...``,
uWSGI's ``uwsgi socket 0 bound to TCP address HOST:PORT fd 3``) says where the server writing
that file listens (``said``).  That is identity without the process table or ``--app-conf``:
``watch`` hands its window to ``diagnose`` as a copy under another path and names no app
config, and discovery sees no process in a container or a test (``WHY502_PROC_PIDS``), so
without it the same lines were another app server's log to ``watch`` and this backend's to
``diagnose`` (issue 25 item 4: the same window gives the same cause).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from why502.facts.appserver import AppServer


@dataclass(frozen=True)
class AppServerEvidence:
    """What is known of the app servers that serve the proxy's targets."""

    servers: tuple[AppServer, ...] = ()  # each serves at least one target (identity checked)
    logs: tuple[str, ...] = ()  # app-server logs read (``--app-log``, named by a server, defaults)
    looked: bool = False  # the process table / units were read, or --app-conf / --app-log given
    others: tuple[AppServer, ...] = ()  # found, but listening where the proxy sends nothing
    # (log file, bind key) each app-server log read says its own server listens on (its
    # start-up line): the log's identity when no server found names that file
    said: tuple[tuple[str, str], ...] = ()

    def serving(self, peer: str | None, members: Iterable[str] = ()) -> list[AppServer]:
        """The app servers listening on ``peer`` (or on any of ``members``: a group's servers)."""
        keys = [k for k in (peer, *members) if k]
        return [s for s in self.servers if any(s.serves(k) for k in keys)]

    def other_servers_log(self, file: str | None, peer: str | None) -> bool:
        """``file`` is the log of an app server that is known NOT to serve ``peer``: a server
        found names it and listens elsewhere, or the file's own start-up lines say so."""
        if not file or peer is None:
            return False
        owners = [s for s in (*self.servers, *self.others) if file in s.logs]
        owners += [_listening(bind) for log, bind in self.said if log == file]
        return bool(owners) and not any(s.serves(peer) for s in owners)

    def logs_serving(self, peer: str | None, members: Iterable[str] = ()) -> set[str]:
        """The app-server logs known to be written by a server listening on ``peer`` (or on
        any of ``members``): named by a server found there, or saying so themselves."""
        keys = [k for k in (peer, *members) if k]
        logs = {p for s in self.serving(peer, members) for p in s.logs}
        return logs | {log for log, bind in self.said if any(_listening(bind).serves(k) for k in keys)}


def _listening(bind: str) -> AppServer:
    """What a log's start-up line says of its server: where it listens, nothing else."""
    return AppServer("app", binds=(bind,))


def app_server_evidence(found: Iterable[AppServer], target_keys: Iterable[str],
                        logs: Iterable[str] = (), looked: bool = False,
                        said: Iterable[tuple[str, str]] = ()) -> AppServerEvidence:
    """Keep the app servers that listen on one of ``target_keys`` (the proxy's targets and its
    groups' servers).  An app server whose listen address is unknown (a Node script without a
    literal ``listen(PORT)``) is kept only when the proxy has exactly one target: then there is
    nothing else it could be, and only when the user named it (``--app-conf``): one found by
    discovery with no listen address (a unit's ``--ini %i.ini``) is never tied to a target."""
    keys = sorted(set(target_keys))
    kept: list[AppServer] = []
    others: list[AppServer] = []
    seen: set[tuple[str, tuple[str, ...], int | None, str]] = set()
    for s in found:
        ident = (s.kind, s.binds, s.pid, s.origin)
        if ident in seen:
            continue
        seen.add(ident)
        named = s.origin.startswith("--app-conf")
        if any(s.serves(k) for k in keys) or (not s.binds and named and len(keys) == 1):
            kept.append(s if s.binds else AppServer(s.kind, binds=(keys[0],), settings=s.settings,
                                                     pid=s.pid, origin=s.origin, logs=s.logs,
                                                     started=s.started))
        else:
            others.append(s)
    return AppServerEvidence(servers=tuple(kept), logs=tuple(dict.fromkeys(logs)), looked=looked,
                             others=tuple(others), said=tuple(dict.fromkeys(said)))
