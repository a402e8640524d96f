"""What the live tests share to run the lab and ``why502 watch`` as a user would: a scenario run
that skips when this machine cannot run it, and ``why502 watch`` as a process whose output is
read line by line (tests/lab/test_edge_lab_live.py, tests/watch/, tests/diagnose/test_diagnose_real.py)."""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from typing import Any

import pytest

from tests.support.clirun import WHY502
from why502.lab.runtime import LabSkip, Stack
from why502.lab.scenarios import Scenario, ScenarioRun


def run_or_skip(scenario: Scenario, stack: Stack) -> ScenarioRun:
    """``scenario`` run on ``stack``; the test is skipped, with the lab's own reason, when this
    machine cannot run it (its proxy or a need is missing: ``Scenario.check_requirements``)."""
    try:
        return scenario.run(stack)
    except LabSkip as err:
        pytest.skip(str(err))


class WatchProcess:
    """``why502 watch`` as a user runs it (the installed entry point); its stdout read line by
    line in a thread, so a test waits for an event with a bound and never blocks on the pipe."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen([WHY502, "watch", *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def next_event(self, timeout: float) -> dict[str, Any]:
        """The next JSON line (``--format jsonl``); fails with watch's stderr after ``timeout``."""
        try:
            return dict(json.loads(self.lines.get(timeout=timeout)))
        except queue.Empty:
            self.proc.kill()
            _, err = self.proc.communicate(timeout=5)
            raise AssertionError(f"no event from why502 watch within {timeout}s; "
                                 f"stderr: {err[-800:]}") from None

    def incident(self, timeout: float = 45) -> dict[str, Any]:
        """The first ``incident-opened`` event (each line awaited at most ``timeout``)."""
        while (event := self.next_event(timeout)).get("event") != "incident-opened":
            pass
        return event

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=5)
