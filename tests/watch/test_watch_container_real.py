"""``why502 watch`` with nothing named finds the running proxy as ``diagnose`` does, also in a
container: a real nginx in another mount namespace (``unshare --mount``, a tmpfs over its
config directory the host cannot see) is followed through ``/proc/PID/root`` -- its config and
the error log it names there -- and watch says which master and which logs it follows.  Before,
watch read ``-c FILE`` at this host's path (nothing there) and had nothing to watch.  Issue 31."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.diagnose.test_diagnose_container_real import NGINX, _wait_listening
from tests.support.labrun import WatchProcess
from why502.lab.runtime.client import request
from why502.lab.runtime.machine import free_port, is_root

pytestmark = [pytest.mark.real,
              pytest.mark.skipif(NGINX is None, reason="needs nginx"),
              pytest.mark.skipif(not is_root(), reason="needs root (a mount namespace, /proc/PID/root)"),
              pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare")]


def test_watch_follows_a_containerised_nginx_through_its_root(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    ctr, stage = tmp_path / "ctr", tmp_path / "stage"
    ctr.mkdir()
    stage.mkdir()
    port, dead = free_port(), free_port()
    (stage / "nginx.conf").write_text(
        f"user root root;\nworker_processes 1;\npid {ctr}/nginx.pid;\n"
        f"error_log {ctr}/logs/error.log warn;\nevents {{ worker_connections 64; }}\n"
        f"http {{ access_log /dev/stdout;\n"
        + "".join(f"  {d}_temp_path {ctr}/tmp/{d};\n" for d in ("client_body", "proxy", "fastcgi",
                                                                 "uwsgi", "scgi"))
        + f"  server {{ listen 127.0.0.1:{port};\n"
          f"    location / {{ proxy_pass http://127.0.0.1:{dead}; }} }}\n}}\n")
    script = (f"mount -t tmpfs none {ctr} && cp -r {stage}/. {ctr}/ && mkdir -p {ctr}/logs {ctr}/tmp "
              f"&& exec {NGINX} -c {ctr}/nginx.conf -g 'daemon off;'")
    proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    watch: WatchProcess | None = None
    try:
        _wait_listening(port, proc)
        assert list(ctr.iterdir()) == []  # its files are the container's only
        root = f"/proc/{proc.pid}/root"
        monkeypatch.setenv("WHY502_PROC_PIDS", str(proc.pid))  # this master only, as a host would
        watch = WatchProcess("--format", "jsonl", "--listen", "off", "--offline", "--duration", "60",
                             "--window", "10", "--min-failures", "3")
        event = None
        deadline = time.monotonic() + 45
        while event is None and time.monotonic() < deadline:
            assert request(port, timeout=5).status == 502
            event = watch.next_event(timeout=1) if not watch.lines.empty() else None
            time.sleep(0.3)
        assert event is not None, "no incident from why502 watch"
        assert event["event"] == "incident-opened", event
        assert event["incident"]["cause"] == "backend-not-running", event
        watch.proc.kill()
        _, err = watch.proc.communicate(timeout=10)
        assert (f"following the running nginx (pid {proc.pid}) in container mount namespace of pid "
                f"{proc.pid}, read under {root}: its config {root}{ctr}/nginx.conf") in err, err
        assert f"following {root}{ctr}/logs/error.log" in err, err
        assert "/dev/stdout" in err and "access log not read" in err, err
    finally:
        if watch is not None:
            watch.stop()
        if proc.poll() is None:
            os.kill(proc.pid, 15)  # the nginx master, by its PID
        proc.wait(10)
