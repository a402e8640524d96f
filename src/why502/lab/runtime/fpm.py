"""Run PHP-FPM in a lab stack: write ``php-fpm.conf`` and its pools, start the master in the
foreground (``-F``), and wait until every pool accepts connections.

One PHP-FPM master per stack, configured once with every pool (a pool added later needs a
restart, as in production).  Workers log to FastCGI stderr (``php_admin_value[error_log]`` empty,
``catch_workers_output``), so nginx's error log carries ``FastCGI sent in stderr`` lines the way
Debian's defaults produce them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from why502.lab.runtime import machine
from why502.lab.runtime.errors import LabSkip
from why502.lab.runtime.processes import Process, can_connect, wait_for

if TYPE_CHECKING:
    from why502.lab.runtime.stack import Stack


@dataclass
class FpmPool:
    """A PHP-FPM pool: ``listen`` is a unix socket path or ``127.0.0.1:PORT``."""

    name: str
    listen: str
    conf: Path
    options: dict[str, str] = field(default_factory=dict)

    @property
    def fastcgi_pass(self) -> str:
        """The ``fastcgi_pass`` argument that reaches this pool."""
        return self.listen if ":" in self.listen and not self.listen.startswith("/") \
            else f"unix:{self.listen}"


def add_php_fpm(stack: Stack, pool_options: dict[str, str] | None = None, *, name: str = "www",
                tcp: bool = False, scripts: dict[str, str] | None = None,
                log_level: str = "notice", start: bool = True,
                global_options: dict[str, str] | None = None) -> FpmPool:
    """Write ``php-fpm.conf`` + ``php-fpm.d/<name>.conf`` and start PHP-FPM in the foreground.

    The pool listens on ``run/<name>.sock`` (or ``127.0.0.1:PORT`` with ``tcp``) unless
    ``pool_options`` sets ``listen``.  ``scripts`` are written to ``www/``; ``global_options``
    go to the ``[global]`` section.
    """
    if machine.find_php_fpm() is None:
        raise LabSkip("php-fpm is not installed (apt-get install php-fpm)")
    p = stack.p
    for fname, body in (scripts or {}).items():
        stack.write_file(f"www/{fname}", body)
    options = {
        "listen": f"127.0.0.1:{machine.free_port()}" if tcp else str(p.run / f"{name}.sock"),
        "pm": "static",
        "pm.max_children": "2",
        "catch_workers_output": "yes",
        "decorate_workers_output": "no",
        "clear_env": "no",
        "php_admin_value[error_log]": "",
        "php_admin_flag[log_errors]": "on",
        "php_admin_flag[display_errors]": "off",
    }
    if not machine.is_root():
        options.pop("listen.owner", None)
    options.update(pool_options or {})
    conf = p.fpm_pool_dir / f"{name}.conf"
    lines = [f"[{name}]"]
    if machine.is_root() and "user" not in options:
        options["user"] = "root"
        options["group"] = "root"
    lines += [f"{k} = {v}" for k, v in options.items() if v != ""]
    # php_admin_value[error_log] = "" means "no file": PHP then sends errors to FastCGI stderr.
    conf.write_text("\n".join(lines) + "\n")
    pool = FpmPool(name=name, listen=options["listen"], conf=conf, options=options)
    stack.pools[name] = pool
    p.fpm_conf.write_text(
        "[global]\n"
        f"pid = {p.run / 'php-fpm.pid'}\n"
        f"error_log = {p.fpm_log}\n"
        f"log_level = {log_level}\n"
        "daemonize = no\n"
        "process_control_timeout = 2\n"
        + "".join(f"{k} = {v}\n" for k, v in (global_options or {}).items())
        + f"include = {p.fpm_pool_dir}/*.conf\n"
    )
    if start:
        start_php_fpm(stack)
    return pool


def start_php_fpm(stack: Stack) -> Process:
    """(Re)start the PHP-FPM master on the written config; returns once every pool accepts."""
    fpm = machine.find_php_fpm()
    if fpm is None:
        raise LabSkip("php-fpm is not installed (apt-get install php-fpm)")
    if stack.fpm is not None and stack.fpm.alive():
        stack.stop_process(stack.fpm)
    argv = [fpm, "-F", "-y", str(stack.p.fpm_conf)]
    if machine.is_root():
        argv.insert(1, "-R")
    proc = stack.spawn("php-fpm", argv)
    stack.fpm = proc

    def ready() -> bool:
        with stack.inside():
            return all(can_connect(pool.listen) for pool in stack.pools.values())

    wait_for(ready, proc, "php-fpm", log=stack.p.fpm_log)
    return proc
