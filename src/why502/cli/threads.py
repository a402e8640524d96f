"""Make sure the threads a run needs can start, before the run depends on them.

Why: polars reads logs on ~5 threads per CPU (its compute pool, the streaming engine's
executors, an async runtime, its spill cleaner) and starts most of them the first time a query
runs.  Where a limit stops a thread from starting -- a container's ``pids.max``, ``ulimit -u``
for a non-root user, or a data limit (``ulimit -d``: thread stacks are mappings it counts) --
polars may panic inside a thread nobody waits on and leave the main thread waiting for a
result forever (seen under a 6-task ``pids.max`` and under a 100 MB ``RLIMIT_DATA`` on a loaded
machine).  So the commands that read logs first start as many threads as polars will, all at
once, and stop them: if that fails, the run ends with one line that names the limit.  Then one
tiny query starts polars' own threads while the process is still small, so a run that later
runs out of memory fails on an allocation (Rust aborts the process) rather than on a thread.
"""

from __future__ import annotations

import os
import threading

from why502.errors import LimitError

#: The commands that read logs on threads: polars' (and classify's native scanner's).
READS_LOGS = frozenset({"stats", "diagnose", "classify", "watch"})
#: ... and those of them that always run polars queries (classify's native scanner may never
#: need polars, whose import alone costs ~0.2 s; watch's follow loop needs it only for an nginx
#: access log, and its incidents are diagnosed by a ``diagnose`` child: warming polars there
#: kept ~30 MB in the agent for nothing, issue 28).
RUNS_POLARS = frozenset({"stats", "diagnose"})

#: The stack each probe thread asks for: Rust's default for a spawned thread (2 MiB).
PROBE_STACK = 2 << 20


def cpus() -> int:
    """The CPUs this process may run on (polars sizes its pools by them)."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def threads_needed() -> int:
    """How many threads polars starts on a big log: 17 were counted on 2 CPUs (2 compute, 4
    executors, 7 runtime workers, a spill cleaner, an unmapper, 2 allocator threads)."""
    return 8 + 5 * cpus()


def running_threads() -> int:
    """The threads of this process now (polars starts some when it is imported)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


def start_threads(count: int, stack: int = PROBE_STACK) -> int:
    """Start ``count`` threads that all stay alive until the last has started, then stop them;
    the number that started (``count`` when the limits allow it)."""
    gate = threading.Event()
    started: list[threading.Thread] = []
    old = threading.stack_size(stack)
    try:
        for _ in range(count):
            t = threading.Thread(target=gate.wait, daemon=True)
            try:
                t.start()
            except RuntimeError:  # "can't start new thread"
                break
            started.append(t)
    finally:
        gate.set()
        threading.stack_size(old)
        for t in started:
            t.join()
    return len(started)


def ensure_threads(command: str) -> None:
    """For a command in :data:`READS_LOGS`: raise :class:`LimitError` (exit 3) when the
    threads polars needs cannot start; for one in :data:`RUNS_POLARS`, then start polars' own
    (a 2-row streaming query, ~15 ms)."""
    if command not in READS_LOGS:
        return
    need = max(0, threads_needed() - (running_threads() - 1))
    got = start_threads(need)
    if got < need:
        raise LimitError(
            f"cannot start the {need} more threads it reads logs with (only {got} started): a limit on "
            "threads or processes (a container's pids.max, ulimit -u) or on memory (ulimit -d) "
            f"is too low for this machine's {cpus()} CPUs; raise it, or run it on fewer CPUs "
            "(taskset -c 0)")
    if command not in RUNS_POLARS:
        return
    import polars as pl

    for _ in pl.LazyFrame({"warm": [1, 2]}).collect_batches():
        pass
