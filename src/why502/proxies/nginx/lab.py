"""nginx's lab runtime (the plug-in of ``why502.lab``, reached through ``Hooks.lab_runtime``):
write a complete ``nginx.conf``, check it with ``nginx -t``, start it.

The config wraps a scenario's ``http`` body (``upstream``/``server`` blocks) in a main context that
keeps nginx in the foreground under the stack's PID tracking, writes every file under the stack
root, and logs accesses in the :data:`LOG_FORMAT` the analyzers need.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

from why502.lab.runtime import machine
from why502.lab.runtime.errors import LabError, LabSkip
from why502.lab.runtime.paths import StackPaths
from why502.lab.runtime.plugins import indent
from why502.lab.runtime.processes import Process, can_connect, wait_for

if TYPE_CHECKING:
    from why502.lab.runtime.stack import Stack

# The access-log format every lab nginx writes: the combined format plus the upstream timings
# (ngx_http_upstream_module embedded variables) that diagnose and stats need to tell a proxy-made
# 502/504 from a backend-made one.
LOG_FORMAT_NAME = "why502"
LOG_FORMAT = (
    "'$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent '\n"
    "        '\"$http_referer\" \"$http_user_agent\" '\n"
    "        'upstream_addr=\"$upstream_addr\" upstream_status=\"$upstream_status\" '\n"
    "        'upstream_connect_time=\"$upstream_connect_time\" '\n"
    "        'upstream_header_time=\"$upstream_header_time\" '\n"
    "        'upstream_response_time=\"$upstream_response_time\" request_time=$request_time'"
)


MISSING = "nginx is not installed (apt-get install nginx-light)"


def unavailable() -> str | None:
    """Why this machine cannot run the lab's nginx (None: it can)."""
    return None if machine.find_nginx() else MISSING


def fastcgi_params(www: Path) -> str:
    """The FastCGI params a PHP location needs (what Debian's ``fastcgi_params`` provides)."""
    return (
        f"fastcgi_param SCRIPT_FILENAME {www}$fastcgi_script_name;\n"
        "            fastcgi_param SCRIPT_NAME $fastcgi_script_name;\n"
        "            fastcgi_param QUERY_STRING $query_string;\n"
        "            fastcgi_param REQUEST_METHOD $request_method;\n"
        "            fastcgi_param CONTENT_TYPE $content_type;\n"
        "            fastcgi_param CONTENT_LENGTH $content_length;\n"
        "            fastcgi_param REQUEST_URI $request_uri;\n"
        "            fastcgi_param SERVER_PROTOCOL $server_protocol;\n"
        "            fastcgi_param GATEWAY_INTERFACE CGI/1.1;\n"
        "            fastcgi_param REMOTE_ADDR $remote_addr;\n"
        "            fastcgi_param SERVER_NAME $server_name;\n"
        "            fastcgi_param SERVER_PORT $server_port;"
    )


def nginx_config(paths: StackPaths, http_body: str, *, error_level: str = "warn",
                 worker_connections: int = 64, main_extra: str = "",
                 worker_user: str | None = None, access_format: str = LOG_FORMAT_NAME) -> str:
    """A complete ``nginx.conf`` wrapping ``http_body`` (server/upstream blocks).

    ``access_format`` names the access log's ``log_format``: the lab's own (upstream timings) or
    ``combined``, the format nginx predefines and most hosts keep (``ngx_http_log_module.c``).

    Everything nginx writes goes under the stack root (pid, logs, temp paths), so a stack
    needs no privileges and leaves nothing behind.  As root the workers run as root too
    (``user root root;``) unless ``worker_user`` names another account: nginx ignores ``user``
    when the master is not root (``ngx_set_user()``, src/core/nginx.c).
    """
    r = paths.root
    user = ""
    if machine.is_root():
        user = f"user {worker_user} {_primary_group(worker_user)};\n" if worker_user \
            else "user root root;\n"
    return (
        "# why502 lab stack\n"
        f"{user}"
        "daemon off;\n"
        "master_process on;\n"
        "worker_processes 1;\n"
        f"pid {r}/run/nginx.pid;\n"
        f"error_log {paths.error_log} {error_level};\n"
        f"{main_extra}"
        "events {\n"
        f"    worker_connections {worker_connections};\n"
        "}\n"
        "http {\n"
        f"    log_format {LOG_FORMAT_NAME} {LOG_FORMAT};\n"
        f"    access_log {paths.access_log} {access_format};\n"
        f"    client_body_temp_path {r}/tmp/client_body;\n"  # noqa: S108 - under the stack root
        f"    proxy_temp_path {r}/tmp/proxy;\n"  # noqa: S108 - under the stack root
        f"    fastcgi_temp_path {r}/tmp/fastcgi;\n"  # noqa: S108 - under the stack root
        f"    uwsgi_temp_path {r}/tmp/uwsgi;\n"  # noqa: S108 - under the stack root
        f"    scgi_temp_path {r}/tmp/scgi;\n"  # noqa: S108 - under the stack root
        "    default_type text/plain;\n"
        f"{indent(http_body.strip(), 4)}\n"
        "}\n"
    )


def start_nginx(stack: Stack, http_body: str, *, error_level: str = "warn",
                worker_connections: int = 64, main_extra: str = "",
                worker_user: str | None = None, access_format: str = LOG_FORMAT_NAME) -> Process:
    """Write ``nginx.conf`` around ``http_body``, check it with ``nginx -t`` and start it.

    When another program took the stack's "free" port in the meantime, the server block moves to
    a new port (up to three tries).
    """
    nginx = machine.find_nginx()
    if nginx is None:
        raise LabSkip(MISSING)
    if worker_user and not machine.is_root():
        raise LabSkip("this scenario needs root: nginx workers must run as another user")
    p = stack.p
    text = nginx_config(p, http_body, error_level=error_level,
                        worker_connections=worker_connections, main_extra=main_extra,
                        worker_user=worker_user, access_format=access_format)
    base = [nginx, "-p", str(p.root), "-c", str(p.nginx_conf), "-e", str(p.error_log)]
    for attempt in range(3):
        p.nginx_conf.write_text(text)
        check = subprocess.run([*base, "-t", "-q"], capture_output=True, text=True, timeout=15,
                               check=False)
        error = check.stderr.strip()[-400:] if check.returncode != 0 else ""
        if not error:
            pidfile = p.run / "nginx.pid"
            pidfile.unlink(missing_ok=True)
            proc = stack.spawn("nginx", base)

            def ready(pidfile: Path = pidfile) -> bool:
                # nginx writes its pid file only after every listen socket is bound
                # (ngx_create_pidfile() runs after ngx_init_cycle(), src/core/nginx.c).
                with stack.inside():
                    return pidfile.exists() and can_connect(stack.listen)

            try:
                wait_for(ready, proc, "nginx", log=p.error_log)
                stack.nginx = proc
                return proc
            except LabError as err:
                stack.stop_process(proc)
                error = str(err)
        if "Address already in use" not in error or attempt == 2:
            raise LabError(f"nginx could not start with the lab config: {error}")
        # Another program took our "free" port in the meantime: move the server block.
        old_listen = f"listen {stack.listen};"
        with stack.inside():
            stack.nginx_port = machine.free_port()
        text = text.replace(old_listen, f"listen {stack.listen};")
    raise LabError("nginx could not start")  # pragma: no cover - the loop returns or raises


def reload_nginx(stack: Stack) -> None:
    """Reload nginx (SIGHUP to the master the stack started) after ``nginx.conf`` changed."""
    if stack.nginx is None or not stack.nginx.alive():
        raise LabError("nginx is not running")
    os.kill(stack.nginx.pid, signal.SIGHUP)
    time.sleep(0.5)


def _primary_group(user: str) -> str:
    import grp
    import pwd

    try:
        return grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name
    except KeyError as err:
        raise LabSkip(f"no such user {user!r} for the nginx workers") from err
