"""The app servers of this host: running masters (``/proc``), systemd units, ``--app-conf``.

What is read, and why it is enough to tie an app server to the proxy's backend by identity:

- the process table: every gunicorn, uvicorn, uWSGI, Puma or Node process whose parent is not
  the same program (a master; its workers are its children), its argv (``/proc/PID/cmdline``),
  its working directory (``/proc/PID/cwd``: gunicorn reads ``./gunicorn.conf.py`` by default,
  Puma ``./config/puma.rb``) and its start (``/proc/PID/stat``).  Its settings come from its
  flags and the config file the flags name, read as text (``parsers.appserver_config``);
- systemd unit files (``/etc/systemd/system``, ``/lib/systemd/system``): an ``ExecStart=`` that
  runs one of them is read the same way, for an app server that is not running now;
- ``--app-conf FILE`` (repeatable): the user names the config.

Where it listens (its ``bind``/``socket``/``--port``) is what ties it to the proxy's upstream
target; an app server listening elsewhere is never used as evidence (``evidence.appservers``).
Default log paths of these servers are listed by :func:`default_logs` (read as discovered
inputs: a file that cannot be read is a note).  ``WHY502_PROC_PIDS`` restricts the process scan
like ``sources.proxyprocs`` does, so a test sees only its own processes.
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

from why502.facts.appserver import AppServer
from why502.parsers.appserver_config import from_argv, from_conf_file, kind_of_argv, split_exec_start
from why502.sources import procscan
from why502.sources.listeners import process_started

UNIT_DIRS = ("/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system")
# the logs these servers write when told nothing else, or where their packages put them
DEFAULT_LOG_GLOBS = (
    "/var/log/gunicorn/*.log", "/var/log/uwsgi/*.log", "/var/log/uwsgi/app/*.log",
    "/var/log/puma/*.log", "/root/.pm2/logs/*-error.log", "/home/*/.pm2/logs/*-error.log",
    "/root/.pm2/pm2.log", "/home/*/.pm2/pm2.log",
)
MAX_UNITS = 2000


def _argv(pid: int, proc: str) -> list[str]:
    raw = procscan.cmdline(pid, proc)
    return [a.decode("utf-8", "replace") for a in raw.split(b"\0") if a] if raw else []


def running(proc: str = "/proc") -> list[AppServer]:
    """The app-server masters running now, each with what its command line and config say."""
    kinds: dict[int, str] = {}
    argvs: dict[int, list[str]] = {}
    for pid in procscan.pids(proc):
        argv = _argv(pid, proc)
        kind = kind_of_argv(argv) if argv else None
        if kind:
            kinds[pid], argvs[pid] = kind, argv
    out: list[AppServer] = []
    for pid, kind in sorted(kinds.items()):
        parent = procscan.parent_pid(pid, proc)
        if parent is not None and kinds.get(parent) == kind:
            continue  # a worker: its master is read
        try:
            cwd: Path | None = Path(os.readlink(f"{proc}/{pid}/cwd"))
        except OSError:
            cwd = None
        server = from_argv(argvs[pid], origin=f"process {pid}", cwd=cwd, pid=pid,
                           started=process_started(Path(proc), pid))
        if server is not None:
            out.append(server)
    return out


def from_units(dirs: tuple[str, ...] = UNIT_DIRS) -> list[AppServer]:
    """App servers a systemd unit file starts (``ExecStart=``), for one not running now."""
    out: list[AppServer] = []
    seen = 0
    for d in dirs:
        for path in sorted(glob.glob(os.path.join(d, "*.service"))):
            if path.endswith("@.service"):
                continue  # a template (uwsgi-app@.service: --ini .../%i.ini): not one server
            seen += 1
            if seen > MAX_UNITS:
                return out
            try:
                with open(path, "rb") as fh:
                    text = fh.read(1 << 16).decode("utf-8", "replace")
            except OSError:
                continue
            cwd = None
            starts = []
            for line in text.splitlines():
                key, _, value = line.strip().partition("=")
                if key == "WorkingDirectory" and value.strip():
                    cwd = Path(value.strip().lstrip("-"))
                elif key == "ExecStart" and value.strip():
                    starts.append(split_exec_start(value))
            for argv in starts:
                server = from_argv(argv, origin=f"unit {os.path.basename(path)}", cwd=cwd)
                if server is not None:
                    out.append(server)
    return out


def from_files(paths: list[str]) -> list[AppServer]:
    """``--app-conf FILE`` each: the app server it configures (None entries dropped)."""
    out = []
    for p in paths:
        server = from_conf_file(Path(p))
        if server is not None:
            out.append(server)
    return out


def default_logs() -> list[str]:
    """Existing files at the app servers' default log paths."""
    out: list[str] = []
    for pattern in DEFAULT_LOG_GLOBS:
        out += sorted(glob.glob(pattern))[:20]
    return out
