"""Follow a log file live, across every way logs are rotated, with no line lost or read twice.

Why not ``tail -F``'s simple rule (reopen the name when its inode changes): nginx keeps writing
to the *old* file after logrotate renamed it, until it gets ``USR1`` (``nginx -s reopen``,
``ngx_reopen_files()`` in src/core/ngx_cycle.c, called from ``postrotate``).  Lines written in
that gap would be lost.  So a file whose name now points elsewhere (renamed, deleted) is kept
open and *drained* until it has been quiet for ``retire_after`` seconds, while the new file at
the name is read from its first byte.

The ways a log moves (logrotate(8)):

- rename + create (the default): the name is a new inode -> the old one is drained, the new one
  read from the start;
- ``copytruncate``: same inode, its size drops below what was read (or the bytes just before our
  offset changed: the writer already wrote past it again) -> what was written after our last
  read is taken from logrotate's copy (the rotated sibling whose bytes before our offset are
  the ones we read; also when ``compress`` without ``delaycompress`` already made it
  ``access.log.1.gz``: it is decompressed as far as it goes), then the file is read again from
  its start.  When no copy holds our bytes (``rotate 0``, removed at once) what was written
  since the last read is lost: a ``Diagnostic`` and ``gaps`` say so, never silently.  Lines
  written between logrotate's copy and its truncate are lost by logrotate itself, as its
  manual says;
- two rotations before the next poll (``rotate`` run twice, a slow poll): the file we read is
  followed by its inode to its end (it is open), and a rotated sibling we never saw that was
  written after our last look is the file in the middle (created, written, renamed away): it
  is read from its first byte before the new file (not a ``.gz``: that is a copy of a file
  already read; nor a file whose first bytes are those of one: a copy); the same after a
  truncation, for a second ``copytruncate`` before the poll;
- delete + recreate, a file that appears later: no file -> a ``missing`` state, the new file is
  read from its first byte when it appears;
- ``nginx -s reopen`` after a rename: the same as rename + create.

A line without its newline yet is held until the newline arrives (nginx writes each line with
one ``write()``, ``ngx_log_error_core()``, but other writers and a copy may cut a line).  Lines
are handed out as ``str`` (UTF-8, invalid bytes replaced): log content is hostile and is never
interpreted here.  With ``raw=True`` they come as bytes blocks of whole lines instead
(``PollResult.chunks``): the access-log counter parses a block at once (polars' CSV reader,
``evidence.stats.parser``), and one Python ``str`` per line was half of its cost.

Errors (permission denied, the file vanished) are reported once per change of state as a
``Diagnostic`` and counted; the follower keeps trying on every poll.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
import zlib
from dataclasses import dataclass, field
from typing import BinaryIO

from why502.findings.model import Diagnostic
from why502.sources.newlines import newlines
from why502.sources.rotation import is_rotated_sibling, rotation_age

__all__ = ["FileFollower", "PollResult", "hand_out"]

CHUNK = 1 << 20  # bytes per read(): big reads keep the tail cheap at high line rates
# bytes read from one file per poll: a big backlog (--from-start, a slow consumer) comes in
# bounded batches, so memory stays flat and the caller keeps deciding between batches
POLL_BUDGET = 4 << 20
MAX_LINE = 1 << 20  # a longer line is cut here (nginx's own error lines are < 2 KiB: NGX_MAX_ERROR_STR)
# bytes before the offset remembered to notice a truncate-then-rewrite and to find the copy that
# holds our tail: several lines, since the last 64 bytes of every line of a format are often the
# same text (`` upstream_response_time="-" request_time=0.000``) and matched any older copy
_GUARD = 4096
_HEAD = 65536  # how far back from the end the start position looks for the last newline
_HEAD_ID = 256  # first bytes that identify a file's copies (timestamps, addresses: unique enough)
_HEAD_MIN = 32  # fewer known bytes identify nothing
_COPY_TAIL = 64 << 20  # most bytes taken from a rotated copy (a tail, or a file skipped between polls)
# renamed files kept open to be drained: a reader that falls behind a writer rotating faster than
# it reads would otherwise hold every rotated file (their disk space, a descriptor each) forever
MAX_RETIRED = 8


@dataclass
class PollResult:
    """What one ``poll()`` found: complete lines (oldest first) and new problems.

    ``raw`` followers fill ``chunks`` (blocks of whole lines, each ending with a newline) and
    ``count`` instead of ``lines``."""

    lines: list[str] = field(default_factory=list)
    problems: list[Diagnostic] = field(default_factory=list)
    chunks: list[bytes] = field(default_factory=list)
    count: int = 0


@dataclass
class _Open:
    """One open file: where we are in it and the bytes of a line not yet complete."""

    fd: int
    ident: tuple[int, int]  # (st_dev, st_ino)
    offset: int = 0
    partial: bytes = b""
    guard: bytes = b""  # the last bytes read, ending at offset
    quiet_since: float = 0.0
    skipping: bool = False  # dropping the rest of a line longer than MAX_LINE


class FileFollower:
    """Follow ``path``; call ``poll()`` repeatedly.

    ``from_start``: read what the file already holds first (default: start at its end, after the
    last complete line).  A file created after the follower started is always read from its
    first byte: all of it is new.
    """

    def __init__(self, path: str, *, from_start: bool = False, retire_after: float = 3.0,
                 raw: bool = False, budget: int = POLL_BUDGET) -> None:
        self.path = path
        self.budget = budget  # bytes read per poll (``POLL_BUDGET``; watch reads less at once)
        self.raw = raw
        self.from_start = from_start
        self.retire_after = retire_after
        self.current: _Open | None = None
        self.retired: list[_Open] = []  # renamed files still drained, oldest first
        self.left = budget  # bytes this poll may still read, across every open file
        self.started = False
        self.state = "new"  # "ok", "missing", "unreadable"
        self.lines_read = 0
        self.bytes_read = 0
        self.errors = 0
        self.rotations = 0
        self.gaps = 0  # truncations whose tail could not be read back (lines may be lost)
        self.seen: dict[tuple[int, int], None] = {}  # inodes read (insertion order, bounded)
        self.dropped: list[Diagnostic] = []  # said by the next poll: rotated files let go
        self.heads: dict[bytes, None] = {}  # the first bytes of files read (bounded)
        self.looked = 0.0  # wall time of the last look at the name: newer siblings are unseen
        self.previous_look = 0.0
        self._buf = bytearray()  # a raw follower's read buffer (``_read_after_partial``)

    # -- public ------------------------------------------------------------------------------

    def poll(self) -> PollResult:
        """Read what was appended since the last poll, following a rotation if there was one."""
        out = PollResult()
        now = time.monotonic()
        # one budget per poll for every file, the oldest first: a follower behind several
        # rotations reads the renamed files in order before the new one, and a poll's lines
        # stay bounded whatever the number of files (it was a budget per file)
        self.left = self.budget
        for old in list(self.retired):
            if self.left <= 0:
                old.quiet_since = now  # not read this poll: not known to be quiet
                continue
            got = self._drain(old, out)
            if got:
                old.quiet_since = now
            elif now - old.quiet_since >= self.retire_after:
                self._close(old, out)
        if self.current is not None:
            self._check_truncated(self.current, out)
            self._drain(self.current, out)
        self._check_name(out, now)
        if self.current is not None:
            self._drain(self.current, out)
        self.started = True
        out.problems.extend(self.dropped)
        self.dropped.clear()
        out.count += len(out.lines)
        self.lines_read += out.count
        return out

    def lag_bytes(self) -> int:
        """How many bytes the file holds beyond what was read (how far behind the tail is)."""
        if self.current is None:
            return 0
        try:
            return max(0, os.fstat(self.current.fd).st_size - self.current.offset)
        except OSError:
            return 0

    def close(self) -> None:
        for f in [*self.retired, *([self.current] if self.current else [])]:
            os.close(f.fd)
        self.retired = []
        self.current = None

    # -- internals ---------------------------------------------------------------------------

    def _check_name(self, out: PollResult, now: float) -> None:
        """Is the name still the file we read?  Open a new one / notice a missing one."""
        self.previous_look, self.looked = self.looked, time.time()
        try:
            st = os.stat(self.path)
        except OSError as err:
            if self.current is not None:
                self._retire(now)
            self._problem(out, "missing" if err.errno == 2 else "unreadable",
                          f"{self.path}: {err.strerror or err} (still watching for it)")
            return
        if stat.S_ISDIR(st.st_mode):
            if self.current is not None:
                self._retire(now)
            self._problem(out, "unreadable", f"{self.path}: is a directory (still watching for it)")
            return
        ident = (st.st_dev, st.st_ino)
        if self.current is not None and self.current.ident == ident:
            return
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as err:
            if self.current is not None:
                self._retire(now)
            self._problem(out, "unreadable",
                          f"{self.path}: {err.strerror or err} (still watching for it)")
            return
        opened = _Open(fd, (os.fstat(fd).st_dev, os.fstat(fd).st_ino), quiet_since=now)
        if self.current is not None:
            old = self.current
            self._retire(now)
            self.rotations += 1
            self._drain(old, out)  # the renamed file, by its inode, to its end first
        elif not self.started and not self.from_start:
            opened.offset = _after_last_newline(fd, os.fstat(fd).st_size)
        if self.started:
            self._read_skipped(out, now, opened.ident, self.previous_look)
        self._saw(opened.ident)
        if self.state in ("missing", "unreadable") and self.started:
            out.problems.append(Diagnostic("info", f"{self.path}: readable again"))
        self.state = "ok"
        self.current = opened

    def _retire(self, now: float) -> None:
        assert self.current is not None
        with contextlib.suppress(OSError):
            self._saw_head(os.pread(self.current.fd, _HEAD_ID, 0))
        self.current.quiet_since = now
        self._keep_retired(self.current)
        self.current = None

    def _keep_retired(self, f: _Open) -> None:
        """Keep ``f`` open to be drained; beyond ``MAX_RETIRED`` the oldest is let go unread
        (its unread lines are lost: counted in ``gaps``, said in a Diagnostic)."""
        self.retired.append(f)
        while len(self.retired) > MAX_RETIRED:
            old = self.retired.pop(0)
            with contextlib.suppress(OSError):
                unread = os.fstat(old.fd).st_size - old.offset
                if unread > 0:
                    self.gaps += 1
                    self.errors += 1
                    self.dropped.append(Diagnostic(
                        "warning", f"{self.path}: more than {MAX_RETIRED} rotations behind: "
                        f"a rotated file was let go with {unread} bytes unread (those lines are "
                        "lost, counted in why502_log_rotation_gaps_total)"))
            os.close(old.fd)

    def _problem(self, out: PollResult, state: str, message: str) -> None:
        if self.state != state:
            self.errors += 1
            out.problems.append(Diagnostic("warning", message))
        self.state = state

    def _check_truncated(self, f: _Open, out: PollResult) -> None:
        """copytruncate: the file is shorter than what we read, or rewritten past our offset.

        What was written after our last read and before the truncate is in logrotate's copy:
        it is read from there (the rotated sibling whose bytes before our offset are the ones
        we read), then the live file from its start."""
        try:
            size = os.fstat(f.fd).st_size
            if size < f.offset:
                truncated = True
            elif f.guard:
                truncated = os.pread(f.fd, len(f.guard), f.offset - len(f.guard)) != f.guard
            else:
                truncated = False
        except OSError:
            return
        if not truncated:
            return
        rest = self._tail_from_copy(f)
        if rest is not None:
            self.bytes_read += len(rest)
            self._split(f, rest, out, self.raw)
            # the held partial line is kept: an O_APPEND writer continues it at the new start
            # a second copytruncate before this poll: its copy holds what came in between
            self._read_skipped(out, time.monotonic(), f.ident, self.looked)
        elif f.offset > 0:
            self.gaps += 1
            self.errors += 1
            f.partial = b""  # its end went with the lost tail
            out.problems.append(Diagnostic(
                "warning", f"{self.path}: truncated (copytruncate) and no rotated copy holds what "
                "was written since the last read: those lines, if any, are lost (counted in "
                "why502_log_rotation_gaps_total; keep one rotated copy: rotate 1 or more)"))
        f.offset = 0
        f.guard = b""
        self.rotations += 1

    def _tail_from_copy(self, f: _Open) -> bytes | None:
        """What logrotate's copy holds past ``f.offset``: the newest rotated sibling (plain or
        ``.gz``) whose bytes before our offset are the ones we read; None when none does.

        Each candidate is opened once and read through that descriptor: ``compress`` unlinks
        the plain copy as soon as its ``.gz`` is written, and the copy's identity (inode, first
        bytes) must be taken from the file whose tail was used."""
        newest = self._siblings()[:6]
        # a plain copy first: a .gz of it may still be being written (gzip runs after the copy)
        for p in [*(q for q in newest if not q.endswith(".gz")),
                  *(q for q in newest if q.endswith(".gz"))]:
            start = f.offset - len(f.guard)
            try:
                fh = open(p, "rb")  # noqa: SIM115 - closed below, on every path
            except OSError:
                continue
            with fh:
                gz = p.endswith(".gz")
                data = _read_open(fh, gz, start, len(f.guard) + _COPY_TAIL)
                if data is None or len(data) < len(f.guard) or data[:len(f.guard)] != f.guard:
                    continue
                st = os.fstat(fh.fileno())
                self._saw((st.st_dev, st.st_ino))  # a copy of what was read: never read again
                self._saw_head(_read_open(fh, gz, 0, _HEAD_ID))  # nor its .gz, made next
            return data[len(f.guard):]
        return None

    def _siblings(self) -> list[str]:
        """The rotated files of this log (``.1``, ``.2.gz``, ``-20261123``), newest first."""
        folder = os.path.dirname(self.path) or "."
        try:
            names = os.listdir(folder)
        except OSError:
            return []
        siblings = [os.path.join(folder, n) for n in names]
        siblings = [p for p in siblings if is_rotated_sibling(self.path, p)]
        siblings.sort(key=_mtime, reverse=True)
        return siblings

    def _read_skipped(self, out: PollResult, now: float, new: tuple[int, int],
                      looked: float) -> None:
        """A new file at the name: any rotated sibling never seen and written since our last
        look is a file that was created and rotated away between two polls -- read it whole,
        oldest first (a bigger rotation suffix is older)."""
        since = looked - 0.05  # file times come from a coarse kernel clock
        found: list[tuple[tuple[int, int], str, int]] = []
        for p in self._siblings():
            if p.endswith(".gz"):
                # compressed: a copy of a file already read (logrotate compresses what it
                # rotated, after a poll or more); a file created, rotated *and* compressed
                # between two polls is beyond what can be told apart from such a copy
                continue
            try:
                fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
            except OSError:
                continue
            st = os.fstat(fd)
            ident = (st.st_dev, st.st_ino)
            if (st.st_mtime < since or ident in self.seen or ident == new
                    or not stat.S_ISREG(st.st_mode)
                    or self._known_head(_read_fd(fd, False, 0, _HEAD_ID))):  # a copy
                os.close(fd)
                if st.st_mtime < since:
                    break  # newest first: the rest are older still
                continue
            found.append((rotation_age(p), p, fd))
        for _age, _p, fd in sorted(found, reverse=True):
            st = os.fstat(fd)
            self._saw((st.st_dev, st.st_ino))
            self._saw_head(_read_fd(fd, False, 0, _HEAD_ID))
            self.rotations += 1
            skipped = _Open(fd, (st.st_dev, st.st_ino), quiet_since=now)
            self._keep_retired(skipped)  # closed when quiet, like any renamed file
            self._drain(skipped, out)

    def _saw(self, ident: tuple[int, int]) -> None:
        self.seen[ident] = None
        if len(self.seen) > 256:
            del self.seen[next(iter(self.seen))]

    def _known_head(self, head: bytes | None) -> bool:
        """Does ``head`` start a file already read?  Compared over the shorter of the two: a
        file read while it was shorter than ``_HEAD_ID`` has a shorter head."""
        if not head:
            return False
        for known in self.heads:
            n = min(len(known), len(head))
            if n >= _HEAD_MIN and known[:n] == head[:n]:
                return True
        return False

    def _saw_head(self, head: bytes | None) -> None:
        """Remember the first bytes of a file read: a rotated copy or ``.gz`` of it made later
        (a new inode) starts with them and is not read a second time."""
        if head:
            self.heads[head] = None
            if len(self.heads) > 256:
                del self.heads[next(iter(self.heads))]

    def _drain(self, f: _Open, out: PollResult) -> int:
        """Read what follows ``f.offset`` (at most what is ``left`` of this poll's budget);
        complete lines go to ``out``.  Returns the bytes read."""
        total = 0
        while self.left > 0:
            want = min(CHUNK, self.left)
            try:
                if self.raw and not f.skipping:
                    got = self._read_after_partial(f, want, out)
                    if not got:
                        return total
                    total += got
                    continue
                data = os.pread(f.fd, want, f.offset)
            except OSError as err:
                self.errors += 1
                out.problems.append(Diagnostic("warning", f"{self.path}: read failed: "
                                               f"{err.strerror or err}"))
                return total
            if not data:
                return total
            self._advance(f, len(data))
            total += len(data)
            f.guard = data[-_GUARD:] if len(data) >= _GUARD else (f.guard + data)[-_GUARD:]
            self._split(f, data, out, self.raw)
        return total

    def _advance(self, f: _Open, n: int) -> None:
        f.offset += n
        self.left -= n
        self.bytes_read += n

    def _read_after_partial(self, f: _Open, want: int, out: PollResult) -> int:
        """``_drain``'s read and ``_split`` of a raw follower in one: the file's next ``want``
        bytes read straight after the kept partial line, into a buffer the follower reuses, and
        the whole lines handed out in one copy; the bytes read (0: none).  The same lines as
        ``split_lines`` cuts them.  Why: reading into a new ``bytes`` each time, joining the
        partial line to it and slicing off the whole lines made three fresh buffers of ~1 MiB a
        read (their pages faulted in, zeroed and copied), ~a fifth of ``watch``'s CPU on
        Cloudflare's 1.1 KB lines (BENCHMARKS.md stop 57)."""
        kept = len(f.partial)
        if len(self._buf) < kept + want:
            self._buf = bytearray(kept + want)
        buf = self._buf
        view = memoryview(buf)
        try:
            buf[:kept] = f.partial
            n = os.preadv(f.fd, [view[kept:kept + want]], f.offset)
            if n <= 0:
                return 0
            self._advance(f, n)
            end = kept + n
            f.guard = bytes(view[end - _GUARD:end]) if n >= _GUARD else (f.guard + view[kept:end])[-_GUARD:]
            self._hand_out_cut(f, _cut_lines(buf, end), out, True)
            return n
        finally:
            view.release()

    @staticmethod
    def _split(f: _Open, data: bytes, out: PollResult, raw: bool) -> None:
        if f.skipping:  # the rest of an over-long line already handed out cut
            nl = data.find(b"\n")
            if nl < 0:
                return
            f.skipping = False
            data = data[nl + 1:]
        FileFollower._hand_out_cut(f, split_lines(f.partial, data), out, raw)

    @staticmethod
    def _hand_out_cut(f: _Open, cut: tuple[bytes, bytes, bytes | None], out: PollResult, raw: bool) -> None:
        """``split_lines``' answer handed out: the whole lines, then a line cut at ``MAX_LINE``
        (the rest of it skipped), the unended rest kept."""
        whole, f.partial, overlong = cut
        if whole:
            hand_out(whole, out, raw)
        if overlong is not None:
            hand_out(overlong, out, raw)
            f.skipping = True

    def _close(self, f: _Open, out: PollResult) -> None:
        """A retired file quiet long enough: closed; a last line without newline is kept whole."""
        if f.partial:
            hand_out(f.partial + b"\n", out, self.raw)
        os.close(f.fd)
        self.retired.remove(f)


def split_lines(partial: bytes, data: bytes) -> tuple[bytes, bytes, bytes | None]:
    """``partial`` (the unended line kept so far) and new ``data`` as: the whole lines to hand
    out (``b""`` when none), the unended rest to keep, and the rest cut at ``MAX_LINE`` with its
    newline when it grew past that (a line without end, hostile or not a log: handed out cut,
    so memory stays bounded; the rest to keep is then empty).  One splitter for the file
    follower and the stdin stream."""
    buf = partial + data if partial else data
    return _cut_lines(buf, len(buf))


def _cut_lines(buf: bytes | bytearray, end: int) -> tuple[bytes, bytes, bytes | None]:
    """``split_lines`` of ``buf[:end]`` (the partial line and the new data, already together:
    ``FileFollower._read_after_partial`` reads into a buffer after the partial line), each part
    copied out of ``buf`` once."""
    cut = buf.rfind(b"\n", 0, end)
    with memoryview(buf) as view:
        whole = bytes(view[:cut + 1]) if cut >= 0 else b""
        rest = view[cut + 1:end]
        if len(rest) > MAX_LINE:
            return whole, b"", bytes(rest[:MAX_LINE]) + b"\n"
        return whole, bytes(rest), None


def hand_out(block: bytes, out: PollResult, raw: bool) -> None:
    """Whole lines (``block`` ends with a newline) to ``out``, as bytes or as text."""
    if raw:
        out.chunks.append(block)
        out.count += newlines(block)
    else:
        out.lines.extend(block[:-1].decode("utf-8", "replace").split("\n"))


def _mtime(path: str) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0


def _read_fd(fd: int, gz: bool, start: int, limit: int) -> bytes | None:
    """``_read_open`` on a descriptor (left open)."""
    with os.fdopen(os.dup(fd), "rb") as fh:
        return _read_open(fh, gz, start, limit)


def _read_open(fh: BinaryIO, gz: bool, start: int, limit: int) -> bytes | None:
    """At most ``limit`` bytes of an open file from ``start``, decompressed when ``gz`` (the
    bytes before ``start`` are decompressed and dropped: memory stays bounded; a stream gzip is
    still writing gives what it holds so far).  None when it cannot be read."""
    try:
        if not gz:
            fh.seek(start)
            return fh.read(limit)
        fh.seek(0)
        unzip = zlib.decompressobj(wbits=31)
        parts: list[bytes] = []
        pos = size = 0  # decompressed bytes seen / kept
        while size < limit and not unzip.eof:
            raw = unzip.unconsumed_tail or fh.read(CHUNK)
            if not raw:
                break
            part = unzip.decompress(raw, CHUNK)
            if pos + len(part) > start:
                keep = part[max(0, start - pos):]
                parts.append(keep[:limit - size])
                size += len(parts[-1])
            pos += len(part)
        return b"".join(parts)
    except (OSError, zlib.error):
        return None


def _after_last_newline(fd: int, size: int) -> int:
    """Where to start at the end of a file: after its last newline, so that a line being
    written is read whole."""
    start = max(0, size - _HEAD)
    try:
        tail = os.pread(fd, size - start, start)
    except OSError:
        return size
    cut = tail.rfind(b"\n")
    return start + cut + 1 if cut >= 0 else (start if start == 0 else size)
