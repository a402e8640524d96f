"""Where the suite's CPU goes, per test: a pytest plugin, registered by ``tests/conftest.py`` when
``WHY502_SUITE_CPU`` names a folder.

    WHY502_SUITE_CPU=/tmp/cpu scripts/test
    .venv/bin/python bench/suite_cpu.py /tmp/cpu          # per file, then the slowest tests

Each worker appends one JSON line per test to ``$WHY502_SUITE_CPU/<pid>.jsonl``: the test's id,
the CPU seconds of the worker itself (every thread: polars' pool included) and of the children
it waited for (``RUSAGE_CHILDREN``: the ``why502`` runs, the real proxies stopped by the test),
and its wall time; setup and teardown count with the test that ran them (a module's fixture with
its first test).  The suite is CPU-bound on two cores (BENCHMARKS.md, stop 78), so wall time
under six workers says little: CPU says what a test costs.
"""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Generator
from pathlib import Path
from typing import IO

import pytest

_OUT: list[IO[str]] = []


def _cpu() -> tuple[float, float]:
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def _out() -> IO[str] | None:
    where = os.environ.get("WHY502_SUITE_CPU")
    if not where:
        return None
    if not _OUT:
        Path(where).mkdir(parents=True, exist_ok=True)
        _OUT.append((Path(where) / f"{os.getpid()}.jsonl").open("a", encoding="utf-8"))
    return _OUT[0]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, None, None]:
    out = _out()
    (me0, kids0), wall0 = _cpu(), time.monotonic()
    yield
    if out is None:
        return
    (me1, kids1), wall1 = _cpu(), time.monotonic()
    out.write(json.dumps({"id": item.nodeid, "self": round(me1 - me0, 3), "children": round(kids1 - kids0, 3),
                          "wall": round(wall1 - wall0, 3)}) + "\n")
    out.flush()
