"""What kind of file an input is, and how to open one that is not a regular file without hanging.

Why: logs are not always files.  The official nginx Docker image links
``/var/log/nginx/access.log`` to ``/dev/stdout`` and ``error.log`` to ``/dev/stderr``
(its Dockerfile: ``ln -sf /dev/stdout /var/log/nginx/access.log``); a config may name a FIFO that
a log shipper reads, or ``include /dev/zero;``; a user may hand ``<(zcat access.log.gz)`` (a pipe)
or a FIFO on purpose.  ``open()`` + ``read()`` on those blocks until a writer comes (forever, for
a FIFO nobody writes), never ends (``/dev/zero``) or reads this process's own output back (a
symlink to ``/dev/stdout`` when stdout is a pipe).  Every reader (``sources.logfiles`` for
classify and diagnose, ``sources.byte_chunks`` for stats, the config, PHP-FPM and kernel-log
readers) goes through here, so one rule holds for every command:

- a file **found** by why502 (a config's ``error_log``/``access_log``, a rotated sibling, an
  include, PHP-FPM's log) that is not a regular file is skipped, with a note saying what it is
  (``discovered_skip``);
- a FIFO or character device the user **named** is read, but through ``BoundedStream``: polled,
  never a blocking ``read``, and stopped after ``idle_seconds`` without a byte, ``max_bytes`` in
  all or ``total_seconds`` (a note says so, ``take_notes``); a socket, a block device or this
  process's own stdout/stderr is refused with one line (exit 3);
- a probe never opens a FIFO (``readable``): opening and closing its read end would let the
  writer's next ``write`` die of SIGPIPE and lose the data meant for the real read.

The bounds come from the environment when set (``WHY502_STREAM_MAX_BYTES``,
``WHY502_STREAM_IDLE_SECONDS``, ``WHY502_STREAM_TOTAL_SECONDS``): a pipe fed by ``zcat`` of a big
archive is a real input and may need more.

A gzip'ed log (a file or a stream starting with gzip's magic) is inflated through ``gunzip``:
at most ``WHY502_MAX_INFLATED_BYTES`` (default 2 GiB) from one ``.gz``, past which the run stops
with one line (exit 3).  Memory was bounded already (it is streamed), time was not: a 10 MB
``.gz`` inflating to 10 GB kept a command busy for minutes.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import os
import select
import stat
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from why502.errors import InputError, not_found
from why502.proxies import of

STDIN = "-"

# A pipe or FIFO is usually ``<(zcat big.gz)``: large, produced as fast as it is read.  A
# character device is never a log (/dev/zero, /dev/urandom, /dev/kmsg, a tty): a small bound.
PIPE_MAX_BYTES = 64 << 30
DEVICE_MAX_BYTES = 64 << 20
IDLE_SECONDS = 10.0
PIPE_TOTAL_SECONDS = 3600.0
DEVICE_TOTAL_SECONDS = 60.0
READ_SIZE = 1 << 20  # /dev/kmsg hands out one record per read and needs room for it
# What one .gz may inflate to.  Rotated logs are ~5-30x smaller than their text (nginx's and
# Apache's access logs with gzip -6), so 2 GiB is a day of a busy site's log in one file; a
# bigger one is allowed with WHY502_MAX_INFLATED_BYTES=16G (its time grows with it: ~3-5 s a GiB).
MAX_INFLATED_BYTES = 2 << 30

_notes: list[str] = []
# a thread's own notes (``own_notes``): diagnose reads its access logs on a thread while the main
# thread classifies the error logs, and each pass says its notes in its own place
_scoped = threading.local()


SMALL_FILE_BYTES = 64 << 10
"""What a pid file, a /proc entry or a small settings file may hold: past it, it is not one."""


def read_small(path: str | os.PathLike[str], limit: int = SMALL_FILE_BYTES, encoding: str = "utf-8") -> str:
    """A small file's text, read with a bound: a FIFO, a device or a directory is refused
    (``OSError``) without being opened -- a pid file or ``--rules`` pointed at ``/dev/zero`` or a
    FIFO grew memory or hung -- and at most ``limit`` bytes are read (more: ``OSError`` too, the
    file is not what it claims to be).  ``/proc`` files are regular files of size 0: read up to
    the limit."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(f"{os.fspath(path)}: not a regular file")
    with open(path, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):  # swapped after the stat
            raise OSError(f"{os.fspath(path)}: not a regular file")
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise OSError(f"{os.fspath(path)}: over {limit:,} bytes")
    return data.decode(encoding, "replace" if encoding == "utf-8" else "strict")


def take_notes() -> list[str]:
    """The notes the readers made since the last call (a stream cut short, a file skipped),
    for the command to show with its answer."""
    notes = _store()
    out = list(notes)
    notes.clear()
    return out


def note(text: str) -> None:
    """Record a note for ``take_notes`` (once per text)."""
    notes = _store()
    if text not in notes:
        notes.append(text)


def _store() -> list[str]:
    """This thread's notes inside ``own_notes``, else the process's."""
    mine: list[str] | None = getattr(_scoped, "notes", None)
    return _notes if mine is None else mine


@contextlib.contextmanager
def own_notes() -> Iterator[list[str]]:
    """Keep the notes this thread records apart (``note``, ``take_notes``), in the list
    yielded: a pass run on its own thread next to another (``app.diagnose.logfacts``) neither
    takes the other's notes nor leaves its own to it.  A reader's notes are recorded on the
    thread that reads (``sources.logfiles``, ``byte_chunks``, ``note_utf16``)."""
    mine: list[str] = []
    with notes_into(mine):
        yield mine


def notes_here() -> list[str] | None:
    """This thread's own notes (``own_notes``), or None when it records into the process's:
    where a thread that reads on its behalf must record (``notes_into``)."""
    mine: list[str] | None = getattr(_scoped, "notes", None)
    return mine


@contextlib.contextmanager
def notes_into(target: list[str] | None) -> Iterator[None]:
    """Record this thread's notes into ``target``, another thread's ``notes_here()``: a worker
    that reads for that thread (``app.classify._pull``) leaves its notes where that thread's
    reader would have (None: the process's, as without ``own_notes``)."""
    if target is None:
        yield
        return
    _scoped.notes = target
    try:
        yield
    finally:
        del _scoped.notes


def file_kind(path: str) -> str:
    """``stdin``, ``regular``, ``directory``, ``fifo``, ``character device``, ``block device``,
    ``socket`` or ``missing`` (symlinks followed: what reading would meet)."""
    if path == STDIN:
        return "stdin"
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return "missing"
    if stat.S_ISREG(mode):
        return "regular"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def is_stream(path: str) -> bool:
    """True for a path that can be read only once, as a stream: a FIFO or a character device."""
    return file_kind(path) in ("fifo", "character device")


def own_stdio(path: str) -> str | None:
    """``standard output``/``standard error`` when ``path`` is this process's own (the Docker
    image's ``access.log -> /dev/stdout``): reading it would take our own output, or block on the
    terminal.  None otherwise."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    for fd, name in ((1, "standard output"), (2, "standard error")):
        try:
            other = os.fstat(fd)
        except OSError:
            continue
        if (st.st_dev, st.st_ino) == (other.st_dev, other.st_ino) and not stat.S_ISREG(st.st_mode):
            return name
    return None


# stdout and stderr only: a link to stdin is a way to read a pipe, and ``<(zcat ...)`` is
# ``/dev/fd/63`` -- a pipe of its own, read like any FIFO
_STD_LINKS = frozenset(f"{d}{n}" for d in ("/dev/fd/", "/proc/self/fd/") for n in (1, 2)) | {
    "/dev/stdout", "/dev/stderr"}


def std_link(path: str) -> str | None:
    """The ``/dev/stdout``-like name a path's chain of symlinks goes through, or None.

    Why by name and not by kind: what ``/dev/stderr`` is depends on who opens it -- for nginx
    in its container the container's log pipe, for why502 its own stderr, which may be a
    terminal, a pipe or a regular file (``2> run.log``): reading it is never reading nginx's log."""
    seen = 0
    while seen < 40 and os.path.islink(path):
        try:
            target = os.readlink(path)
        except OSError:
            return None
        path = os.path.normpath(os.path.join(os.path.dirname(path), target))
        if path in _STD_LINKS:
            return path
        seen += 1
    return None


def discovered_skip(path: str, proxy: str | None = None) -> str | None:
    """Why a file why502 found by itself is not read (it is not a regular file, or it is a link
    to a standard stream), or None.

    A log that is a link to ``/dev/stdout``/``/dev/stderr`` (the nginx Docker image) gets a
    hint: the proxy that writes it (``proxy``, the default one when None: the callers that read
    any proxy's files say which) writes it to its standard streams, which the container runtime
    keeps."""
    std = std_link(path)
    if std is not None:
        return (f"not read: {path} is a link to {std}: {of(proxy).vocabulary.title} writes this log to "
                "its standard stream (read it with: docker logs CONTAINER 2>&1 | why502 ...)")
    kind = file_kind(path)
    if kind in ("regular", "missing", "stdin"):
        return None
    return f"not read: {path} is a {kind}, not a regular file"


def readable(path: str) -> str | None:
    """Why ``path`` cannot be read, or None; never opens a FIFO or a device (see the module)."""
    kind = file_kind(path)
    if kind in ("fifo", "character device", "socket", "block device"):
        return None if os.access(path, os.R_OK) else "Permission denied"
    try:
        if kind == "directory":
            os.listdir(path)
        else:
            os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
    except OSError as err:
        return err.strerror or str(err)
    return None


@dataclass(frozen=True)
class StreamLimits:
    """When ``BoundedStream`` stops: bytes in all, seconds without a byte, seconds in all."""

    max_bytes: int
    idle_seconds: float
    total_seconds: float


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        return default
    return value if value > 0 else default


def limits_for(kind: str) -> StreamLimits:
    """The bounds for a FIFO (``fifo``) or a ``character device``, the environment's first."""
    pipe = kind == "fifo"
    return StreamLimits(
        int(_env_number("WHY502_STREAM_MAX_BYTES", PIPE_MAX_BYTES if pipe else DEVICE_MAX_BYTES)),
        _env_number("WHY502_STREAM_IDLE_SECONDS", IDLE_SECONDS),
        _env_number("WHY502_STREAM_TOTAL_SECONDS", PIPE_TOTAL_SECONDS if pipe else DEVICE_TOTAL_SECONDS),
    )


class BoundedStream(io.RawIOBase):
    """A FIFO or device read without ever blocking past its bounds (``StreamLimits``).

    Opened ``O_NONBLOCK`` (so ``open`` does not wait for a writer) and polled before each read:
    on Linux a FIFO that never had a writer polls as neither readable nor hung up
    (``pipe_poll()``, fs/pipe.c), so the wait for a late writer is bounded by ``idle_seconds``
    too; end of file is a read of 0 bytes after the last writer closed.  When a bound stops the
    reading, ``stopped`` says which and a note is recorded (``take_notes``)."""

    def __init__(self, path: str, limits: StreamLimits) -> None:
        super().__init__()
        self.path = path
        self.limits = limits
        self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        self.done = 0
        self.started = time.monotonic()
        self.stopped: str | None = None
        self._poll = select.poll()
        self._poll.register(self.fd, select.POLLIN | select.POLLPRI)

    def readable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self.fd

    def _stop(self, why: str) -> int:
        self.stopped = why
        note(f"{self.path}: stopped reading after {self.done} bytes ({why}); the rest was not read")
        return 0

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        if self.stopped is not None or self.closed:
            return 0
        room = min(len(buf), self.limits.max_bytes - self.done)
        if room <= 0:
            return self._stop(f"the limit of {self.limits.max_bytes} bytes for a {self._kind()}")
        while True:
            left = self.limits.total_seconds - (time.monotonic() - self.started)
            if left <= 0:
                return self._stop(f"the limit of {self.limits.total_seconds:g} s")
            wait = min(self.limits.idle_seconds, left)
            if not self._poll.poll(int(wait * 1000) + 1):
                if wait < self.limits.idle_seconds:
                    continue  # the total bound: said on the next turn
                return self._stop(f"no data for {self.limits.idle_seconds:g} s")
            try:
                data = os.read(self.fd, room)
            except (BlockingIOError, InterruptedError):
                continue
            n = len(data)
            buf[:n] = data
            self.done += n
            return n

    def _kind(self) -> str:
        return file_kind(self.path)

    def close(self) -> None:
        if not self.closed:
            try:
                os.close(self.fd)
            finally:
                super().close()


def max_inflated_bytes() -> int:
    """``MAX_INFLATED_BYTES``, or ``WHY502_MAX_INFLATED_BYTES`` when set to a positive size
    (bytes, or with a K, M or G suffix: ``16G``)."""
    from why502.parsers.configread import parse_size

    return parse_size(os.environ.get("WHY502_MAX_INFLATED_BYTES", ""), MAX_INFLATED_BYTES)


_GAVE: dict[str, bool] = {}
"""Each gzip stream inflated so far, by its reader's name (a path, ``stdin``): whether it gave a
byte (``inflated``)."""


def inflated(name: str) -> bool | None:
    """Did the gzip stream ``name`` (a path, or ``stdin``) inflate to any byte when it was read --
    None: it was not inflated (not gzip'ed, or not read).  Why: an empty ``.gz`` (a rotation of an
    empty log) has bytes, yet no line; whether a log held any line is asked after the run
    (``sources.logfiles.holds_lines``), and reading the file again would open it twice."""
    return _GAVE.get(name)


class _Inflated(io.RawIOBase):
    """The inflated bytes of a gzip stream, counted: ``InputError`` (exit 3) past ``limit``."""

    def __init__(self, gz: gzip.GzipFile, name: str, limit: int) -> None:
        super().__init__()
        self.gz, self.name, self.limit, self.done = gz, name, limit, 0
        # set, not kept: in one process (the MCP server, the tests) an earlier run's read of the
        # same name -- a .gz rotated since -- is not this one's; within a run the log is opened
        # once, and a second reader of it reads it again
        _GAVE[name] = False

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        n = self.gz.readinto(buf)
        self.done += n
        if n and not _GAVE.get(self.name):
            _GAVE[self.name] = True
        if self.done > self.limit:
            raise InputError(f"cannot read {self.name}: it inflates to more than {_size(self.limit)} "
                             "(the limit for one .gz); WHY502_MAX_INFLATED_BYTES="
                             f"{max(2 * self.limit >> 30, 1)}G allows more")
        return n

    def close(self) -> None:
        if not self.closed:
            try:
                self.gz.close()
            finally:
                super().close()


def gunzip(fileobj: IO[bytes], name: str) -> IO[bytes]:
    """``fileobj`` (gzip'ed) inflated, with at most ``max_inflated_bytes()`` out of it: every
    reader of logs (``sources.logfiles``, ``sources.byte_chunks``) inflates through here.
    Closing it closes ``fileobj``'s gzip reader, not ``fileobj`` (as ``gzip.GzipFile``)."""
    return io.BufferedReader(_Inflated(gzip.GzipFile(fileobj=fileobj, mode="rb"), name,
                                       max_inflated_bytes()), READ_SIZE)


def open_stream(path: str) -> io.BufferedReader:
    """A named FIFO or character device, read with bounds (``BoundedStream``), buffered so that
    callers can ``peek``.  Raises ``InputError`` for this process's own stdout/stderr."""
    check_named(path)
    try:
        raw = BoundedStream(path, limits_for(file_kind(path)))
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror or err}") from None
    return io.BufferedReader(raw, READ_SIZE)


def check_named(path: str) -> None:
    """Raise ``InputError`` for a named input that cannot be read as a stream or a file at all:
    a socket, a block device, this process's own stdout/stderr."""
    kind = file_kind(path)
    if kind in ("socket", "block device", "special file"):
        raise InputError(f"cannot read {path}: it is a {kind}, not a log")
    if kind != "missing" and std_link(path) is not None:
        raise InputError(f"cannot read {path}: it is a link to {std_link(path)}, a standard stream of "
                         "this process: pipe the log in instead (docker logs CONTAINER 2>&1 | why502 ...)")
    if kind in ("fifo", "character device") and (mine := own_stdio(path)):
        raise InputError(f"cannot read {path}: it is this process's own {mine} (a link to /dev/std*?): "
                         "pipe the log in instead (docker logs CONTAINER 2>&1 | why502 ...)")


def read_capped(fh: IO[bytes], cap: int, name: str, what: str) -> bytes:
    """All of ``fh`` when it holds at most ``cap`` bytes, else ``InputError`` (exit 3) naming
    the limit: configs, PHP-FPM pools, saved reports and ``explain -`` are read whole to be
    parsed, so a size beyond any real one (``include /dev/zero;``, a wrong file) is refused
    before it is held in memory."""
    data = fh.read(cap + 1)
    if len(data) > cap:
        raise InputError(f"cannot read {name}: more than {_size(cap)}, the limit for {what}")
    return data


def log_directory(path: str) -> str:
    """The one-line error for a directory named where a log is read and none of its files is a
    load balancer's or edge proxy's log (those are read as a whole folder: an ALB writes one file
    per node and five minutes): what to give instead.  ``stats /var/log/nginx`` said only "is a
    directory"; ``diagnose --access-log`` already said what to do (sweep of stop 69)."""
    return (f"{path}: is a directory, and no file in it is a load balancer's or edge proxy's log (only those "
            "are read as a whole folder): name the log files in it")


def open_capped_input(path: str, cap: int, what: str) -> bytes:
    """The bytes of a named input of at most ``cap`` bytes: a regular file (its size checked
    first, nothing read beyond), a FIFO through ``open_stream`` (``--nginx-conf <(ssh host nginx
    -T)``), ``-`` = stdin.  A device is refused: no config or report is one (``/dev/zero``)."""
    if path == STDIN:
        return read_capped(stdin_bytes(cap), cap, "stdin", what)
    kind = file_kind(path)
    if kind == "missing":
        raise InputError(not_found(path))
    if kind == "directory":
        raise InputError(f"{path}: is a directory, not {what}")
    if kind not in ("regular", "fifo"):
        raise InputError(f"cannot read {path}: it is a {kind}, not {what}")
    if kind == "regular":
        size = os.path.getsize(path)
        if size > cap:
            raise InputError(f"cannot read {path}: {_size(size)}, over {_size(cap)}, the limit for {what}")
        try:
            with open(path, "rb") as fh:
                return read_capped(fh, cap, path, what)
        except OSError as err:
            raise InputError(f"cannot read {path}: {err.strerror or err}") from None
    with open_stream(path) as stream:
        return read_capped(stream, cap, path, what)


def stdin_bytes(cap: int) -> IO[bytes]:
    """stdin as bytes: its buffer, or (a text stream put in its place) its first ``cap + 1``
    characters encoded."""
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is not None:
        return buffer  # type: ignore[no-any-return]
    return io.BytesIO(sys.stdin.read(cap + 1).encode("utf-8", "surrogateescape"))


def first_line(fh: IO[bytes], cap: int, name: str) -> bytes:
    """The first non-blank line of ``fh`` within its first ``cap`` bytes (``explain -``), else
    ``InputError``: a 100 MB line or endless blank lines (``yes ''``) are not read on."""
    used = 0
    while used <= cap:
        line = fh.readline(cap + 1 - used)
        if not line:
            return b""
        used += len(line)
        if line.strip():
            if len(line) > cap or (not line.endswith(b"\n") and used > cap):
                break
            return line
    raise InputError(f"cannot read {name}: no line of at most {_size(cap)} in its first {_size(cap)}")


def _size(n: int) -> str:
    if n >= 1 << 30 and n % (1 << 30) == 0:
        return f"{n >> 30} GiB"
    return f"{n / (1 << 20):.0f} MiB" if n >= 1 << 20 else f"{n} bytes"


def note_utf16(path: str, head: bytes | None = None) -> None:
    """Record :func:`utf16_hint` as a reader's note (``sources.opening.take_notes``), so every
    command that reads the log says it: classify, stats and diagnose alike.  ``head``: the
    first bytes of a regular file the reader has open already (peeked, not read again)."""
    hint = utf16_hint(path) if head is None else utf16_head_hint(path, head)
    if hint is not None:
        note(hint)


def utf16_hint(path: str) -> str | None:
    """A note when ``path`` looks like UTF-16 (a BOM, or NUL bytes between ASCII characters, as
    Windows tools and PowerShell's ``>`` write logs): why502 reads logs as UTF-8, where such a file
    matches nothing, and "0 recognised" alone would read like a clean log."""
    if path == STDIN or not os.path.isfile(path):
        return None  # a FIFO, a device or a link to a standard stream: never opened for a hint
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return None
    return utf16_head_hint(path, head)


def utf16_head_hint(path: str, head: bytes) -> str | None:
    """:func:`utf16_hint` from the first bytes of a file already open (a log is opened once)."""
    if head[:2] == b"\x1f\x8b":
        return None
    bom = head[:2] in (b"\xff\xfe", b"\xfe\xff")
    pairs = head[: len(head) // 2 * 2]
    nul_odd, nul_even = pairs[1::2].count(0), pairs[0::2].count(0)
    half = len(pairs) // 2
    if bom or (half >= 8 and max(nul_odd, nul_even) > 0.4 * half):
        return (f"{path} looks like UTF-16, not UTF-8: its lines cannot match; convert it first "
                f"(iconv -f UTF-16 -t UTF-8 {path} > {Path(path).name}.utf8)")
    return None
