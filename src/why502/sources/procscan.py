"""Which processes a scan of ``/proc`` may read, and what each one's ``stat`` and ``cmdline`` say.

One reader for every scan of the host's processes: the proxies' masters and edge servers
(``sources.proxyprocs``), the app servers (``sources.appservers``), the PHP-FPM masters
(``sources.fpm``).  Each scan was written with its own listing, its own ``WHY502_PROC_PIDS``
filter and its own ``stat`` parser (four of them, two filters nearly alike); one rule now
decides what a scan sees.

``WHY502_PROC_PIDS`` (a comma list) restricts a scan to those PIDs and their children, so a
test that starts its own servers sees only them (an edge server's scan takes the listed PIDs
alone).  A process that ends while it is read, or another user's whose files cannot be read,
is skipped: nothing of it is known, and its config is not ours to read either.

``/proc/PID/stat``: "(2) comm %s ... in parentheses" then "(4) ppid %d" (proc(5)); the command
name may itself hold spaces and parentheses, so the fields are taken after the last ``)``.
"""

from __future__ import annotations

import os

PIDS_ENV = "WHY502_PROC_PIDS"
PROC = "/proc"
# processes listed at most (a host has thousands; the bound is for a hostile or broken /proc)
MAX_PROCS = 100_000


def allowed_pids() -> set[int] | None:
    """The processes a scan may read (``WHY502_PROC_PIDS``; None: every one)."""
    text = os.environ.get(PIDS_ENV, "").strip()
    if not text:
        return None
    return {int(p) for p in text.replace(" ", "").split(",") if p.isdigit()}


def read_file(path: str, limit: int = -1) -> bytes | None:
    """The bytes of a ``/proc`` file (``limit``: at most that many), None when unreadable."""
    try:
        with open(path, "rb") as fh:
            return fh.read(limit)
    except OSError:
        return None


def stat(pid: int, proc: str = PROC) -> tuple[str, int] | None:
    """(comm, ppid) from ``/proc/PID/stat``, None when it cannot be read."""
    raw = read_file(f"{proc}/{pid}/stat", 4096)
    if raw is None:
        return None
    text = raw.decode("ascii", "replace")
    comm = text[text.find("(") + 1:text.rfind(")")]
    fields = text[text.rfind(")") + 2:].split()
    return (comm, int(fields[1])) if len(fields) > 1 and fields[1].isdigit() else None


def parent_pid(pid: int, proc: str = PROC) -> int | None:
    """``pid``'s parent (``/proc/PID/stat``), None when it cannot be read."""
    found = stat(pid, proc)
    return found[1] if found else None


def cmdline(pid: int, proc: str = PROC, limit: int = 1 << 16) -> bytes | None:
    """``/proc/PID/cmdline`` as written (arguments ended by NUL), at most ``limit`` bytes."""
    return read_file(f"{proc}/{pid}/cmdline", limit)


def pids(proc: str = PROC, *, use_env: bool = True, children: bool = True) -> list[int]:
    """The PIDs a scan may read, lowest first: every process of ``proc`` (at most
    ``MAX_PROCS``) or, when ``use_env`` and ``WHY502_PROC_PIDS`` is set, those listed and (with
    ``children``) the processes whose parent is listed."""
    try:
        found = sorted(int(e) for e in os.listdir(proc) if e.isdigit())[:MAX_PROCS]
    except OSError:
        return []
    allowed = allowed_pids() if use_env else None
    if allowed is None:
        return found
    return [pid for pid in found
            if pid in allowed or (children and parent_pid(pid, proc) in allowed)]
