"""Run the installed ``why502`` under a memory ceiling enforced by the kernel.

``RLIMIT_DATA`` rather than ``RLIMIT_AS`` (``ulimit -v``): polars reserves address space it never
touches (thread stacks, allocator arenas, reader prefetch), while the data limit counts the
private writable memory a process really asks for (Linux >= 4.7), which tracks its heap.  A run
that needs more fails (an allocation error, exit 3, or an abort) instead of being timed."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile

from tests.support.clirun import WHY502


def limited(argv: list[str], data_mb: int, env: dict[str, str] | None = None,
            timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``why502 ARGV`` with its data segment limited to ``data_mb`` MiB.  ``timeout`` guards a
    hang, it measures nothing: linting the 8.6 MiB config took over 120 s on a loaded 2-core
    machine (issue 27, class 8), so the bound is generous."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_DATA, (data_mb << 20, data_mb << 20))

    base = {k: v for k, v in os.environ.items() if k != "WHY502_DEBUG"}
    return subprocess.run([WHY502, *argv], capture_output=True, text=True, errors="replace",
                          timeout=timeout, check=False, env={**base, **(env or {})},
                          stdin=subprocess.DEVNULL, preexec_fn=limit)


# ``why502`` as its console script runs it, plus a line that writes the process's own peak RSS
# (``VmHWM``: of its address space since exec) when it exits.  Not ``ru_maxrss`` from wait4: the
# kernel folds the *parent's* peak into the child's at exec (a vfork'ed child starts on the
# parent's mm), so a child of a pytest worker that had grown to 475 MB reported 475 MB.
_REPORT_PEAK = """import atexit, os, sys
def _peak():
    with open('/proc/self/status') as f, open(os.environ['WHY502_TEST_PEAK'], 'w') as out:
        out.write(next(l for l in f if l.startswith('VmHWM:')).split()[1])
atexit.register(_peak)
from why502.cli.main import main
sys.argv[0] = 'why502'
sys.exit(main())
"""


def peak_rss_mb(argv: list[str], env: dict[str, str] | None = None,
                timeout: float = 600) -> tuple[int, float]:
    """(exit code, peak RSS in MiB) of ``why502 ARGV``, output discarded; a run still going
    after ``timeout`` seconds is killed and fails the test."""
    base = {k: v for k, v in os.environ.items() if k != "WHY502_DEBUG"}
    with tempfile.TemporaryDirectory() as tmp:
        peak_file = os.path.join(tmp, "peak")
        proc = subprocess.Popen([sys.executable, "-c", _REPORT_PEAK, *argv], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL,
                                env={**base, **(env or {}), "WHY502_TEST_PEAK": peak_file})
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"why502 {' '.join(argv)} still ran after {timeout:.0f} s") from None
        with open(peak_file) as fh:
            return proc.returncode, int(fh.read()) / 1024

