"""`why502 watch` counts a real nginx's access log exactly while it is rotated every second.

A client sends requests at a steady rate (one in ten to a location that answers 503) to a real
nginx on loopback for 30 s; every second the access log is rotated, cycling through the ways
logrotate and nginx move a log (logrotate(8); ``nginx -s reopen`` is ``USR1`` to the master,
``ngx_reopen_files()`` in src/core/ngx_cycle.c):

- rename + create (logrotate's default: ``create``, then ``postrotate`` sends USR1);
- ``copytruncate`` (nginx opens its logs ``O_APPEND``: it writes at the new end);
- ``copytruncate`` + ``compress`` without ``delaycompress`` (the copy is ``.N.gz`` at once);
- delete + recreate (nginx writes into the deleted file until USR1 makes it create a new one);
- rename + reopen with no create (the file appears when nginx reopens it).

The log is also missing when the watch starts: it appears later, at nginx's first reopen.  At
the end the watch's counters equal the client's exact counts, per status.

copytruncate is done with the client paused and the last answered request's line in the log
(logrotate's copy and truncate are two steps: what nginx writes between them is lost by
logrotate itself, as its manual says); what nginx wrote after the watch's last read and before
the copy must come from the copy, plain or gzipped.
"""

from __future__ import annotations

import gzip
import os
import shutil
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from why502.app.watch.engine import Watch, WatchOptions
from why502.app.watch.incidents import Rules
from why502.lab.runtime import Stack
from why502.lab.scenarios.common import server

pytestmark = pytest.mark.real

WAYS = ("rename-create", "copytruncate", "copytruncate-compress", "delete-recreate",
        "rename-reopen")
SECONDS = 30


class Client(threading.Thread):
    """Requests at a steady rate, each numbered (``?n=N``); ``pause`` is held while a
    copytruncate runs, ``last`` is the number of the last request answered."""

    def __init__(self, stack: Stack, rate: float) -> None:
        super().__init__(daemon=True)
        self.stack = stack
        self.rate = rate
        self.pause = threading.Lock()
        self.stop = threading.Event()
        self.got: Counter[int | None] = Counter()
        self.last = 0

    def run(self) -> None:
        n = 0
        start = time.monotonic()
        while not self.stop.is_set():
            n += 1
            with self.pause:
                r = self.stack.request(f"/bad?n={n}" if n % 10 == 0 else f"/ok?n={n}", timeout=5)
                self.last = n
            self.got[r.status] += 1
            time.sleep(max(0.0, n / self.rate - (time.monotonic() - start)))


def rotate(way: str, log: Path, n: int, nginx_pid: int, client: Client) -> None:
    old = log.with_name(f"{log.name}.{n}")
    if way == "rename-create":
        os.rename(log, old)
        log.touch()
        time.sleep(0.05)  # nginx still writes to the renamed file until it reopens
        os.kill(nginx_pid, signal.SIGUSR1)
    elif way.startswith("copytruncate"):
        with client.pause:
            # nginx logs a request after answering it: the client may hold its answer before the
            # line is written, and a line written between copy and truncate is lost by
            # copytruncate itself (logrotate(8)).  Wait for the last answered request's line:
            # one worker writes them in order, so every earlier one is there too (a wait for
            # the log to stop growing for 0.15 s lost one line in ~5000 on a loaded CI run)
            _logged(log, client.last)
            shutil.copyfile(log, old)
            os.truncate(log, 0)
        if way.endswith("compress"):
            with old.open("rb") as src, gzip.open(f"{old}.gz", "wb") as dst:
                shutil.copyfileobj(src, dst)
            old.unlink()
    elif way == "delete-recreate":
        log.unlink()
        time.sleep(0.05)  # lines go to the deleted file, still open on both sides
        os.kill(nginx_pid, signal.SIGUSR1)
    else:  # rename-reopen
        os.rename(log, old)
        time.sleep(0.05)
        os.kill(nginx_pid, signal.SIGUSR1)


def _logged(log: Path, n: int, guard: float = 10.0) -> None:
    """Return once request ``n``'s line is in ``log``'s last 64 KiB, or after ``guard`` seconds
    (at 150 requests/s the last one always follows the previous rotation's reopen by ~1 s)."""
    mark = f"?n={n} ".encode()
    end = time.monotonic() + guard
    while time.monotonic() < end:
        with log.open("rb") as fh:
            fh.seek(max(0, log.stat().st_size - (64 << 10)))
            tail = fh.read()
        if mark in tail or n == 0:
            return
        time.sleep(0.01)


def counted(w: Watch) -> Counter[int | None]:
    with w.metrics.traffic.lock:
        out: Counter[int | None] = Counter()
        for (_server, status), n in w.metrics.traffic.requests.items():
            out[int(status)] += n
        return out


def test_counts_equal_the_clients_while_rotated_every_second_for_30s(tmp_path: Path) -> None:
    with Stack() as stack:
        nginx = stack.start_nginx(server(stack, """
            location /ok { return 200 "ok\\n"; }
            location /bad { return 503; }
        """))
        log = stack.p.access_log
        log.unlink()  # missing when the watch starts: it appears at the first reopen
        notes: list[str] = []
        w = Watch(WatchOptions(default_proxy_config=str(stack.p.nginx_conf), offline=True, listen=None,
                               poll_interval=0.2, rules=Rules(ratio=1.0, min_requests=10**9)),
                  lambda _e: None, lambda d: notes.append(d.message))
        for f in w.followed:
            f.follower.retire_after = 1.5
        runner = threading.Thread(target=w.run, daemon=True)
        runner.start()
        time.sleep(0.5)
        os.kill(nginx.pid, signal.SIGUSR1)  # the log appears
        client = Client(stack, rate=150)
        client.start()
        try:
            for n in range(1, SECONDS + 1):
                time.sleep(1.0)
                rotate(WAYS[n % len(WAYS)], log, n, nginx.pid, client)
        finally:
            client.stop.set()
            client.join(10)
        deadline = time.monotonic() + 15
        while counted(w) != client.got and time.monotonic() < deadline:
            time.sleep(0.2)
        w.stop()
        runner.join(10)
        follower = next(f.follower for f in w.followed if f.kind == "access")
        assert client.got[None] == 0 and client.got[200] > 1000 and client.got[503] > 100
        assert counted(w) == client.got, (notes, sorted(os.listdir(log.parent)))
        assert follower.gaps == 0
        assert follower.rotations >= SECONDS // 2  # a name missing, then back, is not counted
