"""``app.watch.window.LogWindow``: the lines an incident is diagnosed from, bounded in time and bytes."""

from __future__ import annotations

from why502.app.watch.window import LogWindow


def test_the_window_keeps_its_seconds() -> None:
    w = LogWindow(60, budget=1 << 20)
    w.add(100.0, b"a\n", 1)
    w.add(130.0, b"b\n", 1)
    assert w.snapshot() == b"a\nb\n" and w.lines == 2
    w.trim(160.5)  # "a" left the window: not a line left out
    assert w.snapshot() == b"b\n" and w.dropped_lines == 0


def test_past_the_budget_the_oldest_lines_go_and_are_counted() -> None:
    w = LogWindow(60, budget=10)
    w.add(1.0, b"aaaa\n", 1)
    w.add(2.0, b"bbbb\n", 1)
    w.add(3.0, b"cccc\n", 1)
    assert w.snapshot() == b"bbbb\ncccc\n" and w.size == 10 and w.dropped_lines == 1
    w.add(4.0, b"1\n2\n3\n4\n5\n6\n", 6)  # one block over the budget: its last whole lines
    assert w.snapshot() == b"2\n3\n4\n5\n6\n" and w.size <= 10
    assert w.dropped_lines == 1 + 2 + 1  # aaaa, bbbb+cccc, and "1"


def test_an_open_incident_holds_its_lines_past_the_window_within_the_budget() -> None:
    """The close of an incident is diagnosed over the whole incident: while ``hold_from`` is set
    the blocks read since then stay when they leave the window (the budget still bounds them);
    without it only the window's last seconds would be left (issue 31: re-diagnosed at close)."""
    from why502.app.watch.window import LogWindow

    win = LogWindow(seconds=3, budget=1 << 20)
    win.hold_from = 10.0
    win.add(9.0, b"before\n", 1)
    win.add(10.5, b"a 502\n", 1)
    win.add(30.0, b"a 200\n", 1)
    assert win.snapshot() == b"a 502\na 200\n"  # 9.0 left with the window, 10.5 held
    win.hold_from = None
    win.trim(30.0)
    assert win.snapshot() == b"a 200\n"
    small = LogWindow(seconds=3, budget=8)
    small.hold_from = 0.0
    small.add(1.0, b"12345\n", 1)
    small.add(20.0, b"67890\n", 1)
    assert small.snapshot() == b"67890\n"  # the budget still bounds what is held
