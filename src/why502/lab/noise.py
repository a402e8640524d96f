"""A noisy host: what a real machine's logs hold besides the failure a scenario reproduces.

``add_noise(stack, run)`` lays, after a scenario ran, the baseline every shared production host
has, so ``diagnose`` is checked on it and not only on a clean lab (``why502 lab check --noisy``,
tests/lab/test_lab_noise.py).  The answer must not change:

- the kernel log holds OOM kills and segfaults of *other* processes with the backends' names
  (``python3``, ``php-fpm8.2``): another job, other PIDs, an hour before the scenario ran and
  before its nginx started;
- the rotated error log (``error.log.1``) holds an old incident that ended long ago, towards an
  upstream this config no longer has;
- clients send noise: a TLS ClientHello to the plain-HTTP port (nginx answers 400).

The kernel lines follow ``dmesg -T`` and the kernel's own format strings (``mm/oom_kill.c``
``__oom_kill_process()``, ``arch/x86/mm/fault.c`` ``show_signal_msg()``); the error-log lines
are the recorded lines of ``backend-down-tcp`` with another peer and an older date.
"""

from __future__ import annotations

import contextlib
import socket
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from why502.lab.runtime import Stack
from why502.lab.runtime.processes import can_connect

if TYPE_CHECKING:
    from why502.lab.scenarios.model import ScenarioRun

# (minutes before now, pid, process): other jobs of the same names, long before the scenario
_OOM_VICTIMS = ((75, 3101, "python3"), (62, 3377, "python3"), (58, 4120, "php-fpm8.2"))
_SEGFAULTS = ((70, 2890, "python3"), (55, 5012, "node"))


def kernel_noise(now: datetime) -> list[str]:
    """OOM kills and segfaults of same-named processes an hour before ``now`` (``dmesg -T``)."""
    lines = []
    for ago, pid, name in _OOM_VICTIMS:
        stamp = (now - timedelta(minutes=ago)).strftime("%a %b %d %H:%M:%S %Y")
        lines.append(f"[{stamp}] Out of memory: Killed process {pid} ({name}) total-vm:1716580kB, "
                     "anon-rss:1461342kB, file-rss:0kB, shmem-rss:0kB, UID:1001 pgtables:3371kB "
                     "oom_score_adj:0")
    for ago, pid, name in _SEGFAULTS:
        stamp = (now - timedelta(minutes=ago)).strftime("%a %b %d %H:%M:%S %Y")
        lines.append(f"[{stamp}] {name}[{pid}]: segfault at 0 ip 00007f3a1c2b4e10 sp 00007ffd4c1e2a08 "
                     "error 4 in libc.so.6[7f3a1c200000+195000]")
    return lines


def old_incident(now: datetime) -> list[str]:
    """A finished outage of an upstream long gone, a day before ``now`` (nginx error-log lines)."""
    out = []
    for n in range(3):
        stamp = (now - timedelta(days=1, minutes=30 - n)).strftime("%Y/%m/%d %H:%M:%S")
        out.append(f"{stamp} [error] 812#812: *{40 + n} connect() failed (111: Connection refused) "
                   "while connecting to upstream, client: 198.51.100.7, server: old.example, "
                   'request: "GET /legacy HTTP/1.1", upstream: "http://127.0.0.1:9/legacy", '
                   'host: "old.example"')
    return out


def add_noise(stack: Stack, run: ScenarioRun) -> None:
    """Lay the noisy baseline over a finished scenario run (see the module docstring)."""
    now = datetime.now()
    kernel = run.kernel_log
    own = kernel.read_text() if kernel is not None and kernel.exists() else ""
    run.kernel_log = stack.write_file("logs/kernel.log", "\n".join(kernel_noise(now)) + "\n" + own)
    if run.error_log is not None:
        rotated = Path(f"{run.error_log}.1")
        rotated.write_text("\n".join(old_incident(now)) + "\n")
    _tls_to_plain_port(stack)


def _tls_to_plain_port(stack: Stack) -> None:
    """A scanner's TLS ClientHello on the HTTP port: nginx logs a 400 in the access log."""
    host, _, port = stack.listen.rpartition(":")
    hello = bytes.fromhex("160301002d0100002903035a") + b"\x00" * 36
    with stack.inside():
        if not can_connect(stack.listen):
            return
        with socket.create_connection((host.strip("[]"), int(port)), timeout=2) as sock:
            sock.sendall(hello)
            with contextlib.suppress(OSError):
                sock.recv(512)
