"""What scenarios of every family share: the nginx server and PHP location blocks, the PHP
scripts the PHP-FPM scenarios serve, and a loopback port where nothing listens."""

from __future__ import annotations

from typing import TYPE_CHECKING

from why502.lab.runtime import Stack
from why502.lab.runtime.appservers import start_gunicorn
from why502.lab.runtime.machine import reserve_port
from why502.lab.runtime.plugins import indent

if TYPE_CHECKING:
    from why502.lab.scenarios.model import ScenarioRun

SERVER_NAME = "lab.example"

PHP_SCRIPTS = {
    "index.php": "<?php\necho \"ok from php\\n\";\n",
    "sleep.php": "<?php\nusleep((int)($_GET['ms'] ?? 2000) * 1000);\necho \"done\\n\";\n",
    "fatal.php": "<?php\n// a deploy removed the helper library\nrender_invoice_pdf($_GET['id'] ?? 1);\n",
    "maintenance.php": "<?php\n// the app's own maintenance switch\nhttp_response_code(503);\n"
                       "header('Retry-After: 120');\necho \"down for maintenance\\n\";\n",
    "segv.php": "<?php\n// a buggy extension segfaults the worker; posix_kill mimics it\n"
                "posix_kill(getmypid(), 11);\nsleep(1);\necho \"unreachable\\n\";\n",
}


def server(stack: Stack, body: str) -> str:
    """A server block on the stack's port with ``body`` inside."""
    return (
        "server {\n"
        f"    listen {stack.listen};\n"
        f"    server_name {SERVER_NAME};\n"
        f"{indent(body.strip(), 4)}\n"
        "}\n"
    )


def proxy_location(address: str, path: str = "/", extra: str = "") -> str:
    """A ``location PATH`` block with ``proxy_pass http://ADDRESS`` (and ``extra`` directives)."""
    return (f"location {path} {{\n    proxy_pass http://{address};\n"
            + (f"    {extra}\n" if extra else "") + "}\n")


def php_location(stack: Stack, fastcgi_pass: str, extra: str = "") -> str:
    """A ``location ~ \\.php$`` block passing to ``fastcgi_pass`` with the usual params."""
    return (
        "location ~ \\.php$ {\n"
        f"    fastcgi_pass {fastcgi_pass};\n"
        f"    {stack.fastcgi_params()}\n"
        + (f"    {extra}\n" if extra else "")
        + "}\n"
    )


def dead_port(host: str = "127.0.0.1") -> int:
    """A loopback port with nothing listening, kept so until a backend of this process is
    started on it (``machine.reserve_port``: another test's server cannot take it meanwhile)."""
    return reserve_port(host)


def gunicorn(stack: Stack, run: ScenarioRun, conf: str = "workers = 1\n") -> str:
    """A real gunicorn (sync workers) serving the lab WSGI app (``lab.runtime.appservers``); its
    log and its conf are evidence of ``run`` (``--app-log``, ``--app-conf``).  Its address."""
    _proc, port, conf_path = start_gunicorn(stack, conf)
    run.app_logs.append(stack.root / "logs" / "gunicorn.log")
    run.app_confs.append(conf_path)
    return f"127.0.0.1:{port}"
