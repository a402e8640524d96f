"""An access log inside a container runtime's framing, read as the lines the program wrote.

Why: a proxy in a container writes its access log to stdout, and what is on disk is the
runtime's file: docker's json-file driver (``/var/lib/docker/containers/ID/ID-json.log``, one
``{"log":"<line>\\n","stream":"stdout","time":"..."}`` object a line, a line over 16 KiB split
into objects whose ``log`` has no newline: moby ``daemon/logger/jsonfilelog``) or a CRI runtime's
(``/var/log/containers/*.log``, ``<RFC 3339 time> <stream> <P|F> <line>``, ``P`` a partial line
the next one continues: kubelet's CRI log format, ``k8s.io/cri-client`` ``pkg/logs``).  Error
logs are unframed line by line by their readers (``parsers.wrappers.unwrap``); the access-log
readers (the native scanners, polars' splits) read lines as the proxy wrote them, so a framed
access log was refused ("none of the lines matches the log format") or, with CRI's prefix,
read with the runtime's time for the client (docs/limits.md, stop 68).

A file is framed when every one of its first non-empty lines (at least ``MIN_LINES`` of them in
the first bytes a reader peeks) is in one framing: then the access-log readers
(``sources.byte_chunks`` for ``stats``, ``sources.logfiles`` for the edge families) read it
through :class:`Unframed`, each framed line its program's line (both streams: Caddy writes its
access log to stderr), partial lines joined, a line in no framing kept as it is.  A line
joined from parts is one line, so the line numbers after it are the program's, one fewer than
the file's for each join.  ``watch`` unframes the blocks it follows with the same
:func:`unframe_block`, a stream at a time where the log's kind says which (``app.watch.engine``).

Partial lines are joined per stream: the runtime copies a container's stdout and stderr on two
goroutines, so the parts of a long stdout line can have a stderr line between them.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import zlib
from typing import IO

from why502.parsers.extensions import native_module

#: the first lines a framing is recognised from, at most; fewer when the peeked bytes hold fewer
HEAD_LINES = 20
#: ... and at least this many complete lines, else the file is read as it is
MIN_LINES = 2
#: the bytes of the framed file read at a time
BLOCK = 1 << 20

# RFC 3339 as kubelet writes it (time.RFC3339Nano) and CRI-O, then the stream and the tag
_CRI = re.compile(rb"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d) (stdout|stderr) ([PF]) ?")
# docker's json-file object, its keys in the order the driver writes them (jsonlog.JSONLogs)
_DOCKER = re.compile(rb'^\{"log":"(?:[^"\\]|\\.)*","stream":"(?:stdout|stderr)"')

CRI = "cri"
DOCKER = "docker"


def framing(head: bytes, least: int = MIN_LINES) -> str | None:
    """``CRI`` or ``DOCKER`` when every complete non-empty line of ``head`` (the first
    ``HEAD_LINES``, at least ``least``) is in that framing, else None.  ``least``: one for a
    block of lines known to be a log's (``watch``'s first block of a file may hold one line)."""
    lines = [ln for ln in head.split(b"\n")[:-1] if ln.strip()][:HEAD_LINES]
    if len(lines) < max(1, least):
        return None
    for kind, rx in ((CRI, _CRI), (DOCKER, _DOCKER)):
        if all(rx.match(ln) for ln in lines):
            return kind
    return None


#: each stream's line still to be continued (``b"stdout"``/``b"stderr"``: its parts so far),
#: carried from one block to the next by the caller
Pending = dict[bytes, bytes]


def unframe_block(data: bytes, kind: str, pending: Pending | None = None,
                  stream: bytes | None = None) -> tuple[bytes, int]:
    """The program's lines of ``data`` (whole framed lines; a last one without its newline is
    read as whole), each ending in a newline, and how many.  ``stream`` (``b"stdout"`` or
    ``b"stderr"``): that stream's lines only, else both.  ``pending`` is updated in place: the
    parts of a line the next block continues (CRI's ``P``, docker's object of a line over 16 KiB
    whose ``log`` has no newline), by stream.  A line in no framing is kept as it is, and ends
    the lines pending before it (their ends are lost).

    The runs of lines the native pass takes (``_unframe.unframe``: whole lines of the taken
    shapes, while no part of a line is pending) are unframed there, the others here, one at a
    time (``_line``, the reference): the same bytes either way (tests/sources/test_unframe_native.py)."""
    held = {} if pending is None else pending
    out: list[bytes] = []  # each piece ends in a newline: a line, or the native pass's run of them
    native = native_module("why502.sources._unframe")
    if native is None:
        count = sum(_take(raw, kind, held, stream, out) for raw in data.split(b"\n"))
        return b"".join(out), count
    count, pos, size = 0, 0, len(data)
    codes = (_KIND_CODES[kind], _STREAM_CODES[stream])
    while pos < size:
        if not held:
            text, lines, pos = native.unframe(data, pos, *codes)
            if lines:
                out.append(text)
                count += lines
            if pos >= size:
                break
        cut = data.find(b"\n", pos)
        end = size if cut < 0 else cut
        count += _take(data[pos:end], kind, held, stream, out)
        pos = end + 1
    return b"".join(out), count


def _take(raw: bytes, kind: str, held: Pending, stream: bytes | None, out: list[bytes]) -> int:
    """One framed line ``raw`` (no newline) read into ``out`` (each piece ending in a newline)
    and ``held``; the number of lines it ended (the pending ones a line in no framing ends, then
    it, or the line it completes)."""
    if not raw:
        return 0
    which, text, whole = _line(raw, kind)
    if text is None:
        ended = len(held) + 1
        out.extend(part + b"\n" for part in held.values())
        held.clear()
        out.append(raw + b"\n")
        return ended
    if stream is not None and which != stream:
        return 0
    if not whole:
        held[which] = held.get(which, b"") + text
        return 0
    out.append(held.pop(which, b"") + text + b"\n")
    return 1


#: ``_unframe.unframe``'s codes of a framing and of the stream kept
_KIND_CODES = {CRI: 0, DOCKER: 1}
_STREAM_CODES: dict[bytes | None, int] = {None: 0, b"stdout": 1, b"stderr": 2}


def _line(raw: bytes, kind: str) -> tuple[bytes, bytes | None, bool]:
    """(its stream, the program's text of one framed line, whether it ends the line), or
    (b"", None, True) for a line in no framing."""
    if kind == CRI:
        m = _CRI.match(raw)
        if m is None:
            return b"", None, True
        return m.group(1), raw[m.end():], m.group(2) == b"F"
    if not raw.startswith(b'{"log":'):
        return b"", None, True
    try:
        obj = json.loads(raw)
    except ValueError:
        return b"", None, True
    log = obj.get("log") if isinstance(obj, dict) else None
    which = obj.get("stream") if isinstance(obj, dict) else None
    if not isinstance(log, str) or which not in ("stdout", "stderr"):
        return b"", None, True
    # surrogatepass: a lone surrogate -- an escape (\\ud800) or the bytes json.loads' own
    # surrogatepass decoding read as one -- is written as its three bytes, which the readers
    # decode as not UTF-8; surrogateescape raised on it (an internal error on such a line)
    text = log.encode("utf-8", "surrogatepass")
    if text.endswith(b"\n"):
        return which.encode(), text[:-1].removesuffix(b"\r"), True
    return which.encode(), text, False


class Unframed(io.RawIOBase):
    """A framed file's bytes as the program's lines, each ending in a newline.  Reads ``source``
    ``BLOCK`` bytes at a time; ``close`` closes ``source`` unless ``keep_source``."""

    def __init__(self, source: IO[bytes], kind: str, keep_source: bool = False) -> None:
        super().__init__()
        self.source, self.kind, self.keep_source = source, kind, keep_source
        self._out = bytearray()
        self._carry = b""  # a framed line not yet ended by a newline
        self._pending: Pending = {}  # the program's lines still to be continued
        self._eof = False

    def readable(self) -> bool:
        return True

    def readinto(self, b: memoryview | bytearray) -> int:  # type: ignore[override]
        while not self._out and not self._eof:
            self._fill()
        n = min(len(b), len(self._out))
        b[:n] = self._out[:n]
        del self._out[:n]
        return n

    def _fill(self) -> None:
        data = self.source.read(BLOCK)
        if not data:
            self._eof = True
            tail, self._carry = self._carry, b""
            block, _n = unframe_block(tail, self.kind, self._pending)
            self._out += block
            for line in self._pending.values():  # a partial line at the very end is a line
                self._out += line + b"\n"
            self._pending.clear()
            return
        data = self._carry + data
        cut = data.rfind(b"\n")
        if cut < 0:
            self._carry = data
            return
        self._carry = data[cut + 1:]
        self._out += unframe_block(data[:cut], self.kind, self._pending)[0]

    def close(self) -> None:
        if not self.closed and not self.keep_source:
            self.source.close()
        super().close()


def _peek_head(reader: IO[bytes], n: int = 64 << 10) -> bytes:
    """The first bytes ``reader`` holds without consuming them (a buffered reader's ``peek``),
    or none: a reader that cannot peek, or whose first bytes cannot be read (a damaged ``.gz``:
    the read that follows says so, as it did before this was asked)."""
    peek = getattr(reader, "peek", None)
    if peek is None:
        return b""
    try:
        return bytes(peek(n))
    except (OSError, EOFError, ValueError, zlib.error, gzip.BadGzipFile):
        return b""


def unframed(reader: IO[bytes], keep_source: bool = False) -> IO[bytes]:
    """``reader`` as the program's lines when its first bytes (peeked, not consumed) show a
    framing, else ``reader`` itself."""
    kind = framing(_peek_head(reader))
    if kind is None:
        return reader
    return io.BufferedReader(Unframed(reader, kind, keep_source), BLOCK)
