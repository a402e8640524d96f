"""``app.classify._pull``: the native summary's workers take their batches themselves -- results
still come in input order, an error in a worker (reading or working) reaches the caller, no
more than ``workers`` batches are in flight, and no worker outlives the run."""

from __future__ import annotations

import contextvars
import random
import threading
import time
from collections.abc import Iterator

import pytest

from why502.app.classify import _pull
from why502.sources import opening


def test_results_and_on_batch_in_input_order() -> None:
    rng = random.Random(3)
    seen: list[int] = []

    def work(i: int) -> int:
        time.sleep(rng.random() / 500)  # finish out of order
        return i * i

    assert list(_pull(iter(range(200)), seen.append, 2, work)) == [i * i for i in range(200)]
    assert seen == list(range(200))


def test_no_more_than_workers_batches_in_flight() -> None:
    lock = threading.Lock()
    busy = [0, 0]  # now, most

    def work(i: int) -> int:
        with lock:
            busy[0] += 1
            busy[1] = max(busy[1], busy[0])
        time.sleep(0.001)
        with lock:
            busy[0] -= 1
        return i

    def batches() -> Iterator[int]:
        for i in range(60):
            assert busy[0] <= 2
            yield i

    assert list(_pull(batches(), None, 2, work)) == list(range(60))
    assert busy[1] == 2


@pytest.mark.parametrize("where", ["read", "work"])
def test_an_error_in_a_worker_reaches_the_caller(where: str) -> None:
    def batches() -> Iterator[int]:
        yield from range(10)
        if where == "read":
            raise OSError("disk gone")
        yield from range(10, 20)

    def work(i: int) -> int:
        if where == "work" and i == 13:
            raise ValueError("bad batch")
        return i

    before = threading.active_count()
    with pytest.raises(OSError if where == "read" else ValueError):
        list(_pull(batches(), None, 2, work))
    assert threading.active_count() == before


def test_a_run_left_early_stops_its_workers() -> None:
    before = threading.active_count()
    results = _pull(iter(range(1000)), None, 2, lambda i: i)
    assert next(results) == 0
    results.close()
    assert threading.active_count() == before


_RUN: contextvars.ContextVar[str] = contextvars.ContextVar("test_pull_run", default="none")


def test_workers_read_in_the_callers_context_and_leave_it_their_notes() -> None:
    """The workers advance the reader as this thread would: with its context (the run's open
    files are a ContextVar: ``sources.once``) and with their notes recorded into this thread's
    own notes (``own_notes``), where a reader on this thread would have recorded them."""
    seen: set[str] = set()

    def batches() -> Iterator[int]:
        for i in range(20):
            seen.add(_RUN.get())
            opening.note(f"read {i // 10}")
            yield i

    token = _RUN.set("this run")
    try:
        with opening.own_notes() as mine:
            got = list(_pull(batches(), None, 2, lambda i: (_RUN.get(), i)))
    finally:
        _RUN.reset(token)
    assert got == [("this run", i) for i in range(20)]
    assert seen == {"this run"}
    assert mine == ["read 0", "read 1"]
    assert "read 0" not in opening.take_notes()
