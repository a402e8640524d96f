"""Real Prometheus and Alertmanager on loopback for the watch tests, run by a lab ``Stack``
(random ports, the stack's temp dir, stopped by PID with the stack)."""

from __future__ import annotations

import http.server
import json
import queue
import shutil
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
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


Notification = tuple[float, dict[str, Any]]  # (time.monotonic() of arrival, the webhook body)


@contextmanager
def webhook() -> Iterator[tuple[str, queue.Queue[Notification]]]:
    """An Alertmanager webhook receiver on loopback (a random port) that keeps every
    notification with its arrival time; yields its URL and the queue, stops on exit."""
    got: queue.Queue[Notification] = queue.Queue()

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(min(int(self.headers.get("Content-Length") or 0), 1 << 20))
            got.put((time.monotonic(), json.loads(body or b"{}")))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/why502", got
    finally:
        server.shutdown()
        server.server_close()


def start_alertmanager(stack: Stack, hook: str | None = None, route: str = "") -> str:
    """An Alertmanager with a route to nowhere, or with why502's alerts routed to the webhook
    ``hook`` (``route``: the route's timing lines, as docs/guide/watch.md prints them); returns
    its base URL."""
    exe = need("prometheus-alertmanager")
    port = free_port()
    if hook is None:
        text = 'route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n'
    else:
        text = ('route:\n  receiver: default\n  routes:\n'
                """    - matchers: ['alertname=~"Why502.*"']\n      receiver: oncall\n"""
                + "".join(f"      {line.strip()}\n" for line in route.strip().splitlines())
                + f"receivers:\n  - name: default\n  - name: oncall\n"
                  f"    webhook_configs:\n      - url: {hook}\n")
    conf = stack.write_file("alertmanager.yml", text)
    stack.spawn("alertmanager", [exe, f"--config.file={conf}",
                                 f"--storage.path={stack.root / 'am-data'}",
                                 f"--web.listen-address=127.0.0.1:{port}",
                                 "--cluster.listen-address="])
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: get_text(f"{url}/-/ready") is not None, 15, "Alertmanager ready")
    return url


def start_prometheus(stack: Stack, targets: list[str], interval: str = "1s",
                     rules: Path | None = None, alertmanager: str | None = None) -> str:
    """A Prometheus scraping ``targets`` (host:port) every ``interval`` (and evaluating the
    ``rules`` file as often, its alerts sent to ``alertmanager``); returns its base URL."""
    exe = need("prometheus")
    port = free_port()
    listed = ", ".join(f'"{t}"' for t in targets)
    extra = f"rule_files: [{rules}]\n" if rules is not None else ""
    if alertmanager is not None:
        extra += ("alerting:\n  alertmanagers:\n    - static_configs: [{targets: [\""
                  + alertmanager.removeprefix("http://") + '"]}]\n')
    conf = stack.write_file("prometheus.yml", f"global:\n  scrape_interval: {interval}\n"
                            f"  evaluation_interval: {interval}\n{extra}"
                            f"scrape_configs:\n  - job_name: why502\n"
                            f"    static_configs:\n      - targets: [{listed}]\n")
    stack.spawn("prometheus", [exe, f"--config.file={conf}",
                               f"--storage.tsdb.path={stack.root / 'prom-data'}",
                               f"--web.listen-address=127.0.0.1:{port}"])
    url = f"http://127.0.0.1:{port}"
    wait_until(lambda: get_text(f"{url}/-/ready") is not None, 20, "Prometheus ready")
    return url
