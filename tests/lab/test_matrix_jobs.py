"""``why502 lab matrix --jobs N``: cells run side by side, output in cell order, nothing left.

The ordering and progress are checked on a stand-in ``run_cell`` (no proxy, fast); the live test
runs three cheap cells (a stopped backend behind nginx: nothing to start behind the proxy, no
watch beside diagnose) with ``--jobs 2`` through the CLI and checks their results and that every
process the cells started is gone, by the PIDs the stacks spawned (issue 25, the whole matrix in
parallel).
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from why502.lab import matrix
from why502.lab.runtime import machine
from why502.lab.runtime.stack import Stack

CHEAP = ("stopped-nginx-tcp4-steady-quiet", "stopped-nginx-unix-steady-quiet",
         "stopped-nginx-fpm-tcp-steady-quiet")


def _result(cell: matrix.Cell) -> matrix.CellResult:
    return matrix.CellResult(cell=cell.name, proxy=cell.proxy, fault=cell.fault.name,
                             backend=cell.backend, traffic=cell.traffic, noise=cell.noise,
                             expected=cell.fault.cause or matrix.HEALTHY)


def test_results_come_in_cell_order_whatever_the_jobs(monkeypatch: pytest.MonkeyPatch) -> None:
    cells = matrix.cells()[:6]
    running: list[int] = []
    peak = [0]
    ended_others = [0]
    lock = threading.Lock()
    others_done = threading.Event()

    def fake(cell: matrix.Cell) -> matrix.CellResult:
        with lock:
            running.append(1)
            peak[0] = max(peak[0], len(running))
        if cell is cells[0]:  # the first cell ends last: its line waits, the others' too
            others_done.wait(30)
        with lock:
            running.pop()
            if cell is not cells[0]:
                ended_others[0] += 1
                if ended_others[0] == len(cells) - 1:
                    others_done.set()
        return _result(cell)

    monkeypatch.setattr(matrix, "run_cell", fake)
    shown: list[str] = []
    ended: list[tuple[str, int, int]] = []
    table = matrix.run_cells(cells, lambda r: shown.append(r.cell), jobs=3,
                             on_done=lambda r, done, total: ended.append((r.cell, done, total)))
    names = [c.name for c in cells]
    assert shown == names and [r.cell for r in table.results] == names
    assert [d for _c, d, _t in ended] == list(range(1, 7)) and {t for _c, _d, t in ended} == {6}
    assert ended[-1][0] == names[0]  # progress is in the order cells end, not their order
    assert peak[0] >= 2
    with pytest.raises(ValueError):
        matrix.run_cells(cells, jobs=0)


def test_an_interrupt_drops_the_cells_not_started(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ctrl-C (or SIGTERM, which cli.main raises as an exception) ends a --jobs run after the
    running cells, not after the whole queue."""
    cells = matrix.cells()[:8]
    started: list[str] = []
    lock = threading.Lock()

    def fake(cell: matrix.Cell) -> matrix.CellResult:
        with lock:
            started.append(cell.name)
        time.sleep(0.2)  # the queue outlives the first cell's end
        return _result(cell)

    def stop(_r: matrix.CellResult, done: int, _total: int) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(matrix, "run_cell", fake)
    with pytest.raises(KeyboardInterrupt):
        matrix.run_cells(cells, jobs=2, on_done=stop)
    assert len(started) < len(cells)


def test_free_port_never_hands_out_a_port_twice() -> None:
    ports = [machine.free_port() for _ in range(300)]
    assert len(set(ports)) == len(ports)


def _gone(pid: int, argv0: str) -> bool:
    """``pid`` is not running, or is now another program (a reused PID)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True
    return argv0.encode() not in cmdline.split(b"\0")[0] if cmdline else True


@pytest.mark.real
def test_jobs_2_runs_cheap_cells_and_leaves_no_process(
        monkeypatch: pytest.MonkeyPatch, run_main: Any, tmp_path: Path) -> None:
    spawned: list[tuple[int, str]] = []
    real_spawn = Stack.spawn

    def spawn(self: Stack, name: str, argv: Any, *args: Any, **kwargs: Any) -> Any:
        proc = real_spawn(self, name, argv, *args, **kwargs)
        spawned.append((proc.pid, str(proc.argv[0])))
        return proc

    monkeypatch.setattr(Stack, "spawn", spawn)
    out = tmp_path / "m.json"
    argv = ["lab", "matrix", "--jobs", "2", "--format", "json", "-o", str(out)]
    code, stdout, err = run_main(*argv, *[a for c in CHEAP for a in ("--cell", c)])
    doc = json.loads(stdout)
    assert json.loads(out.read_text()) == doc
    cells = doc["cells"]
    skipped = [c for c in cells if (c["error"] or "").startswith("skipped")]
    if len(skipped) == len(cells):
        pytest.skip(f"no proxy here: {skipped[0]['error']}")
    assert [c["cell"] for c in cells] == [m.name for m in matrix.cells() if m.name in CHEAP]
    assert "jobs 2" in err and f"[{len(CHEAP)}/{len(CHEAP)}]" in err
    assert spawned and all(_gone(pid, argv0) for pid, argv0 in spawned), spawned
    # diagnose is bounded (120 s); on a machine at load 60 a child Python can take that long to
    # import: a harness timeout, which says nothing of --jobs (seen while writing this test)
    timed_out = [c["cell"] for c in cells if (c["error"] or "").startswith("TimeoutExpired")]
    for c in cells:
        if c not in skipped:
            assert c["reproduced"] and (c["right"] or c["cell"] in timed_out), c
    assert code == (1 if timed_out else 0)
