"""What ``why502 fix`` needs from a proxy (``ProxyService``) and what every proxy's service
shares: run a program, find a master's children, wait for a new generation of workers; PHP-FPM.

Each proxy's own service (its config test, the files that test reads, its master, its graceful
reload) is a plug-in in its folder, ``why502/proxies/<name>/fix.py``, named by its
``Hooks.fix_service`` and found by :func:`service_class`: the transaction (``app.fix.run``) and
the write policy (``app.fix.policy``) never name a proxy.

- PHP-FPM: ``php-fpm -t -y CONF`` parses the whole config as a reload would
  (``fpm_conf_init_main()`` with ``test_conf``, sapi/fpm/fpm/fpm_conf.c); SIGUSR2 to its master
  is a graceful reload (sapi/fpm/fpm/fpm_signals.c).
- Reload under systemd: ``systemctl reload`` when a unit runs this very master (its
  ``MainPID``), so systemd's own state stays right (:func:`unit_main_pid`).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol, cast

from why502.parsers.procnet import parse_tcp_table
from why502.sources.listeners import socket_inodes
from why502.sources.opening import read_small

RELOAD_WAIT = 10.0


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str
    stdout: str = ""  # the whole standard output, when asked for (``stdout_limit=None``)


def run_program(argv: list[str], timeout: float = 60, env: dict[str, str] | None = None,
                stdout_limit: int | None = 0) -> Outcome:
    """Run ``argv``; the message is the end of its output.  ``stdout_limit=None`` keeps the
    whole standard output too (a config dump)."""
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False, env=env,
                             errors="surrogateescape")
    except (OSError, subprocess.TimeoutExpired) as err:
        return Outcome(False, f"{' '.join(argv)}: {err}")
    text = (res.stderr + res.stdout).strip()
    return Outcome(res.returncode == 0, text[-2000:], res.stdout if stdout_limit is None else "")


def unit_main_pid(unit: str) -> int | None:
    if shutil.which("systemctl") is None or not Path("/run/systemd/system").is_dir():
        return None
    out = run_program(["systemctl", "show", "-p", "MainPID", "--value", unit], timeout=10)
    return int(out.message) if out.ok and out.message.isdigit() and out.message != "0" else None


def children(pid: int) -> set[int]:
    """PIDs whose parent is ``pid`` (``/proc/PID/stat`` field 4)."""
    out: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and fields[1] == str(pid):
            out.add(int(entry))
    return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class ProxyService(Protocol):
    """What ``why502 fix`` needs from a proxy: its own config test, the files that test reads,
    its error logs (for verification), its master and its graceful reload.  One class per
    proxy, in its folder (``proxies/<name>/fix.py``), built as ``cls(binary, conf)`` and found
    by :func:`service_class`: no per-proxy branches in the transaction."""

    name: ClassVar[str]
    label: ClassVar[str]  # the config test as the output names it: "nginx -t", "haproxy -c"
    binaries: ClassVar[tuple[str, ...]]  # where its binary is looked for (PATH first), unless given

    def __init__(self, binary: str, conf: str) -> None: ...

    @property
    def binary(self) -> str: ...
    @property
    def conf(self) -> str: ...
    def test(self) -> Outcome: ...
    def files(self) -> list[str]: ...
    def dumped_files(self) -> list[str]: ...
    def error_logs(self) -> list[str]: ...
    def master(self) -> int | None: ...
    def reload(self) -> Outcome: ...


@dataclass(frozen=True)
class Service:
    """What every proxy's fix service is built from and declares (``ProxyService``): built as
    ``cls(binary, conf)``; ``name`` is its proxy's registry name (``PROXY.name``), ``label`` its
    config test as the output names it, ``binaries`` where its binary is looked for.  The config
    test is the binary run with ``test_args`` (``{conf}``: the config file) unless the service
    overrides :meth:`test`; a proxy's class adds only what differs."""

    binary: str
    conf: str
    name: ClassVar[str]
    label: ClassVar[str]
    binaries: ClassVar[tuple[str, ...]]
    test_args: ClassVar[tuple[str, ...]] = ()

    def test(self) -> Outcome:
        return run_program([self.binary, *(a.format(conf=self.conf) for a in self.test_args)])

    def read_files(self) -> list[str]:
        """The main config and every file it includes, as why502's parser reads them (a proxy's
        service reads its config here); may raise ``OSError``."""
        raise NotImplementedError(f"{type(self).__name__} reads no config files")

    def files(self) -> list[str]:
        """:meth:`read_files`, or none when the config cannot be read (``OSError``): the one
        ``try`` nginx's and HAProxy's services each had (issue 23)."""
        try:
            return self.read_files()
        except OSError:
            return []


@dataclass(frozen=True)
class OneFile(Service):
    """For a proxy whose config is one file (no include dump: Envoy's bootstrap, a Caddyfile)
    and whose log lines are not read to verify a change: the parts of ``ProxyService`` it shares."""

    def files(self) -> list[str]:
        return [self.conf]

    def dumped_files(self) -> list[str]:
        return self.files()

    def error_logs(self) -> list[str]:
        return []


@dataclass(frozen=True)
class PhpFpm:
    binary: str
    conf: str

    def test(self) -> Outcome:
        """``php-fpm -t``, with ``-R`` only when the running master was started with it (pools
        running as root are refused without it, ``fpm_unix_resolve_socket_premissions()`` /
        ``fpm_unix_conf_wp()``, sapi/fpm/fpm/fpm_unix.c): test what a reload would accept."""
        argv = [self.binary, "-t", "-y", self.conf]
        master = self.master()
        if master is not None:
            try:
                with open(f"/proc/{master}/cmdline", "rb") as fh:
                    args = fh.read().split(b"\0")
            except OSError:
                args = []
            if b"-R" in args or b"--allow-to-run-as-root" in args:
                argv.insert(1, "-R")
        return run_program(argv)

    def files(self) -> list[str]:
        """php-fpm.conf and every pool file it includes."""
        from why502.sources.fpm import load_fpm_config

        return [self.conf, *load_fpm_config(self.conf).files]

    def master(self) -> int | None:
        try:
            text = read_small(self.conf, 4 << 20)
        except OSError:
            return None
        m = re.search(r"^[^\S\n]*pid[^\S\n]*=[^\S\n]*(\S+)", text, re.MULTILINE)
        if not m:
            return None
        try:
            pid = read_small(m.group(1), encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return int(pid) if pid.isdigit() and alive(int(pid)) else None

    def reload(self) -> Outcome:
        master = self.master()
        if master is None:
            return Outcome(False, "php-fpm is not running (no live pid in its pid file): not reloaded")
        before = children(master)
        os.kill(master, signal.SIGUSR2)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            now = children(master) if alive(master) else set()
            if now and now != before and not (now & before):
                return Outcome(True, "php-fpm reloaded (SIGUSR2)")
            time.sleep(0.05)
        return Outcome(False, "php-fpm did not restart its workers within 10 s")


def listening_inodes(port: int | None = None) -> set[int]:
    """Inodes of every TCP socket in LISTEN state (``/proc/net/tcp``, ``tcp6``), on ``port``
    only when given."""
    out: set[int] = set()
    for name, proto in (("tcp", "tcp"), ("tcp6", "tcp6")):
        try:
            text = open(f"/proc/net/{name}", encoding="ascii").read()  # noqa: SIM115
        except OSError:
            continue
        out.update(e.inode for e in parse_tcp_table(text, proto)
                   if e.state == "LISTEN" and port in (None, e.local_port))
    return out


def holds_listener(pid: int, listening: set[int]) -> bool:
    """Does ``pid`` hold one of the ``listening`` sockets (inodes)?"""
    try:
        return bool(socket_inodes(pid) & listening)
    except PermissionError:
        return False


def wait_new_children(master: int, before: set[int], how: str, what: str) -> Outcome:
    """Wait until ``master`` has a child it did not have before the reload (the new generation
    runs the new config) and no old child still accepts connections; fail when the master exits
    or that does not happen within 10 s."""
    deadline = time.monotonic() + RELOAD_WAIT
    while time.monotonic() < deadline:
        if not alive(master):
            return Outcome(False, f"{how}: the {what} master (pid {master}) exited")
        if children(master) - before:
            # an old worker told to stop closes its listeners at once and only finishes the
            # connections it has (HAProxy's soft stop, management.txt 4; httpd's graceful
            # restart, stopping.html): until then a new request may reach the old configuration
            listening = listening_inodes()
            if not any(alive(p) and holds_listener(p, listening) for p in before):
                return Outcome(True, how)
        time.sleep(0.05)
    return Outcome(False, f"{how}: no new {what} worker within {RELOAD_WAIT:g} s (did the master reject "
                          "the config?)")


def service_class(proxy: str) -> type[ProxyService] | None:
    """The fix service of the proxy called ``proxy`` (its ``Hooks.fix_service``), or None when
    it has none or is not a proxy why502 reads."""
    from why502.proxies import PROXIES
    from why502.proxies.base import resolve

    p = PROXIES.get(proxy)
    if p is None or not p.hooks.fix_service:
        return None
    return cast("type[ProxyService]", resolve(p.hooks.fix_service))


def fixable() -> tuple[str, ...]:
    """The proxies ``why502 fix`` changes (a fix service in their ``Hooks``), in the registry's
    order."""
    from why502.proxies import PROXIES

    return tuple(name for name, p in PROXIES.items() if p.hooks.fix_service)


def find_binary(name: str, *candidates: str) -> str | None:
    for c in (name, *candidates):
        found = shutil.which(c) or (c if os.path.isabs(c) and os.access(c, os.X_OK) else None)
        if found:
            return found
    return None
