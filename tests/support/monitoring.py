"""Real Prometheus and Alertmanager on loopback for the watch tests, run by a lab ``Stack``
(random ports, the stack's temp dir, stopped by PID with the stack)."""

from __future__ import annotations

import json
import shutil
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from why502.lab.runtime import Stack, free_port

PACKAGES = {"promtool": "prometheus", "amtool": "prometheus-alertmanager", "systemd-analyze": "systemd"}


def need(program: str) -> str:
    """The program's path, or skip the test saying which Debian package provides it."""
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} is not installed (Debian package: {PACKAGES.get(program, program)})")
    return path


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return json.loads(resp.read())


def get_text(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as resp:
        return str(resp.read().decode())


def wait_until(check: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll ``check`` (bounded) until it returns something true; fail saying ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            got = check()
        except OSError:
            got = None
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


def start_alertmanager(stack: Stack) -> str:
    """An Alertmanager with a route to nowhere; returns its base URL."""
    exe = need("prometheus-alertmanager")
    port = free_port()
    conf = stack.write_file("alertmanager.yml", 'route:\n  receiver: "null"\n'
                            'receivers:\n  - name: "null"\n')
    stack.spawn("alertmanager", [exe, f"--config.file={conf}",
                                 f"--storage.path={stack.root / 'am-data'}",
                                 f"--web.listen-address=127.0.0.1:{port}",
                                 "--cluster.listen-address="])
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: get_text(f"{url}/-/ready") is not None, 15, "Alertmanager ready")
    return url


def start_prometheus(stack: Stack, targets: list[str], interval: str = "1s") -> str:
    """A Prometheus scraping ``targets`` (host:port) every ``interval``; returns its base URL."""
    exe = need("prometheus")
    port = free_port()
    listed = ", ".join(f'"{t}"' for t in targets)
    conf = stack.write_file("prometheus.yml", f"global:\n  scrape_interval: {interval}\n"
                            f"scrape_configs:\n  - job_name: why502\n"
                            f"    static_configs:\n      - targets: [{listed}]\n")
    stack.spawn("prometheus", [exe, f"--config.file={conf}",
                               f"--storage.tsdb.path={stack.root / 'prom-data'}",
                               f"--web.listen-address=127.0.0.1:{port}"])
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: get_text(f"{url}/-/ready") is not None, 20, "Prometheus ready")
    return url
