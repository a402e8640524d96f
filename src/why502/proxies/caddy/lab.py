"""Caddy's lab runtime (the plug-in of ``why502.lab``, reached through ``Hooks.lab_runtime``): a
real Caddy (Debian's package) on the stack's loopback port, its admin API on another random
loopback port, its state under the stack's temp dir, stopped by its PID with the stack.

Caddy writes its own log (the ``http.log.error`` and ``http.handlers.reverse_proxy`` lines with the
upstream's Go error) to stderr -- what ``journalctl -u caddy`` shows on Debian -- kept in
``logs/caddy.out``; the site's access log (``log { output file ... }``, JSON by default for a file,
caddyserver.com/docs/caddyfile/directives/log) in ``logs/caddy-access.log``.
"""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Sequence
from pathlib import Path

from why502.lab.runtime import LabSkip, Stack, free_port
from why502.lab.runtime.processes import Process, can_connect, wait_for

MISSING = "caddy is not installed (apt-get install caddy)"


def unavailable() -> str | None:
    """Why this machine cannot run the lab's Caddy (None: it can)."""
    return None if shutil.which("caddy") else MISSING


def caddy_paths(stack: Stack) -> tuple[Path, Path, Path]:
    """(Caddyfile, Caddy's own log, the access log) of the stack's Caddy."""
    root = stack.p.root
    return root / "Caddyfile", root / "logs" / "caddy.out", root / "logs" / "caddy-access.log"


def caddyfile(stack: Stack, site: str, *, global_options: str = "", admin_port: int = 0) -> str:
    """A complete Caddyfile: the global block (admin on loopback, no automatic HTTPS) and one
    ``http://`` site on the stack's port, bound to 127.0.0.1 only (``bind``), with an access log
    and ``site`` inside.  The site address names no host, so any Host header matches it."""
    _conf, _log, access = caddy_paths(stack)
    port = stack.listen.rpartition(":")[2]
    extra = textwrap.indent(textwrap.dedent(global_options).strip(), "\t")
    body = textwrap.indent(textwrap.dedent(site).strip(), "\t")
    return (f"{{\n\tadmin 127.0.0.1:{admin_port or free_port()}\n\tauto_https off\n"
            + (f"{extra}\n" if extra else "") + "}\n\n"
            f"http://:{port} {{\n\tbind 127.0.0.1\n\tlog {{\n\t\toutput file {access}\n\t}}\n{body}\n}}\n")


def start_caddy(stack: Stack, site: str, *, global_options: str = "") -> Process:
    """Write the Caddyfile (:func:`caddyfile`) and run ``caddy run --adapter caddyfile`` in the
    foreground; wait (bounded) until it accepts on ``stack.listen``."""
    binary = shutil.which("caddy")
    if binary is None:
        raise LabSkip(MISSING)
    conf, log, _access = caddy_paths(stack)
    conf.write_text(caddyfile(stack, site, global_options=global_options))
    home = stack.p.root
    # XDG_*: Caddy's autosave.json and storage under the temp dir, never the user's home
    proc = stack.spawn("caddy", ["env", f"XDG_CONFIG_HOME={home}", f"XDG_DATA_HOME={home}", binary,
                                 "run", "--config", str(conf), "--adapter", "caddyfile"])
    wait_for(lambda: can_connect(stack.listen), proc, "caddy", log=log)
    stack.proxy = proc
    return proc


def front(stack: Stack, target: str, *, timeout: float, fastcgi_root: Path | None = None,
          tls: bool = False, more: Sequence[str] = (), fail_duration: float = 0.0,
          dial_timeout: float = 0.0, transport_extra: str = "") -> tuple[Path, Path | None, Path]:
    """Caddy alone in front of one ``target`` (``host:port``, ``[::1]:port`` or ``unix:PATH``):
    ``reverse_proxy`` over HTTP with ``response_header_timeout`` ``timeout``, or, with
    ``fastcgi_root``, ``php_fastcgi`` to a PHP-FPM pool with ``read_timeout`` ``timeout``
    (caddyserver.com/docs/caddyfile/directives/reverse_proxy, .../php_fastcgi; a unix upstream is
    written ``unix//PATH``).  Caddy's default transport keeps idle upstream connections (2 min)
    and does not retry (``lb_try_duration`` 0).  ``tls``: the transport speaks TLS to the
    upstream (``transport http { tls }``, the certificate not verified:
    ``tls_insecure_skip_verify``), whatever the upstream speaks.  ``more``: the group's other
    upstreams; ``fail_duration`` > 0: Caddy's passive health check (``fail_duration``, with
    ``max_fails`` 1: one failed request takes an upstream out for that long; with none left
    Caddy answers 503 "no upstreams available", reverseproxy.go).  ``dial_timeout`` > 0: how long
    a connect may take (the transport's ``dial_timeout``, 3 s by default).  ``transport_extra``:
    more lines of the transport block (``max_response_header 16KB``).  What the lab's fault
    matrix (``why502.lab.matrix``) starts for a cell.

    Returns (Caddyfile, Caddy's own log, the access log)."""
    where = " ".join(f"unix/{t.removeprefix('unix:')}" if t.startswith("unix:") else t
                     for t in (target, *more))
    dial = f"\tdial_timeout {dial_timeout:g}s\n" if dial_timeout else ""
    dial += "".join(f"\t{ln.strip()}\n" for ln in transport_extra.splitlines() if ln.strip())
    passive = f"\tfail_duration {fail_duration:g}s\n\tmax_fails 1\n" if fail_duration else ""
    if fastcgi_root is not None:
        site = (f"root * {fastcgi_root}\nphp_fastcgi {where} {{\n\tread_timeout {timeout:g}s\n{dial}}}\n")
    else:
        tls_lines = "\t\ttls\n\t\ttls_insecure_skip_verify\n" if tls else ""
        site = (f"reverse_proxy {where} {{\n{passive}\ttransport http {{\n"
                f"\t\tresponse_header_timeout {timeout:g}s\n\t{dial}{tls_lines}\t}}\n}}\n")
    start_caddy(stack, site)
    return caddy_paths(stack)
