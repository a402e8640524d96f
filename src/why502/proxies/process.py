"""What a running master's command line says about its config, in one record for every proxy.

Each proxy reads its own flags (``proxies/<name>/process.py``, named by ``Hooks.master_args``):
nginx's ``-c``/``-p`` of a retitled master, Apache's ``-f``/``-d``/``-D``, HAProxy's ``-f``/
``-W``/``-p``.  ``sources.proxyprocs`` reads ``/proc`` and asks the hook; the hooks are pure
(the working directory is read by the caller), so they are tested on argv alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class MasterArgs:
    """A master's command line, read (``ProxyProcess``'s fields of the same names)."""

    argv: tuple[str, ...]  # the original argv (nginx's retitled master: what follows its title)
    config: str | None  # the main config (absolute when the command line allows)
    server_root: str | None = None  # httpd -d
    defines: tuple[str, ...] = ()  # httpd -D NAME
    master_worker: bool = False  # haproxy -W / -Ws
    pid_file: str | None = None  # haproxy -p
    prefix: str | None = None  # nginx -p PREFIX (absolute); None: the compiled-in prefix
    worker: bool = False  # not a master: a worker that names itself so (nginx's "worker process")
    more_configs: tuple[str, ...] = ()  # haproxy: the -f after the first, read in order


def option(argv: list[str], flag: str) -> list[str]:
    """Values of ``flag VALUE`` and ``flagVALUE`` in ``argv`` (the short options of getopt-like
    parsers: nginx's ``ngx_get_options``, httpd's ``apr_getopt``, HAProxy's own loop)."""
    out: list[str] = []
    for i, a in enumerate(argv):
        if a == flag and i + 1 < len(argv):
            out.append(argv[i + 1])
        elif a.startswith(flag) and len(a) > len(flag) and flag in ("-f", "-d", "-D", "-c", "-p"):
            out.append(a[len(flag):])
    return out


def absolute(path: str, cwd: str | None, base: str | None = None) -> str:
    """``path`` as the process meant it: relative to ``base`` (httpd's ServerRoot) or to the
    process's working directory ``cwd`` (``/proc/PID/cwd``; None: not readable, kept as it is)."""
    if os.path.isabs(path):
        return path
    if base:
        return os.path.join(base, path)
    return os.path.join(cwd, path) if cwd else path
