"""One reader per stream (``sources.replay``): the head one log reader peeks is read by the
other (``classify --log-type F -`` sniffed stdin through ``sources.byte_chunks`` and read it
through ``sources.logfiles``, which lost the sniffed head: tests/classify/test_classify_edge_stdin.py)."""

from __future__ import annotations

import io
import sys

import pytest

from why502.sources.byte_chunks import head_lines
from why502.sources.logfiles import iter_byte_batches
from why502.sources.replay import Replay


def _stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(data))))


def _lines(n: int) -> bytes:
    return b"".join(b"line %06d %s\n" % (i, b"x" * 100) for i in range(n))


def test_a_sniffed_head_is_read_by_the_other_reader(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _lines(10_000)  # ~1.1 MB: past the 256 KiB the sniff peeks
    _stdin(monkeypatch, data)
    assert head_lines("-", 3) == [ln.decode() for ln in data.splitlines()[:3]]
    got = b"\n".join(bytes(b.data) for b in iter_byte_batches(["-"], batch_bytes=64 << 10)) + b"\n"
    assert got == data


def test_a_short_peek_does_not_cut_a_longer_one() -> None:
    """gzip's magic is peeked (2 bytes) before the framing (64 KiB) and the format (256 KiB)."""
    src = Replay(io.BufferedReader(io.BytesIO(_lines(1000))), owned=True)
    assert src.peek(2) == b"li"
    assert len(src.peek(4096)) == 4096
    assert src.read(10) == b"line 00000"
    assert src.peek(5).startswith(b"0 xxx")  # (the bytes after those read, not consumed)


def test_reads_after_a_peek_see_every_byte() -> None:
    data = _lines(500)
    for read in ("read", "readinto", "all"):
        src = Replay(io.BufferedReader(io.BytesIO(data)), owned=True)
        src.peek(1000)
        out = bytearray()
        if read == "all":
            out += src.read()
        while read != "all":
            if read == "read":
                part = src.read(777)
            else:
                buf = bytearray(777)
                part = bytes(buf[:src.readinto(memoryview(buf))])
            if not part:
                break
            out += part
        assert bytes(out) == data, read
