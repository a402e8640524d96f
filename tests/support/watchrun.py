"""A ``watch`` engine run to the end of its logs, and the metrics it exports then: the native
passes on or off (``WHY502_NATIVE``), for the tests that compare the two."""

from __future__ import annotations

import pytest
from prometheus_client import generate_latest

from why502.app.watch.engine import Watch, WatchOptions


def exported(options: WatchOptions, native: bool, monkeypatch: pytest.MonkeyPatch,
             mask: str) -> dict[str, float]:
    """The series ``Watch(options)`` exports once it has read its logs (``options.from_start``),
    with the native passes on or off, but the ``_created`` and ``seconds`` ones; ``mask`` (the
    run's folder or log) written ``LOG`` in the labels."""
    if native:
        monkeypatch.delenv("WHY502_NATIVE", raising=False)
    else:
        monkeypatch.setenv("WHY502_NATIVE", "0")
    try:
        w = Watch(options, lambda _e: None, lambda _d: None)
        for _ in range(10_000):
            if not w.step():
                break
    finally:
        monkeypatch.delenv("WHY502_NATIVE", raising=False)
    out: dict[str, float] = {}
    for ln in generate_latest(w.metrics.registry).decode().splitlines():
        name = ln.split("{", 1)[0].split(" ", 1)[0]
        if ln.startswith("#") or name.endswith("_created") or "seconds" in name:
            continue
        key, value = ln.rsplit(" ", 1)
        out[key.replace(mask, "LOG")] = float(value)
    return out
