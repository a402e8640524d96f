"""The log follower on real files: every way of rotating, partial lines, late and vanished files.

A writer thread appends numbered lines at a steady rate while the file is rotated the way
logrotate (and ``nginx -s reopen``) does it; the follower must hand out each line exactly once.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.support.logwriter import Writer, rotate
from why502.sources.follow import FileFollower


@pytest.mark.parametrize("how", ["rename-create", "copytruncate", "delete-recreate", "nginx-reopen"])
def test_follow_across_rotation_loses_and_doubles_nothing(tmp_path: Path, how: str) -> None:
    path = tmp_path / "access.log"
    writer = Writer(path)
    follower = FileFollower(str(path), from_start=True, retire_after=0.3)
    got: list[str] = []
    writer.start()
    # a count of rotations and lines, not a time: on a loaded machine the same work takes longer
    # (the 15-s guard only stops a broken follower from running forever)
    guard = time.monotonic() + 15
    n = 0
    next_rotation = time.monotonic() + 0.1
    while (n < 6 or writer.count <= 1000) and time.monotonic() < guard:
        got += follower.poll().lines
        if time.monotonic() >= next_rotation:
            n += 1
            rotate(how, path, writer, n)
            next_rotation = time.monotonic() + 0.15
        time.sleep(0.005)
    writer.stop_flag.set()
    writer.join(5)
    end = time.monotonic() + 5
    while (len(got) < writer.count or follower.retired) and time.monotonic() < end:
        got += follower.poll().lines
        time.sleep(0.02)
    follower.close()
    assert n >= 5
    assert writer.count > 1000
    assert len(got) == len(set(got)), "a line was read twice"
    assert got and set(got) == {f"line {i}" for i in range(1, writer.count + 1)}
    assert follower.rotations >= 1  # a file missing when polled is opened without counting one


def test_partial_line_held_until_newline(tmp_path: Path) -> None:
    path = tmp_path / "error.log"
    path.write_text("")
    f = FileFollower(str(path))
    assert f.poll().lines == []
    with path.open("a") as fh:
        fh.write("first half")
        fh.flush()
        assert f.poll().lines == []
        fh.write(" second half\nnext")
        fh.flush()
        assert f.poll().lines == ["first half second half"]
        fh.write("\n")
    assert f.poll().lines == ["next"]


def test_starts_at_end_unless_from_start(tmp_path: Path) -> None:
    path = tmp_path / "access.log"
    path.write_text("old 1\nold 2\nbeing writ")
    tail = FileFollower(str(path))
    head = FileFollower(str(path), from_start=True)
    assert tail.poll().lines == []
    assert head.poll().lines == ["old 1", "old 2"]
    with path.open("a") as fh:
        fh.write("ten\nnew\n")
    # the line being written when the follower started is read whole
    assert tail.poll().lines == ["being written", "new"]
    assert head.poll().lines == ["being written", "new"]


def test_file_appearing_later_is_read_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "later.log"
    f = FileFollower(str(path))
    first = f.poll()
    assert first.lines == [] and f.state == "missing" and f.errors == 1
    assert "No such file" in first.problems[0].message
    assert f.poll().problems == []  # reported once, not on every poll
    path.write_text("a\nb\n")
    again = f.poll()
    assert again.lines == ["a", "b"]
    assert [p.message for p in again.problems] == [f"{path}: readable again"]


def test_unreadable_and_vanished_file_keep_the_follower_running(tmp_path: Path) -> None:
    path = tmp_path / "x.log"
    path.write_text("")
    f = FileFollower(str(path), retire_after=0.0)
    f.poll()
    path.unlink()
    path.mkdir()  # something that cannot be read as a log, for root too
    got = f.poll()
    assert f.state == "unreadable" and f.errors == 1
    assert "is a directory" in got.problems[0].message
    path.rmdir()
    path.write_text("back\n")
    assert f.poll().lines == ["back"]
    assert f.state == "ok"


def test_a_big_backlog_comes_in_bounded_batches(tmp_path: Path) -> None:
    from why502.sources import follow

    path = tmp_path / "big.log"
    line = "x" * 99 + "\n"
    count = (follow.POLL_BUDGET // len(line)) * 3
    path.write_text(line * count)
    f = FileFollower(str(path), from_start=True)
    batches = []
    while len(batches) < 10 and (got := f.poll().lines):
        batches.append(len(got))
    assert sum(batches) == count and len(batches) >= 2
    assert max(batches) <= follow.POLL_BUDGET * 2 // len(line)  # two drains per poll at most


def test_a_line_without_end_is_cut_and_memory_stays_bounded(tmp_path: Path) -> None:
    from why502.sources import follow

    path = tmp_path / "hostile.log"
    path.write_bytes(b"x" * (follow.MAX_LINE + 10))
    f = FileFollower(str(path), from_start=True)
    got = f.poll().lines
    assert [len(x) for x in got] == [follow.MAX_LINE]
    with path.open("ab") as fh:
        fh.write(b"y" * 100 + b"\nnext\n")
    assert f.poll().lines == ["next"]  # the rest of the cut line is dropped, not a line of its own


def _lines(start: int, end: int) -> str:
    return "".join(f"line {i}\n" for i in range(start, end))


def test_two_rotations_between_polls_skip_no_file(tmp_path: Path) -> None:
    """rename + create twice before the follower looks again: the file in the middle (created,
    written, renamed away) is read too, and the renamed one is read to its end first."""
    path = tmp_path / "access.log"
    path.write_text(_lines(0, 10))
    follower = FileFollower(str(path), from_start=True, retire_after=0.0)
    assert len(follower.poll().lines) == 10
    with path.open("a") as fh:  # written after the last poll, then renamed: read by inode
        fh.write(_lines(10, 20))
    path.rename(tmp_path / "access.log.1")
    path.write_text(_lines(20, 30))  # the middle file
    (tmp_path / "access.log.1").rename(tmp_path / "access.log.2")
    path.rename(tmp_path / "access.log.1")
    path.write_text(_lines(30, 40))
    got: list[str] = []
    for _ in range(3):
        got += follower.poll().lines
    assert sorted(got, key=lambda s: int(s.split()[1])) == [f"line {i}" for i in range(10, 40)]
    assert follower.rotations == 2


def test_copytruncate_with_compress_takes_the_tail_from_the_gzipped_copy(tmp_path: Path) -> None:
    """copytruncate + compress (no delaycompress): the copy is already ``access.log.1.gz`` when
    the follower looks; what was written between its last read and the truncate is in there."""
    import gzip
    import shutil

    path = tmp_path / "access.log"
    path.write_text(_lines(0, 10))
    follower = FileFollower(str(path), from_start=True)
    assert len(follower.poll().lines) == 10
    with path.open("a") as fh:
        fh.write(_lines(10, 15) + "line 1")  # the tail, its last line without its newline yet
    with path.open("rb") as src, gzip.open(tmp_path / "access.log.1.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    path.write_text("")  # truncate (the writer's O_APPEND continues at 0)
    with path.open("a") as fh:
        fh.write("5\n" + _lines(16, 20))  # the writer finishes its line at the new start
    got = follower.poll()
    assert got.lines == [f"line {i}" for i in range(10, 20)]
    assert follower.gaps == 0


def test_copytruncate_whose_copy_is_gone_is_a_counted_gap(tmp_path: Path) -> None:
    """No copy to read the tail from (``rotate 0``, or deleted at once): said and counted, never
    silent, and the follower goes on from the new start."""
    path = tmp_path / "access.log"
    path.write_text(_lines(0, 10))
    follower = FileFollower(str(path), from_start=True)
    follower.poll()
    with path.open("a") as fh:
        fh.write(_lines(10, 12))
    path.write_text("")
    with path.open("a") as fh:
        fh.write(_lines(20, 22))
    got = follower.poll()
    assert got.lines == ["line 20", "line 21"]
    assert follower.gaps == 1
    assert any("truncated" in p.message and "lost" in p.message for p in got.problems)


def test_two_copytruncates_between_polls_lose_and_double_nothing(tmp_path: Path) -> None:
    """copytruncate + compress twice before the follower looks again: the tail comes from the
    first copy, what came between the two from the second, and the ``.gz`` of a copy already
    read is not read again."""
    import gzip
    import shutil

    path = tmp_path / "access.log"
    path.write_text(_lines(0, 10))
    follower = FileFollower(str(path), from_start=True)
    assert len(follower.poll().lines) == 10

    def copytruncate(n: int) -> None:
        shutil.copyfile(path, tmp_path / f"access.log.{n}")
        path.write_text("")

    with path.open("a") as fh:
        fh.write(_lines(10, 15))
    copytruncate(2)
    with path.open("a") as fh:
        fh.write(_lines(15, 20))
    copytruncate(1)
    with path.open("a") as fh:
        fh.write(_lines(20, 25))
    got = follower.poll().lines
    with (tmp_path / "access.log.2").open("rb") as src, \
            gzip.open(tmp_path / "access.log.2.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)  # compress runs after the follower took the tail
    (tmp_path / "access.log.2").unlink()
    path.rename(tmp_path / "access.log.0")  # then a rename: the .gz is no file in between
    path.write_text(_lines(25, 30))
    got += follower.poll().lines
    assert sorted(got, key=lambda s: int(s.split()[1])) == [f"line {i}" for i in range(10, 30)]
    assert follower.gaps == 0


def test_copytruncate_tail_never_comes_from_an_older_copy_with_the_same_line_ends(
        tmp_path: Path) -> None:
    """Every line of a format often ends with the same text (``upstream_response_time="-"
    request_time=0.000``): an older plain copy with a line boundary at the same offset must not
    be taken for the copy that holds the tail (here the right one is already ``.gz``)."""
    import gzip
    import shutil

    def same_shape(start: int, end: int) -> str:
        return "".join(f"n={i:06d} upstream_status=\"-\" upstream_response_time=\"-\" "
                       "request_time=0.000\n" for i in range(start, end))

    path = tmp_path / "access.log"
    (tmp_path / "access.log.2").write_text(same_shape(500, 540))  # an older rotation
    os.utime(tmp_path / "access.log.2", (time.time() - 60, time.time() - 60))
    path.write_text(same_shape(0, 10))
    follower = FileFollower(str(path), from_start=True)
    assert len(follower.poll().lines) == 10
    with path.open("a") as fh:
        fh.write(same_shape(10, 15))
    with path.open("rb") as src, gzip.open(tmp_path / "access.log.1.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    path.write_text("")
    got = follower.poll().lines
    assert [ln.split()[0] for ln in got] == [f"n={i:06d}" for i in range(10, 15)]



def _hundred_byte_lines(tag: str, count: int) -> list[str]:
    return [f"{tag}-{i:06d} ".ljust(99, "x") for i in range(count)]  # 100 bytes with the newline


def test_a_reader_behind_several_rotations_reads_them_in_order_within_one_budget(
        tmp_path: Path) -> None:
    """A slow reader behind a writer that rotates (rename + create) faster than it reads: every
    poll's lines stay within one budget, whatever the number of renamed files held open (it
    was one budget per file: a watch 40 rotations behind read 40 budgets a poll and grew past
    300 MB), and the renamed files come oldest first, then the new one: nothing lost or doubled."""
    path = tmp_path / "access.log"
    budget = 16 << 10
    written: list[str] = []
    batches: list[list[str]] = []
    f = FileFollower(str(path), from_start=True, budget=budget)
    for gen in range(5):  # each file holds 3 budgets and is renamed away after one poll
        lines = _hundred_byte_lines(f"g{gen}", 3 * budget // 100)
        path.write_text("\n".join(lines) + "\n")
        written += lines
        batches.append(f.poll().lines)
        os.replace(path, tmp_path / f"kept-{gen}")  # not a rotated sibling's name: no shortcut
    while batch := f.poll().lines:
        batches.append(batch)
    assert max(len(b) for b in batches) * 100 <= budget + 100  # + the line a poll had begun
    assert [ln for b in batches for ln in b] == written
    f.close()


def test_more_renamed_files_than_kept_is_a_counted_gap(tmp_path: Path) -> None:
    """Beyond ``MAX_RETIRED`` renamed files waiting to be drained, the oldest is let go: its
    descriptor (and the disk space of a deleted file) is released, and its unread lines are a
    counted gap with a warning, never a silent loss."""
    from why502.sources import follow

    path = tmp_path / "access.log"
    f = FileFollower(str(path), from_start=True, budget=4096)
    problems: list[str] = []
    for gen in range(follow.MAX_RETIRED + 3):
        path.write_text("\n".join(_hundred_byte_lines(f"g{gen}", 200)) + "\n")
        problems += [p.message for p in f.poll().problems]
        os.replace(path, tmp_path / f"kept-{gen}")
    problems += [p.message for p in f.poll().problems]
    assert len(f.retired) <= follow.MAX_RETIRED
    # the oldest files were drained first (one budget a poll, oldest first): those let go
    # fully read are no loss; the one let go at the end still held unread lines
    assert f.gaps >= 1 and f.errors >= f.gaps
    assert sum("rotations behind" in m for m in problems) == f.gaps, problems
    held = [n for n in os.listdir("/proc/self/fd")
            if _readlink(f"/proc/self/fd/{n}").startswith(str(tmp_path / "kept-"))]
    assert len(held) <= follow.MAX_RETIRED
    f.close()


def _readlink(path: str) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return ""


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_raw_follower_hands_out_what_the_line_follower_does(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """``watch``'s raw follower reads into a buffer it reuses, after the kept partial line
    (``FileFollower._read_after_partial``); the line follower reads each chunk anew and splits it
    (``split_lines``): the same lines, through writes cut anywhere (mid-line, mid-newline run),
    lines longer than the cut (handed out cut, their rest dropped), reads smaller than a line,
    and a rotation."""
    import random

    from why502.sources import follow

    monkeypatch.setattr(follow, "CHUNK", 64)
    monkeypatch.setattr(follow, "MAX_LINE", 150)
    rng = random.Random(seed)
    path = tmp_path / "access.log"
    path.write_bytes(b"")
    raw = FileFollower(str(path), from_start=True, raw=True, budget=200)
    text = FileFollower(str(path), from_start=True, budget=200)
    got_raw: list[bytes] = []
    got_text: list[str] = []

    def poll() -> None:
        for _ in range(50):
            a, b = raw.poll(), text.poll()
            got_raw.extend(a.chunks)
            got_text.extend(b.lines)
            assert a.count == sum(c.count(b"\n") for c in a.chunks)
            if not a.chunks and not b.lines:
                return

    for k in range(300):
        line = (b"x" * rng.choice([0, 1, 5, 40, 63, 64, 65, 149, 150, 151, 400]) + b"\n") * rng.choice([1, 3])
        with path.open("ab") as fh:
            cut = rng.randrange(len(line) + 1)
            fh.write(line[:cut])
            fh.flush()
            if rng.random() < 0.5:
                poll()
            fh.write(line[cut:])
        if k == 150:
            os.rename(path, tmp_path / "access.log.1")
            path.write_bytes(b"")
        poll()
    time.sleep(0.01)
    poll()
    assert b"".join(got_raw).decode().split("\n")[:-1] == got_text
    assert len(got_text) > 300
