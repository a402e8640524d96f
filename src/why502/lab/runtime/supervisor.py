"""Run a lab backend under a real supervisord (Debian's ``supervisor``), for the crash-loop cause.

supervisord gets its own config, socket, pid file and logs in the stack's dir and runs in the
foreground (``-n``) as one more process of the stack, stopped by PID with the rest.
"""

from __future__ import annotations

import shutil
import sys
from typing import TYPE_CHECKING

from why502.lab.runtime import machine
from why502.lab.runtime.backends import Backend, asset
from why502.lab.runtime.errors import LabSkip
from why502.lab.runtime.processes import read_text, wait_for

if TYPE_CHECKING:
    from why502.lab.runtime.stack import Stack


def add_supervised_backend(stack: Stack, kind: str = "fail-start", *, name: str = "app",
                           port: int | None = None, startretries: int = 3,
                           startsecs: int = 1) -> Backend:
    """Run a lab backend under supervisord with ``autorestart=true`` and ``startretries``, so a
    backend that dies at start-up is restarted until supervisord gives up
    (``supervisor/process.py``: ``spawned:``, ``exited: ... not expected``, ``gave up: ...
    entered FATAL state``).  Does not wait for the backend to be ready; the supervisor's log is
    ``stack.supervisor_log``.
    """
    supervisord = shutil.which("supervisord")
    if supervisord is None:
        raise LabSkip("supervisord is not installed (apt-get install supervisor)")
    if port is not None:
        machine.release_port("127.0.0.1", port)
    port = port or machine.free_port()
    r = stack.p.root
    log = stack.p.supervisor_log
    ready = stack.p.run / f"{name}.ready"
    command = " ".join([sys.executable, str(asset(stack, "backend.py")), "--mode", kind, "--name",
                        name, "--host", "127.0.0.1", "--port", str(port), "--ready", str(ready)])
    conf = r / "supervisord.conf"
    conf.write_text(
        "; why502 lab supervisor (everything under the stack's temp dir)\n"
        "[unix_http_server]\n"
        f"file={r}/run/supervisor.sock\n"
        "chmod=0700\n"
        "[supervisord]\n"
        f"logfile={log}\n"
        f"pidfile={r}/run/supervisord.pid\n"
        f"childlogdir={r}/logs\n"
        "nodaemon=true\n"
        "logfile_backups=0\n"
        + ("user=root\n" if machine.is_root() else "")
        + "[rpcinterface:supervisor]\n"
        "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n"
        "[supervisorctl]\n"
        f"serverurl=unix://{r}/run/supervisor.sock\n"
        f"[program:{name}]\n"
        f"command={command}\n"
        f"directory={r}\n"
        "autostart=true\n"
        "autorestart=true\n"
        f"startretries={startretries}\n"
        f"startsecs={startsecs}\n"
        "stopsignal=TERM\n"
        "stopwaitsecs=2\n"
        "redirect_stderr=true\n"
        f"stdout_logfile={r}/logs/{name}.log\n"
    )
    proc = stack.spawn("supervisord", [supervisord, "-n", "-c", str(conf)])
    stack.supervisord = proc
    wait_for(lambda: "spawned:" in read_text(log), proc, "supervisord", log=log)
    backend = Backend(name=name, kind=kind, host="127.0.0.1", port=port, process=None)
    stack.backends[name] = backend
    return backend
