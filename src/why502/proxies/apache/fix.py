"""Apache httpd as ``why502 fix`` drives it (its ``Hooks.fix_service``; stopping.html,
"Graceful Restart").

The config test is ``apache2 -t -f FILE`` with the ``-d``/``-D`` of the running master
(``apachectl configtest`` does the same after sourcing Debian's ``envvars``, which set
``${APACHE_RUN_DIR}`` and friends: they are read here too).  A graceful restart is SIGUSR1 to the
parent (what ``apache2 -k graceful`` sends to the pid of ``PidFile``, ``ap_signal_server()`` in
server/mpm_unix.c): it re-reads its config and replaces its children as they finish.  Under
systemd ``systemctl reload apache2``.
"""

from __future__ import annotations

import os
import re
import signal
from dataclasses import dataclass

from why502.app.fix.service import (
    Outcome,
    Service,
    alive,
    children,
    run_program,
    unit_main_pid,
    wait_new_children,
)
from why502.proxies.apache.config import ApacheConfig, envvars
from why502.proxies.apache.proxy import PROXY
from why502.proxies.apache.source import apache_config
from why502.sources.opening import read_small
from why502.sources.proxyprocs import ProxyProcess, master_of

_DUMPED = re.compile(r"^[^\S\n]*\([*\d]+\) (/.*?)\s*$", re.MULTILINE)


@dataclass(frozen=True)
class Apache(Service):
    name = PROXY.name
    label = "apache2 -t"
    binaries = ("apache2", "httpd", "/usr/sbin/apache2", "/usr/sbin/httpd")

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
            return wait_new_children(master, before, f"systemctl reload {unit}", "Apache")
        os.kill(master, signal.SIGUSR1)
        return wait_new_children(master, before, "graceful restart (SIGUSR1, = apache2 -k graceful)",
                                  "Apache")
