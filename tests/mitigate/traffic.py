"""A client loop for the mitigation tests: requests through the proxy, one at a time, every
outcome counted per phase (before, during, after a mitigation) and per backend (the lab
backend answers ``ok from NAME``)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from types import TracebackType

from why502.lab.runtime import Stack

MAX_REQUESTS = 20000  # a bound, whatever happens to the test


class Traffic:
    def __init__(self, stack: Stack, path: str = "/t") -> None:
        self._stack = stack
        self._path = path
        self._phase = "before"
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.counts: dict[str, Counter[str]] = {}
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Traffic:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def phase(self, name: str, settle: int = 5) -> None:
        """Start counting under ``name``, once ``settle`` requests of it have been sent."""
        with self._lock:
            self._phase = name
            self.counts.setdefault(name, Counter())
        self.wait(name, settle)

    def wait(self, name: str, n: int) -> None:
        deadline = time.monotonic() + 30
        while sum(self.counts.get(name, Counter()).values()) < n and time.monotonic() < deadline:
            time.sleep(0.02)

    def errors(self, name: str) -> int:
        return sum(v for k, v in self.counts.get(name, Counter()).items() if k.startswith("error"))

    def report(self, title: str) -> None:
        print(f"\n[{title}] client-side outcomes per phase (error:<status> = a 5xx or a failed connection):")
        for name, c in self.counts.items():
            print(f"  {name:<22} requests={sum(c.values()):<5} errors={self.errors(name):<4} {dict(c)}")

    def _loop(self) -> None:
        for _ in range(MAX_REQUESTS):
            if self._stop.is_set():
                return
            resp = self._stack.request(self._path, timeout=10)
            if resp.headers.get("x-why502-mitigation") or resp.headers.get("X-Why502-Mitigation"):
                outcome = "fallback"
            elif resp.status is None or resp.status >= 500:
                outcome = f"error:{resp.status}"
            else:
                outcome = resp.body.decode("utf-8", "replace").strip()
            with self._lock:
                self.counts.setdefault(self._phase, Counter())[outcome] += 1
            time.sleep(0.01)
