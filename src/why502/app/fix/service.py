"""The proxy and PHP-FPM as ``why502 fix`` drives them: test a config, reload, find the workers.

- Config test: ``nginx -t -c CONF`` parses the whole config with every include, exactly as a
  reload would, and exits non-zero on any error (nginx docs, "Command-line parameters":
  https://nginx.org/en/docs/switches.html); ``php-fpm -t -y CONF`` does the same for PHP-FPM
  (``fpm_conf_init_main()`` with ``test_conf``, sapi/fpm/fpm/fpm_conf.c).
- Reload: ``systemctl reload`` when a systemd unit runs this very master (its ``MainPID``), so
  systemd's own state stays right; else ``nginx -c CONF -s reload`` (SIGHUP to the pid in the
  config's ``pid`` file) and SIGUSR2 to PHP-FPM's master (graceful reload,
  sapi/fpm/fpm/fpm_signals.c).  On SIGHUP the nginx master starts new workers with the new
  configuration and tells the old ones to finish their requests and exit
  (``ngx_master_process_cycle()``, src/os/unix/ngx_process_cycle.c): a line an old worker writes
  after the reload is about the old configuration.
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
from typing import ClassVar, Protocol

from why502.sources.nginx import nginx_config
from why502.sources.opening import read_small

DEFAULT_PID = "/run/nginx.pid"
_DUMPED = re.compile(r"^# configuration file (/.*):$", re.MULTILINE)


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


def retired(pid: int) -> bool:
    """An old nginx worker no longer takes new connections: it exited, or it was told to quit
    and closed its listening sockets -- its title then reads ``worker process is shutting down``
    (``ngx_worker_process_cycle()``, src/os/unix/ngx_process_cycle.c).  Until then, a request sent
    right after the reload may still reach an old worker, with the old configuration."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            title = fh.read()
    except OSError:
        return True
    return not title or b"shutting down" in title or b"worker process" not in title


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
    proxy (``Nginx`` here, ``Haproxy`` and ``Apache`` in ``app.fix.proxies``), picked by name in
    ``app.fix.proxies.SERVICES``: no per-proxy branches in the transaction."""

    name: ClassVar[str]
    label: ClassVar[str]  # the config test as the output names it: "nginx -t", "haproxy -c"

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
class Nginx:
    binary: str
    conf: str
    name: ClassVar[str] = "nginx"
    label: ClassVar[str] = "nginx -t"

    def test(self) -> Outcome:
        return run_program([self.binary, "-t", "-c", self.conf])

    def _built_with(self, option: str) -> str | None:
        """A ``./configure`` option of this binary (``nginx -V``: ``--prefix``, ``--pid-path``)."""
        out = run_program([self.binary, "-V"], timeout=10)
        m = re.search(rf"{option}=(\S+)", out.message)
        return m.group(1) if m else None

    def pid_file(self) -> str:
        """The ``pid`` of the config; relative to nginx's prefix, as nginx reads it
        (``ngx_conf_full_name()``); unset: the compiled-in ``--pid-path``."""
        try:
            cfg = nginx_config(self.conf)
        except OSError:
            cfg = None
        d = next(iter(cfg.main.get("pid")), None) if cfg is not None else None
        if d is None or not d.args:
            return self._built_with("--pid-path") or DEFAULT_PID
        if os.path.isabs(d.args[0]):
            return d.args[0]
        return os.path.join(self._built_with("--prefix") or "/usr/local/nginx", d.args[0])

    def files(self) -> list[str]:
        """The main config and every file it includes, as why502's parser reads them."""
        try:
            return nginx_config(self.conf).files
        except OSError:
            return []

    def dumped_files(self) -> list[str]:
        """The files nginx itself reads for this config: ``nginx -T`` prints each as
        ``# configuration file PATH:`` (``ngx_conf_parse()`` with ``ngx_dump_config``,
        src/core/ngx_conf_file.c); empty when the test fails or the binary prints no dump."""
        out = run_program([self.binary, "-T", "-c", self.conf], stdout_limit=None)
        if not out.ok:
            return []
        return [m.group(1) for m in _DUMPED.finditer(out.stdout)]

    def error_logs(self) -> list[str]:
        try:
            cfg = nginx_config(self.conf)
        except OSError:
            return []
        return sorted({t.path for t in cfg.error_logs if t.path.startswith("/")})

    def master(self) -> int | None:
        try:
            text = read_small(self.pid_file(), encoding="ascii").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return int(text) if text.isdigit() and alive(int(text)) else None

    def reload(self) -> Outcome:
        """Reload and wait (up to 10 s) until the master has started new workers and every old
        one stopped taking connections: only then does a new request meet the new config."""
        master = self.master()
        if master is None:
            return Outcome(False, "nginx is not running (no live pid in its pid file): not reloaded")
        before = children(master)
        if unit_main_pid("nginx.service") == master:
            out = run_program(["systemctl", "reload", "nginx.service"])
            how = "systemctl reload nginx"
        else:
            out = run_program([self.binary, "-c", self.conf, "-s", "reload"])
            how = "nginx -s reload"
        if not out.ok:
            return Outcome(False, f"{how} failed: {out.message}")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if children(master) - before and all(retired(pid) for pid in before):
                return Outcome(True, how)
            if not alive(master):
                return Outcome(False, f"{how}: the nginx master (pid {master}) exited")
            time.sleep(0.05)
        return Outcome(False, f"{how}: no new worker within 10 s (did the master reject the config?)")


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
        m = re.search(r"^\s*pid\s*=\s*(\S+)", text, re.MULTILINE)
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


def find_binary(name: str, *candidates: str) -> str | None:
    for c in (name, *candidates):
        found = shutil.which(c) or (c if os.path.isabs(c) and os.access(c, os.X_OK) else None)
        if found:
            return found
    return None
