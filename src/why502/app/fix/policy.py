"""What ``why502 fix`` may write: decided from the running proxy and the command line, never
from the report.

A report is a file people pass around, attach to tickets and download from CI: the config it
names (``inputs.nginx_conf``, ``inputs.config``, ``inputs.discovered``) and the file each fix
names are claims.  Applying one must not write a file merely because the report says so.

The proxy's main config is, in this order:

1. the one the command line names (``--config``/``--nginx-conf``, ``--lint FILE``), or the one
   this very run found on this host (``fix --lint`` or ``fix`` without REPORT, whose diagnosis
   runs now; when a running master uses that one, it must be root's or this user's);
2. else the report's, only when a running master of that proxy was started with it (its ``-c``
   or ``-f``, or the compiled-in default: ``sources.proxyprocs.master_of``) and that master
   belongs to root or to this user (a proxy another user runs says nothing about what this
   user may change).

A report's config that no running proxy uses and the command line does not name is refused
(exit 3, nothing touched).  The files that may be written are the files of that config as the
proxy itself reports them (``nginx -T``, ``apache2 -t -D DUMP_INCLUDES``; HAProxy has no
include, its files are its ``-f`` arguments), why502's parser standing in only when the proxy
prints no dump (a config that fails its test now, a stand-in binary); plus php-fpm's config
and pools when ``--fpm-conf`` names its main file.  ``Writer`` enforces the set: it refuses
every other path.  ``--undo`` and crash recovery write only the files their journal recorded
(which this policy allowed when the change was applied; ``journal.load_all`` validates it).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

from why502.app.fix.service import PhpFpm, service_class
from why502.app.fix.state import ChangeSet
from why502.app.fix.writer import Writer
from why502.errors import InputError
from why502.sources.proxyprocs import master_of


@dataclass(frozen=True)
class Scope:
    """The files one run may write, and what they are (for the refusal)."""

    files: frozenset[str]
    what: str

    def writer(self, say: Callable[[str], None] | None = None) -> Writer:
        return Writer(self.files, self.what, say=say)


def _trusted_master(pid: int) -> bool:
    """Is the process root's or this user's (the owner of ``/proc/PID``)?"""
    try:
        uid = os.stat(f"/proc/{pid}").st_uid
    except OSError:
        return False
    return uid in (0, os.geteuid())


def main_config(proxy: str, named: str | None, found: str | None,
                claimed: str | None) -> tuple[str | None, str]:
    """The proxy's main config and where it comes from: ``named`` on the command line, ``found``
    on this host by this run, or the report's ``claimed`` one when a running master uses it."""
    if named:
        return named, "named on the command line"
    if found:
        master = master_of(proxy, found)
        if master is not None and not _trusted_master(master.pid):
            raise InputError(f"{found} is the config of a {proxy} (pid {master.pid}) that neither root nor "
                             "this user runs: nothing applied (to change it anyway: --config FILE)")
        return found, "found on this host"
    if not claimed:
        return None, ""
    master = master_of(proxy, claimed)
    if master is None or not _trusted_master(master.pid):
        raise InputError(f"the report names {claimed} as {proxy}'s config, but no running {proxy} of root "
                         "or of this user uses it and the command line does not name it: nothing applied "
                         "(if it is the config, say so: --config FILE)")
    return claimed, f"the running {proxy}, pid {master.pid}"


def scope(proxy: str, binary: str | None, conf: str | None, source: str, fpm_conf: str | None) -> Scope:
    """The files of ``conf`` as ``proxy``'s own dump lists them, and of php-fpm's ``fpm_conf``."""
    files: set[str] = set()
    parts: list[str] = []
    make = service_class(proxy)
    if binary and conf and make is not None:
        svc = make(binary, conf)
        files.update(svc.dumped_files() or svc.files())
        parts.append(f"the config that {svc.label} of {conf} reads ({source})")
    if fpm_conf:
        files.update(PhpFpm("php-fpm", fpm_conf).files())
        parts.append(f"php-fpm's config {fpm_conf}")
    return Scope(frozenset(os.path.realpath(f) for f in files),
                 " or ".join(parts) or "any config named on the command line or used by a running proxy")


def recorded(cs: ChangeSet) -> Scope:
    """``--undo`` and recovery: the files the (validated) journal says this change set wrote."""
    return Scope(frozenset(os.path.realpath(r.path) for r in cs.files), f"change set {cs.id}")
