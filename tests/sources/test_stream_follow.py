"""``sources.stream.StreamFollower``: stdin followed like a file (``why502 watch -``)."""

from __future__ import annotations

import os

from why502.sources.stream import StreamFollower


def test_whole_lines_then_the_last_one_at_the_end() -> None:
    r, w = os.pipe()
    try:
        f = StreamFollower(r, "-", raw=True)
        assert f.poll().count == 0 and not f.ended  # nothing written yet: no block, no end
        os.write(w, b"one\ntw")
        got = f.poll()
        assert got.chunks == [b"one\n"] and got.count == 1  # "tw" held until its newline
        os.write(w, b"o\nthree")
        os.close(w)
        w = -1
        got = f.poll()
        assert b"".join(got.chunks) == b"two\nthree\n" and got.count == 2  # the last line kept whole
        assert f.ended and f.lines_read == 3
        f.close()
        assert os.get_blocking(r)  # stdin given back as it was
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)


def test_text_lines() -> None:
    r, w = os.pipe()
    try:
        os.write(w, b"a\n\xffb\n")
        os.close(w)
        f = StreamFollower(r, "-")
        got = f.poll()
        assert got.lines == ["a", "\ufffdb"] and got.count == 2 and f.ended
    finally:
        os.close(r)
