"""Apache's lab runtime (the plug-in of ``why502.lab``, reached through ``Hooks.lab_runtime``):
write a complete config with a temp ``ServerRoot``, check it with ``apache2 -t``, start it in the
foreground (``-DFOREGROUND``) and stop it by PID.

The config loads only what proxying needs (the event MPM, mod_proxy with http/fcgi/balancer,
mod_log_config for the access log) from Debian's module directory, listens on the stack's proxy
address (where ``stack.request`` sends), logs errors at ``LogLevel warn`` to
``logs/apache-error.log`` and accesses with ``%D`` (microseconds) to ``logs/apache-access.log``.
As root, the children run as ``www-data`` (Debian's ``APACHE_RUN_USER``), so the temp root is
made traversable for them.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from why502.lab.runtime.errors import LabError, LabSkip
from why502.lab.runtime.machine import find_program, is_root
from why502.lab.runtime.processes import Process, can_connect, wait_for

if TYPE_CHECKING:
    from why502.lab.runtime.stack import Stack

CANDIDATES = ("/usr/sbin/apache2", "/usr/sbin/httpd", "/usr/local/apache2/bin/httpd")
MODULE_DIRS = ("/usr/lib/apache2/modules", "/usr/lib64/httpd/modules", "/usr/local/apache2/modules")
MODULES = ("mpm_event", "authz_core", "slotmem_shm", "proxy", "proxy_http",
           "proxy_fcgi", "proxy_balancer", "lbmethod_byrequests")
ACCESS_FORMAT = '"%h %l %u %t \\"%r\\" %>s %b %D"'
MISSING = "apache2 is not installed (apt-get install apache2)"


def find_apache() -> str | None:
    """``$WHY502_APACHE2``, Debian's ``apache2``, then ``httpd``."""
    return find_program("apache2", CANDIDATES)


def unavailable() -> str | None:
    """Why this machine cannot run the lab's Apache (None: it can)."""
    return None if find_apache() else MISSING


def apache_paths(stack: Stack) -> tuple[Path, Path, Path]:
    """(config, error log, access log) of the stack's Apache."""
    root = stack.p.root
    return root / "apache2.conf", root / "logs" / "apache-error.log", root / "logs" / "apache-access.log"


def apache_config(stack: Stack, body: str, modules_dir: str, modules: tuple[str, ...] = ()) -> str:
    """The whole config: ``MODULES`` and ``modules`` (more of Debian's, e.g. ``ssl`` for
    ``SSLProxyEngine``) loaded, ``body`` last."""
    _conf, error_log, access_log = apache_paths(stack)
    root = stack.p.root
    user = "User www-data\nGroup www-data\n" if is_root() else ""
    return (
        "# why502 lab: Apache httpd in front of lab backends\n"
        f"ServerRoot {root}\nServerName localhost\nListen {stack.listen}\n"
        f"PidFile {root}/run/apache2.pid\nDefaultRuntimeDir {root}/run\n"
        f"ErrorLog {error_log}\nLogLevel warn\n"
        + "".join(f"LoadModule {m}_module {modules_dir}/mod_{m}.so\n" for m in (*MODULES, *modules))
        + user
        + f"LogFormat {ACCESS_FORMAT} timed\nCustomLog {access_log} timed\n"
        + f"DocumentRoot {root}/www\n" + body.strip() + "\n")


def start_apache(stack: Stack, body: str, modules: tuple[str, ...] = ()) -> Process:
    """Write, check (``apache2 -t -f``) and start Apache; wait until it accepts connections.
    ``modules``: more modules to load than ``MODULES``."""
    binary = find_apache()
    if binary is None:
        raise LabSkip(MISSING)
    mods = next((d for d in MODULE_DIRS if os.path.isdir(d)), None)
    if mods is None:
        raise LabSkip("Apache's module directory was not found")
    root = stack.p.root
    os.chmod(root, 0o755)  # noqa: S103 - the children (www-data) reach sockets and files in it
    (root / "www").mkdir(exist_ok=True)
    conf, _err, _acc = apache_paths(stack)
    conf.write_text(apache_config(stack, body, mods, modules))
    check = subprocess.run([binary, "-t", "-f", str(conf)], capture_output=True, text=True,
                           timeout=15, check=False)
    if check.returncode != 0:
        raise LabError(f"apache2 -t rejected the lab config: {(check.stderr or check.stdout)[-400:]}")
    proc = stack.spawn("apache2", [binary, "-f", str(conf), "-DFOREGROUND"])
    pidfile = root / "run" / "apache2.pid"
    wait_for(lambda: pidfile.exists() and can_connect(stack.listen), proc, "apache2", log=_err)
    stack.proxy = proc
    return proc
