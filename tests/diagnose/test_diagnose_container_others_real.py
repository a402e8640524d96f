"""An Apache httpd and a HAProxy master in another mount namespace (a container, here ``unshare
--mount`` with a tmpfs over their config directory) are diagnosed from THEIR files, read through
``/proc/PID/root`` as the nginx one is (``test_diagnose_container_real``): Apache's ``-d``
ServerRoot and ``-f``, an ``IncludeOptional`` glob whose match is a link to an absolute path
(followed inside the root), its ``ErrorLog``; HAProxy's ``-f DIR`` (its ``*.cfg`` in order), its
runtime-API socket and the log its syslog writes in the container (``/var/log/haproxy.log``).
A decoy of the same name on this host is never read.  Before, both got only a note ("not read
from there") and this host's file of the same name, if any.  Issue 31."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.diagnose.test_diagnose_container_real import _wait_listening
from tests.support.clirun import why502
from why502.lab.runtime.client import request
from why502.lab.runtime.machine import find_haproxy, free_port, is_root
from why502.proxies.apache.lab import MODULE_DIRS, MODULES, find_apache

pytestmark = [pytest.mark.real,
              pytest.mark.skipif(not is_root(), reason="needs root (a mount namespace, /proc/PID/root)"),
              pytest.mark.skipif(shutil.which("unshare") is None, reason="needs unshare")]


@contextmanager
def _diagnosed(script: str, port: int, stage: Path) -> Iterator[tuple[str, dict[str, Any], list[str]]]:
    """The master ``script`` starts in a new mount namespace, answering 503 on ``port`` (its
    staging copy removed: only the container has its files), diagnosed with nothing named:
    ``(its /proc/PID/root, the JSON report, the notes)``; stopped by its PID after."""
    proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "--", "sh", "-c", script],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_listening(port, proc)
        shutil.rmtree(stage)
        for _ in range(3):
            assert request(port, timeout=5).status == 503
        env = {"WHY502_PROC_PIDS": str(proc.pid), "COLUMNS": "400"}
        res = why502("diagnose", "--format", "json", env=env)
        assert res.returncode == 1, res.stdout + res.stderr
        report = json.loads(res.stdout)
        yield f"/proc/{proc.pid}/root", report, [d["message"] for d in report["diagnostics"]]
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, 15)  # the master, by its PID
        proc.wait(10)


@pytest.mark.skipif(find_apache() is None, reason="needs apache2")
def test_apache_in_another_mount_namespace_is_read_through_its_root(tmp_path: Path) -> None:
    binary = find_apache()
    modules = next((d for d in MODULE_DIRS if os.path.isdir(d)), None)
    if binary is None or modules is None:
        pytest.skip("needs apache2 and its modules")
    ctr, stage = tmp_path / "ctr", tmp_path / "stage"
    port, dead, decoy = free_port(), free_port(), free_port()
    # this host's file of the same name as the container's vhost: never to be read
    (ctr / "sites-available").mkdir(parents=True)
    (ctr / "sites-available" / "app.conf").write_text(f"ProxyPass / http://127.0.0.1:{decoy}/\n")
    for d in ("sites-available", "sites-enabled"):
        (stage / d).mkdir(parents=True)
    (stage / "sites-available" / "app.conf").write_text(
        f"<VirtualHost 127.0.0.1:{port}>\n  ProxyPass / http://127.0.0.1:{dead}/\n</VirtualHost>\n")
    # Debian's a2ensite layout, with an absolute link (resolved inside the root, not here)
    (stage / "sites-enabled" / "app.conf").symlink_to(ctr / "sites-available" / "app.conf")
    (stage / "apache2.conf").write_text(
        f"ServerName localhost\nListen 127.0.0.1:{port}\nPidFile run/apache2.pid\n"
        f"DefaultRuntimeDir run\nErrorLog logs/error.log\nLogLevel warn\n"
        + "".join(f"LoadModule {m}_module {modules}/mod_{m}.so\n" for m in MODULES)
        + "User www-data\nGroup www-data\nIncludeOptional sites-enabled/*.conf\n")
    # -d names the ServerRoot, -f a file relative to it (httpd's own resolution)
    script = (f"mount -t tmpfs none {ctr} && cp -a {stage}/. {ctr}/ && mkdir -p {ctr}/logs {ctr}/run "
              f"&& exec {binary} -d {ctr} -f apache2.conf -DFOREGROUND")
    with _diagnosed(script, port, stage) as (root, report, notes):
        inputs = report["inputs"]
        assert inputs["configs"] == [f"{root}{ctr}/apache2.conf"]
        files = inputs["runs"][0]["config_files"]
        assert f"{root}{ctr}/sites-available/app.conf" in files, files
        assert not any(f.startswith(str(ctr)) for f in files), files  # the decoy: not read
        assert inputs["error_logs"] == [f"{root}{ctr}/logs/error.log"]
        findings = report["findings"]
        assert any(f["cause"] == "backend-not-running" and f["target"] == f"127.0.0.1:{dead}"
                   for f in findings), [(f["cause"], f["target"]) for f in findings]
        assert not any(f["target"] == f"127.0.0.1:{decoy}" for f in findings)
        assert any(f"were read under {root}" in n for n in notes), notes
        assert not any("not read from there" in n for n in notes), notes


@pytest.mark.skipif(find_haproxy() is None, reason="needs haproxy")
def test_haproxy_in_another_mount_namespace_is_read_through_its_root(tmp_path: Path) -> None:
    binary = find_haproxy()
    ctr, stage = tmp_path / "ctr", tmp_path / "stage"
    ctr.mkdir()
    (stage / "haproxy.d").mkdir(parents=True)
    port, dead = free_port(), free_port()
    # haproxy -f DIR reads its *.cfg in lexical order; other files are not configs
    (stage / "haproxy.d" / "00-global.cfg").write_text(
        "global\n    log stdout format rfc3164 local0\n"
        "    stats socket /mnt/admin.sock mode 600 level admin\n\n"
        "defaults\n    mode http\n    log global\n    option httplog\n"
        "    retries 0\n    timeout connect 1s\n    timeout client 5s\n    timeout server 5s\n")
    (stage / "haproxy.d" / "10-app.cfg").write_text(
        f"frontend fe\n    bind 127.0.0.1:{port}\n    default_backend app\n\n"
        f"backend app\n    server app1 127.0.0.1:{dead}\n")
    (stage / "haproxy.d" / "README").write_text("backend decoy\n    server x 127.0.0.1:1\n")
    (stage / "extra.cfg").write_text("backend spare\n    server s 127.0.0.1:1\n")  # a second -f
    # the container's syslog file is its /var/log/haproxy.log (the lab writes HAProxy's RFC 3164
    # lines there from stdout, as rsyslog would); /var/log and /mnt are the container's own
    script = (f"mount -t tmpfs none {ctr} && mount -t tmpfs none /var/log && mount -t tmpfs none /mnt "
              f"&& cp -a {stage}/. {ctr}/ && exec {binary} -f {ctr}/haproxy.d -f {ctr}/extra.cfg "
              ">> /var/log/haproxy.log 2>&1")
    with _diagnosed(script, port, stage) as (root, report, notes):
        assert list(ctr.iterdir()) == []  # the container's files are not this host's
        inputs = report["inputs"]
        assert inputs["configs"] == [f"{root}{ctr}/haproxy.d"]
        assert inputs["runs"][0]["config_files"] == [f"{root}{ctr}/haproxy.d/00-global.cfg",
                                                      f"{root}{ctr}/haproxy.d/10-app.cfg"]
        assert inputs["error_logs"] == [f"{root}/var/log/haproxy.log"]
        assert inputs["runs"][0].get("runtime_api") is True, notes  # /mnt/admin.sock, inside
        assert any(f["target"] == f"127.0.0.1:{dead}" for f in report["findings"]), \
            [(f["cause"], f["target"]) for f in report["findings"]]
        assert any(f"were read under {root}" in n for n in notes), notes
        assert any(f"only {ctr}/haproxy.d was read, not {ctr}/extra.cfg" in n for n in notes), notes
