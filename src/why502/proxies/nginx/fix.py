"""nginx as ``why502 fix`` drives it (its ``Hooks.fix_service``): config test, files, master,
reload.

- Config test: ``nginx -t -c CONF`` parses the whole config with every include, exactly as a
  reload would, and exits non-zero on any error (nginx docs, "Command-line parameters":
  https://nginx.org/en/docs/switches.html).
- Reload: ``systemctl reload nginx`` when the unit runs this very master (its ``MainPID``), so
  systemd's own state stays right; else ``nginx -c CONF -s reload`` (SIGHUP to the pid in the
  config's ``pid`` file).  On SIGHUP the master starts new workers with the new configuration
  and tells the old ones to finish their requests and exit (``ngx_master_process_cycle()``,
  src/os/unix/ngx_process_cycle.c): a line an old worker writes after the reload is about the
  old configuration.
"""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass

from why502.app.fix.service import Outcome, Service, alive, children, run_program, unit_main_pid
from why502.proxies.nginx.proxy import PROXY
from why502.proxies.nginx.source import nginx_config
from why502.sources.opening import read_small

DEFAULT_PID = "/run/nginx.pid"
_DUMPED = re.compile(r"^# configuration file (/.*):$", re.MULTILINE)


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


@dataclass(frozen=True)
class Nginx(Service):
    name = PROXY.name
    label = "nginx -t"
    binaries = ("nginx", "/usr/sbin/nginx")
    test_args = ("-t", "-c", "{conf}")

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

    def read_files(self) -> list[str]:
        return nginx_config(self.conf).files

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
