"""The lab runtime: a real nginx, real PHP-FPM pools and real backends in one temp dir.

Typical use::

    with Stack() as stack:
        app = stack.add_backend("slow", delay=3)
        stack.start_nginx(f"server {{ listen {stack.listen}; "
                          f"location / {{ proxy_pass http://{app.address}; }} }}")
        stack.request("/")
        print(stack.paths.error_log.read_text())

This package is a layer above ``app`` (import-linter ``layers`` contract) and may use subprocess,
socket and the file system freely: it is a test and learning harness, not part of diagnosis.
Its modules, one job each: ``stack`` (the :class:`Stack` and its lifecycle), ``machine`` (what
this machine offers), ``processes`` (start, wait, stop by PID), ``netns``, ``cgroups``, ``tls``,
``client`` (the HTTP client), ``paths`` (the temp dir layout), the launchers ``fpm``,
``backends``, ``supervisor``, and ``plugins``, which reaches each proxy's own launcher (its
folder's ``lab.py``, ``Hooks.lab_runtime``).  The names below are the public API.
"""

from __future__ import annotations

from why502.lab.runtime.backends import Backend
from why502.lab.runtime.client import Response
from why502.lab.runtime.errors import LabError, LabSkip
from why502.lab.runtime.fpm import FpmPool
from why502.lab.runtime.machine import (
    find_nginx,
    find_php_fpm,
    free_port,
    ipv6_loopback_available,
    is_root,
    netns_unavailable,
    program_version,
)
from why502.lab.runtime.netns import NetNamespace
from why502.lab.runtime.paths import StackPaths
from why502.lab.runtime.processes import Process
from why502.lab.runtime.stack import Stack

__all__ = [
    "Backend",
    "FpmPool",
    "LabError",
    "LabSkip",
    "NetNamespace",
    "Process",
    "Response",
    "Stack",
    "StackPaths",
    "find_nginx",
    "find_php_fpm",
    "free_port",
    "ipv6_loopback_available",
    "is_root",
    "netns_unavailable",
    "program_version",
]
