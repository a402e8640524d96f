"""An nginx master in another mount namespace (a container, here ``unshare --mount`` with a tmpfs
over its config directory) is diagnosed from ITS files, read through ``/proc/PID/root``: the
main config, an absolute include resolved inside that root, the error log it names there; its
``access_log /dev/stdout`` is skipped with a note.  This host's file of the same name is another
file and is never read (before, it was, with only a warning).  Issue 31, item 1."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.clirun import why502
from why502.app.diagnose import _each_proxy
from why502.app.diagnose.options import DiagnoseOptions
from why502.errors import InputError
from why502.lab.runtime import find_nginx
from why502.lab.runtime.client import request
from why502.lab.runtime.machine import free_port, is_root
from why502.sources.proxyprocs import ProxyProcess

NGINX = find_nginx()
pytestmark = [pytest.mark.real,
              pytest.mark.skipif(NGINX is None, reason="needs nginx"),
              pytest.mark.skipif(not is_root(), reason="needs root (a mount namespace, /proc/PID/root)"),
              pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare")]


def _wait_listening(port: int, proc: subprocess.Popen[bytes], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, "nginx in the namespace exited"
        if request(port, timeout=1).status is not None:
            return
        time.sleep(0.05)
    raise AssertionError(f"nginx did not listen on {port}")


def test_nginx_in_another_mount_namespace_is_read_through_its_root(tmp_path: Path) -> None:
    ctr, stage = tmp_path / "ctr", tmp_path / "stage"
    ctr.mkdir()
    (stage / "conf.d").mkdir(parents=True)
    port, dead = free_port(), free_port()  # nothing listens on `dead`
    # the upstream is in an include named by its absolute path: resolved inside the root
    (stage / "conf.d" / "app.conf").write_text(
        f"server {{ listen 127.0.0.1:{port}; location / {{ proxy_pass http://127.0.0.1:{dead}; }} }}\n")
    tmpdirs = " ".join(f"{d}_temp_path {ctr}/tmp/{d};" for d in
                       ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (stage / "nginx.conf").write_text(
        f"user root root;\nworker_processes 1;\npid {ctr}/logs/nginx.pid;\n"
        f"error_log {ctr}/logs/error.log warn;\nevents {{ worker_connections 64; }}\n"
        f"http {{ access_log /dev/stdout; {tmpdirs}\n  include {ctr}/conf.d/*.conf;\n}}\n")
    script = (f"mount -t tmpfs none {ctr} && cp -r {stage}/. {ctr}/ && mkdir -p {ctr}/logs {ctr}/tmp "
              f"&& exec {NGINX} -c {ctr}/nginx.conf -g 'daemon off;'")
    proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(port, proc)
        # the container's files exist only inside it: from here its directory is empty, and the
        # staging copy goes too (nothing of this host's can stand in for the container's files)
        assert list(ctr.iterdir()) == []
        shutil.rmtree(stage)
        for _ in range(3):
            assert request(port, timeout=5).status == 502
        root = f"/proc/{proc.pid}/root"
        env = {"WHY502_PROC_PIDS": str(proc.pid), "COLUMNS": "400"}
        res = why502("diagnose", "--format", "json", env=env)
        assert res.returncode == 1, res.stdout + res.stderr
        report = json.loads(res.stdout)
        assert report["inputs"]["configs"] == [f"{root}{ctr}/nginx.conf"]
        run = report["inputs"]["runs"][0]
        assert f"{root}{ctr}/conf.d/app.conf" in run["config_files"]
        assert report["inputs"]["error_logs"] == [f"{root}{ctr}/logs/error.log"]
        assert any(f["cause"] == "backend-not-running" and f["target"] == f"127.0.0.1:{dead}"
                   for f in report["findings"]), [f["cause"] for f in report["findings"]]
        notes = [d["message"] for d in report["diagnostics"]]
        assert any("/dev/stdout" in n and "access log not read" in n for n in notes), notes
        assert not any("not read from there" in n for n in notes), notes
        text = why502("diagnose", env=env)
        assert text.returncode == 1
        assert any(f"read: {root}{ctr}/nginx.conf" in line for line in text.stdout.splitlines()[:6]), \
            text.stdout
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, 15)  # the nginx master, by its PID
        proc.wait(10)


def test_an_unreadable_container_root_is_one_note_and_no_host_file(tmp_path: Path) -> None:
    """A container's root that cannot be read (not root; here: a PID that is gone): said in one
    note, and this host's file of the same name is not read instead."""
    host_file = tmp_path / "nginx.conf"
    host_file.write_text("events {}\nhttp { server { listen 127.0.0.1:1; return 200; } }\n")
    pid = 2**22 + 7  # above pid_max's ceiling: never a process
    proc = ProxyProcess("nginx", pid, ("nginx",), "nginx", str(host_file),
                        container=f"mount namespace of pid {pid}")
    opts = DiagnoseOptions(config=f"/proc/{pid}/root{host_file}", proxy="nginx",
                           root=f"/proc/{pid}/root", offline=True)
    with pytest.raises(InputError) as err:
        _each_proxy([(proc, opts)], time.monotonic())
    assert f"/proc/{pid}/root cannot be read" in str(err.value)
    assert f"this host's {host_file} is another file" in str(err.value)
