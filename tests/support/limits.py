"""Run the installed ``why502`` under a memory ceiling enforced by the kernel.

``RLIMIT_DATA`` rather than ``RLIMIT_AS`` (``ulimit -v``): polars reserves address space it never
touches (thread stacks, allocator arenas, reader prefetch), while the data limit counts the
private writable memory a process really asks for (Linux >= 4.7), which tracks its heap.  A run
that needs more fails (an allocation error, exit 3, or an abort) instead of being timed."""

from __future__ import annotations

import os
import resource
import subprocess
import time

from tests.support.clirun import WHY502


def limited(argv: list[str], data_mb: int, env: dict[str, str] | None = None,
            timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``why502 ARGV`` with its data segment limited to ``data_mb`` MiB."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_DATA, (data_mb << 20, data_mb << 20))

    base = {k: v for k, v in os.environ.items() if k != "WHY502_DEBUG"}
    return subprocess.run([WHY502, *argv], capture_output=True, text=True, errors="replace",
                          timeout=timeout, check=False, env={**base, **(env or {})},
                          stdin=subprocess.DEVNULL, preexec_fn=limit)


def peak_rss_mb(argv: list[str], env: dict[str, str] | None = None,
                timeout: float = 120) -> tuple[int, float]:
    """(exit code, peak RSS in MiB) of ``why502 ARGV``, output discarded; a run still going
    after ``timeout`` seconds is killed and fails the test."""
    base = {k: v for k, v in os.environ.items() if k != "WHY502_DEBUG"}
    proc = subprocess.Popen([WHY502, *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            stdin=subprocess.DEVNULL, env={**base, **(env or {})})
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return proc.returncode, usage.ru_maxrss / 1024
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            raise AssertionError(f"why502 {' '.join(argv)} still ran after {timeout:.0f} s")
        time.sleep(0.05)
