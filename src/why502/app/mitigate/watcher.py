"""What ``why502 watch`` says about mitigations: which are in force, and when the servers one
took out have answered again for ``revert_after`` seconds (the same probe that judged them
failing, every ``interval`` seconds), the command that reverts it.  It reverts by itself only
when told to (``watch --auto-revert``): putting a server back is a change to production, and a
server that answers a probe may still fail under load, so the default is to say so and let the
person on call decide.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from pathlib import Path

from why502.app.mitigate import record
from why502.app.mitigate.run import health_now, revert
from why502.errors import Why502Error


class MitigationWatcher:
    def __init__(self, state_dir: Path, say: Callable[[str], None], *, interval: float = 10.0,
                 revert_after: float = 300.0, auto_revert: bool = False) -> None:
        self.state_dir = state_dir
        self.say = say
        self.interval = interval
        self.revert_after = revert_after
        self.auto_revert = auto_revert
        self._healthy_since: dict[str, float] = {}
        self._told: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="why502-mitigations", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=self.interval + 30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.check(time.monotonic())
            except Why502Error as err:  # a damaged record, a revert refused: said once, not fatal
                if str(err) not in self._told:
                    self._told.add(str(err))
                    self.say(f"mitigations: {err}")
            self._stop.wait(self.interval)

    def check(self, now: float) -> None:
        """One look at the mitigations in force (called by the thread; tests call it directly)."""
        for m in record.load_all(self.state_dir):
            if m.state != record.IN_FORCE:
                continue
            if m.id not in self._told:
                self._told.add(m.id)
                self.say(f"mitigation {m.id} in force since {m.since}: {m.kind} {m.proxy} {m.group}: "
                         f"{', '.join(m.servers) or '-'} ({m.why})")
            if not m.addresses:
                continue
            failing, detail = health_now(m)
            if failing:
                self._healthy_since.pop(m.id, None)
                continue
            since = self._healthy_since.setdefault(m.id, now)
            if now - since < self.revert_after or f"{m.id}:healthy" in self._told:
                continue
            self._told.add(f"{m.id}:healthy")
            if not self.auto_revert:
                self.say(f"mitigation {m.id}: {detail} for {now - since:.0f} s; revert it: "
                         f"why502 mitigate --revert {m.id}")
                continue
            out = io.StringIO()
            rc = revert(self.state_dir, out, m.id)
            last = (out.getvalue().strip().splitlines() or [""])[-1]
            self.say(f"mitigation {m.id}: {detail} for {now - since:.0f} s; --auto-revert: "
                     + (last if rc == 0 else f"revert FAILED (exit {rc}): {last}"))
