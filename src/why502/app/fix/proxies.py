"""HAProxy and Apache httpd as ``why502 fix`` drives them, and the table that picks a proxy's
service by name (``SERVICES``): the transaction in ``app.fix.run`` only calls ``test``,
``files``, ``error_logs``, ``master`` and ``reload``.

- HAProxy (management.txt 3 "Starting HAProxy", 4 "Stopping and restarting HAProxy"): the config
  test is ``haproxy -c -f FILE``.  A master-worker (``-W``/``-Ws``, what Debian's unit runs)
  reloads on SIGUSR2: the master re-executes itself with the new config and forks new workers;
  the old ones finish their connections.  Without master-worker the reload is a new process
  ``haproxy -f FILE -p PIDFILE -D -sf OLDPIDS`` (the new one tells the old ones to finish and
  leave).  Under systemd (the unit's MainPID is the master) ``systemctl reload haproxy``.
- Apache httpd (stopping.html, "Graceful Restart"): the config test is ``apache2 -t -f FILE``
  with the ``-d``/``-D`` of the running master (``apachectl configtest`` does the same after
  sourcing Debian's ``envvars``, which set ``${APACHE_RUN_DIR}`` and friends: they are read here
  too).  A graceful restart is SIGUSR1 to the parent (what ``apache2 -k graceful`` sends to the
  pid of ``PidFile``, ``ap_signal_server()`` in server/mpm_unix.c): it re-reads its config and
  replaces its children as they finish.  Under systemd ``systemctl reload apache2``.
"""

from __future__ import annotations

import os
import re
import signal
import time
from dataclasses import dataclass
from typing import ClassVar

from why502.app.fix.service import (
    Nginx,
    Outcome,
    alive,
    children,
    run_program,
    unit_main_pid,
)
from why502.parsers.procnet import parse_tcp_table
from why502.proxies.apache.config import ApacheConfig, envvars
from why502.proxies.apache.proxy import PROXY as APACHE
from why502.proxies.base import resolve
from why502.proxies.haproxy.config import HaproxyConfig
from why502.proxies.haproxy.proxy import PROXY as HAPROXY
from why502.sources.listeners import socket_inodes
from why502.sources.opening import read_small
from why502.sources.proxyprocs import ProxyProcess, master_of

RELOAD_WAIT = 10.0
_DUMPED = re.compile(r"^\s*\([*\d]+\) (/.*?)\s*$", re.MULTILINE)


def haproxy_config(path: str) -> HaproxyConfig:
    """The ``haproxy.cfg`` at ``path``, parsed once per run by HAProxy's source plug-in
    (``Hooks.source``: a plug-in is resolved by name, never imported by the layer it serves)."""
    return resolve(HAPROXY.hooks.source).haproxy_config(path)  # type: ignore[attr-defined, no-any-return]


def apache_config(path: str) -> ApacheConfig:
    """Apache's config at ``path``, parsed once per run by its source plug-in (``Hooks.source``:
    a plug-in is resolved by name, never imported by the layer it serves)."""
    return resolve(APACHE.hooks.source).apache_config(path)  # type: ignore[attr-defined, no-any-return]


def _listening_inodes() -> set[int]:
    """Inodes of every TCP socket in LISTEN state (``/proc/net/tcp``, ``tcp6``)."""
    out: set[int] = set()
    for name, proto in (("tcp", "tcp"), ("tcp6", "tcp6")):
        try:
            text = open(f"/proc/net/{name}", encoding="ascii").read()  # noqa: SIM115
        except OSError:
            continue
        out.update(e.inode for e in parse_tcp_table(text, proto) if e.state == "LISTEN")
    return out


def _still_accepting(pid: int, listening: set[int]) -> bool:
    """Does ``pid`` still hold a listening socket?  An old worker told to stop closes its
    listeners at once and only finishes the connections it has (HAProxy's soft stop,
    management.txt 4; httpd's graceful restart, stopping.html): until then a new request may
    still reach the old configuration."""
    try:
        return bool(socket_inodes(pid) & listening)
    except PermissionError:
        return False


def _wait_new_children(master: int, before: set[int], how: str, what: str) -> Outcome:
    """Wait until ``master`` has a child it did not have before the reload (the new generation
    runs the new config) and no old child still accepts connections; fail when the master exits
    or that does not happen within 10 s."""
    deadline = time.monotonic() + RELOAD_WAIT
    while time.monotonic() < deadline:
        if not alive(master):
            return Outcome(False, f"{how}: the {what} master (pid {master}) exited")
        if children(master) - before:
            listening = _listening_inodes()
            if not any(alive(p) and _still_accepting(p, listening) for p in before):
                return Outcome(True, how)
        time.sleep(0.05)
    return Outcome(False, f"{how}: no new {what} worker within {RELOAD_WAIT:g} s (did the master reject "
                          "the config?)")


@dataclass(frozen=True)
class Haproxy:
    binary: str
    conf: str
    name: ClassVar[str] = "haproxy"
    label: ClassVar[str] = "haproxy -c"

    def test(self) -> Outcome:
        return run_program([self.binary, "-c", "-f", self.conf])

    def files(self) -> list[str]:
        try:
            return haproxy_config(self.conf).files
        except OSError:
            return []

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
            return _wait_new_children(master, before, "systemctl reload haproxy", "haproxy")
        if proc.master_worker:
            os.kill(master, signal.SIGUSR2)
            return _wait_new_children(master, before, "SIGUSR2 to the haproxy master", "haproxy")
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


@dataclass(frozen=True)
class Apache:
    binary: str
    conf: str
    name: ClassVar[str] = "apache"
    label: ClassVar[str] = "apache2 -t"

    def _main(self) -> str:
        """The main config: ``conf`` itself, or the one an ``apachectl -S`` dump names."""
        cfg = self._config()
        return cfg.main_file if cfg is not None else self.conf

    def _process(self) -> ProxyProcess | None:
        return master_of("apache", self._main())

    def _config(self) -> ApacheConfig | None:
        try:
            return apache_config(self.conf)
        except OSError:
            return None

    def _argv(self, *extra: str) -> list[str]:
        """``-f CONF`` plus the running master's ``-d``/``-D``: test what a reload would read."""
        argv = [self.binary, *extra, "-f", self._main()]
        proc = self._process()
        if proc is not None:
            if proc.server_root:
                argv += ["-d", proc.server_root]
            for d in proc.defines:
                argv += ["-D", d]
        return argv

    def _env(self) -> dict[str, str]:
        """This environment plus the ServerRoot's ``envvars`` (Debian), as apachectl does."""
        env = dict(os.environ)
        cfg = self._config()
        root = cfg.server_root if cfg is not None else os.path.dirname(self.conf)
        env.update({k: v for k, v in envvars(root).items() if k not in env})
        return env

    def test(self) -> Outcome:
        return run_program(self._argv("-t"), env=self._env())

    def files(self) -> list[str]:
        cfg = self._config()
        return cfg.files if cfg is not None else []

    def dumped_files(self) -> list[str]:
        """The files httpd itself reads: ``-t -D DUMP_INCLUDES`` lists them as ``(N) PATH``
        (``(*)`` for the main file; httpd(8) ``-t -D DUMP_INCLUDES``, server/main.c); empty when
        the test fails."""
        out = run_program(self._argv("-t", "-D", "DUMP_INCLUDES"), env=self._env(), stdout_limit=None)
        if not out.ok:
            return []
        return [m.group(1) for m in _DUMPED.finditer(out.stdout)]

    def error_logs(self) -> list[str]:
        cfg = self._config()
        return [p for p in cfg.error_logs if os.path.isabs(p)] if cfg is not None else []

    def master(self) -> int | None:
        proc = self._process()
        if proc is not None:
            return proc.pid
        cfg = self._config()
        d = cfg.last("PidFile") if cfg is not None else None
        if cfg is None or d is None or not d.args:
            return None
        try:
            text = read_small(cfg.resolve(d.args[0]), encoding="ascii").strip()
        except OSError:
            return None
        return int(text) if text.isdigit() and alive(int(text)) else None

    def reload(self) -> Outcome:
        master = self.master()
        if master is None:
            return Outcome(False, f"no running Apache httpd was started with {self.conf}: not reloaded")
        before = children(master)
        if unit_main_pid("apache2.service") == master or unit_main_pid("httpd.service") == master:
            unit = "apache2.service" if unit_main_pid("apache2.service") == master else "httpd.service"
            out = run_program(["systemctl", "reload", unit])
            if not out.ok:
                return Outcome(False, f"systemctl reload {unit} failed: {out.message}")
            return _wait_new_children(master, before, f"systemctl reload {unit}", "Apache")
        os.kill(master, signal.SIGUSR1)
        return _wait_new_children(master, before, "graceful restart (SIGUSR1, = apache2 -k graceful)",
                                  "Apache")


@dataclass(frozen=True)
class Envoy:
    """Envoy: the config test is ``envoy --mode validate -c FILE`` (docs/root/operations/cli.rst);
    a static bootstrap is never re-read in place (a hot restart starts a new process with
    ``--restart-epoch N+1`` under a restarter, hot_restart.rst; xDS comes from a control
    plane), so ``reload`` refuses and says so: the change is checked, not applied live."""

    binary: str
    conf: str
    name: ClassVar[str] = "envoy"
    label: ClassVar[str] = "envoy --mode validate"

    def test(self) -> Outcome:
        return run_program([self.binary, "--mode", "validate", "-c", self.conf, "-l", "error"])

    def files(self) -> list[str]:
        return [self.conf]

    def dumped_files(self) -> list[str]:
        return self.files()

    def error_logs(self) -> list[str]:
        return []

    def master(self) -> int | None:
        return None

    def reload(self) -> Outcome:
        return Outcome(False, "Envoy does not re-read its bootstrap in place: restart it (or hot-restart "
                              "it with --restart-epoch) to apply the change")


SERVICES: dict[str, type[Nginx] | type[Haproxy] | type[Apache] | type[Envoy]] = {
    "nginx": Nginx, "haproxy": Haproxy, "apache": Apache, "envoy": Envoy,
}
"""A proxy's name (``Report.inputs["proxy"]``, ``lint``'s ``--proxy``) -> its service."""

BINARIES: dict[str, tuple[str, ...]] = {
    "nginx": ("nginx", "/usr/sbin/nginx"),
    "haproxy": ("haproxy", "/usr/sbin/haproxy"),
    "apache": ("apache2", "httpd", "/usr/sbin/apache2", "/usr/sbin/httpd"),
    "envoy": ("envoy", "/usr/local/bin/envoy"),
}
"""Where each proxy's binary is looked for (PATH first), unless given."""
