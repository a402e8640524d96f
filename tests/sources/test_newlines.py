"""``sources.newlines``: the native count of newlines (``sources/_lines.c``, sixteen bytes at a
time) is ``bytes.count(b"\\n")`` on every length around its 64-byte steps, every place of a
newline in a step, bytes of every value, memoryviews, and big blocks (counted without the GIL);
with ``WHY502_NATIVE=0`` it is ``bytes.count`` itself."""

from __future__ import annotations

import random

import pytest

from tests.support.native import native_pass
from why502.sources import newlines as nl_mod
from why502.sources.newlines import newlines

BUILT, pytestmark = native_pass("why502.sources._lines", "the native newline count")


def test_every_length_and_place() -> None:
    assert nl_mod._counter("1") is not nl_mod._count_bytes  # the native count, where it runs
    rng = random.Random(3)
    for size in range(0, 200):
        for _ in range(4):
            data = bytes(rng.choice(b"\nab\x00\xff\x0a\x8a") for _ in range(size))
            assert newlines(data) == data.count(b"\n"), (size, data)
    for k in range(130):  # one newline at each place of two steps and the tail
        data = bytearray(b"x" * 130)
        data[k] = 10
        assert newlines(bytes(data)) == 1


def test_big_blocks_and_views() -> None:
    rng = random.Random(4)
    data = rng.randbytes(3 << 20)
    assert newlines(data) == data.count(b"\n") > 10_000
    view = memoryview(data)[17:(2 << 20) + 5]
    assert newlines(view) == bytes(view).count(b"\n")
    assert newlines(b"\n" * 100_000) == 100_000


def test_turned_off_it_is_bytes_count(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHY502_NATIVE", "0")
    assert nl_mod._counter("0") is nl_mod._count_bytes
    assert newlines(b"a\nb\n") == newlines(memoryview(b"a\nb\n")) == 2


def test_lanes_counted_in_rounds() -> None:
    """Every byte a newline, around the size of one round of the byte-lane counters (63 steps
    of 64 bytes: 252 per lane, below the 255 a lane holds) and of several."""
    for size in (*range(4030, 4100), *range(8060, 8070), 64 * 63 * 5 + 1):
        assert newlines(b"\n" * size) == size, size
        assert newlines(b"x" + b"\n" * size) == size, size
