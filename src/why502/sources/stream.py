"""Follow a stream (stdin: ``kubectl logs -f POD | why502 watch -``) the way ``follow`` follows a
file: non-blocking reads of whole lines, in bounded batches, with the same ``PollResult``.

A pipe has no name to re-open and no rotation: what is read is what was written, once.  Its end
(the writer exited: the pod went away, ``kubectl logs -f`` stopped) is ``ended``; watch then
finishes the incident diagnosis under way and stops, as ``tail`` does at the end of its input.
The line rules are ``follow``'s: a line without its newline is held until it comes (or the
stream ends), a line longer than ``MAX_LINE`` is cut, bytes are never interpreted here.
"""

from __future__ import annotations

import contextlib
import os

from why502.findings.model import Diagnostic
from why502.sources.follow import CHUNK, POLL_BUDGET, PollResult, hand_out, split_lines

__all__ = ["StreamFollower"]


class StreamFollower:
    """Follow the open file descriptor ``fd`` (stdin by default), shown as ``path``."""

    def __init__(self, fd: int = 0, path: str = "-", *, raw: bool = False,
                 budget: int = POLL_BUDGET) -> None:
        self.fd = fd
        self.budget = budget
        self.path = path
        self.raw = raw
        self.partial = b""
        self.ended = False
        self.gaps = 0  # a stream has no rotation: never a gap (``FileFollower``'s interface)
        self.lines_read = 0
        self.bytes_read = 0
        self.errors = 0
        self._blocking = os.get_blocking(fd)
        os.set_blocking(fd, False)

    def poll(self) -> PollResult:
        """What the stream holds now, at most ``budget`` bytes, as whole lines."""
        out = PollResult()
        total = 0
        while not self.ended and total < self.budget:
            try:
                data = os.read(self.fd, min(CHUNK, self.budget))
            except BlockingIOError:
                break
            except OSError as err:
                self.errors += 1
                self.ended = True
                out.problems.append(Diagnostic("warning", f"{self.path}: read failed: "
                                               f"{err.strerror or err}"))
                break
            if not data:
                self.ended = True
                break
            total += len(data)
            self.bytes_read += len(data)
            self._split(data, out)
        if self.ended and self.partial:  # the last line, without its newline
            self._hand_out(self.partial + b"\n", out)
            self.partial = b""
        if not self.raw:
            out.count += len(out.lines)
        self.lines_read += out.count
        return out

    def _split(self, data: bytes, out: PollResult) -> None:
        whole, self.partial, overlong = split_lines(self.partial, data)
        if whole:
            self._hand_out(whole, out)
        if overlong is not None:  # a line without end: handed out cut, memory bounded
            self._hand_out(overlong, out)

    def _hand_out(self, block: bytes, out: PollResult) -> None:
        hand_out(block, out, self.raw)

    def lag_bytes(self) -> int:
        """Unknown for a pipe (nothing says how much the writer has written): 0."""
        return 0

    def close(self) -> None:
        """Give the descriptor its blocking mode back (it is stdin: not closed)."""
        with contextlib.suppress(OSError):
            os.set_blocking(self.fd, self._blocking)
