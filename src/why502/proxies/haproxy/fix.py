"""HAProxy as ``why502 fix`` drives it (its ``Hooks.fix_service``; management.txt 3 "Starting
HAProxy", 4 "Stopping and restarting HAProxy").

The config test is ``haproxy -c -f FILE``.  A master-worker (``-W``/``-Ws``, what Debian's unit
runs) reloads on SIGUSR2: the master re-executes itself with the new config and forks new
workers; the old ones finish their connections.  Without master-worker the reload is a new
process ``haproxy -f FILE -p PIDFILE -D -sf OLDPIDS`` (the new one tells the old ones to finish
and leave).  Under systemd (the unit's MainPID is the master) ``systemctl reload haproxy``.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass

from why502.app.fix.service import (
    RELOAD_WAIT,
    Outcome,
    Service,
    alive,
    children,
    run_program,
    unit_main_pid,
    wait_new_children,
)
from why502.proxies.haproxy.proxy import PROXY
from why502.proxies.haproxy.source import haproxy_config
from why502.sources.opening import read_small
from why502.sources.proxyprocs import ProxyProcess, master_of


@dataclass(frozen=True)
class Haproxy(Service):
    name = PROXY.name
    label = "haproxy -c"
    binaries = ("haproxy", "/usr/sbin/haproxy")
    test_args = ("-c", "-f", "{conf}")

    def read_files(self) -> list[str]:
        return haproxy_config(self.conf).files

    def dumped_files(self) -> list[str]:
        """HAProxy has no include directive and no dump of its files: they are the ``-f``
        arguments (a directory's ``*.cfg`` in order, management.txt 3), what ``files`` reads."""
        return self.files()

    def error_logs(self) -> list[str]:
        """None to tail: HAProxy logs to syslog, stdout or a ring, never to a file of its own."""
        return []

    def _process(self) -> ProxyProcess | None:
        return master_of("haproxy", self.conf)

    def master(self) -> int | None:
        proc = self._process()
        if proc is not None:
            return proc.pid
        try:
            cfg = haproxy_config(self.conf)
        except OSError:
            return None
        for ln in cfg.global_values("pidfile"):
            try:
                text = read_small(ln.value, encoding="ascii").split()
            except OSError:
                continue
            if text and text[0].isdigit() and alive(int(text[0])):
                return int(text[0])
        return None

    def reload(self) -> Outcome:
        proc = self._process()
        if proc is None:
            return Outcome(False, f"no running haproxy was started with -f {self.conf}: not reloaded")
        master = proc.pid
        before = children(master)
        if unit_main_pid("haproxy.service") == master:
            out = run_program(["systemctl", "reload", "haproxy.service"])
            if not out.ok:
                return Outcome(False, f"systemctl reload haproxy failed: {out.message}")
            return wait_new_children(master, before, "systemctl reload haproxy", "haproxy")
        if proc.master_worker:
            os.kill(master, signal.SIGUSR2)
            return wait_new_children(master, before, "SIGUSR2 to the haproxy master", "haproxy")
        if proc.pid_file is None:
            return Outcome(False, "haproxy runs neither as master-worker (-W) nor with a pid file (-p): "
                                  "why502 cannot hand its connections over (reload it yourself)")
        argv = [self.binary, "-f", self.conf, "-p", proc.pid_file, "-D", "-sf", str(master)]
        out = run_program(argv)
        if not out.ok:
            return Outcome(False, f"haproxy -sf failed: {out.message}")
        deadline = time.monotonic() + RELOAD_WAIT
        while time.monotonic() < deadline and alive(master):
            time.sleep(0.05)
        return Outcome(True, "haproxy -sf (new process, the old one finishes its connections)")
