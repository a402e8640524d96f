"""The one bounded reader of proxy configs: nginx, Apache httpd and HAProxy alike.

Why one: a config is read whole and turned into Python objects, so what it may cost is decided
by how many bytes are read -- over the whole config (main file and every include), not per
file, or a thousand includes of 4 MiB each would pass a per-file bound.  Every family's loader
takes one ``ConfigBudget`` per config and sends every file through it:

- a file that is not a regular file is never read: ``/dev/zero`` never ends (read whole it grew
  at ~1.2 GB/s until the kernel killed the process), a FIFO blocks ``open()`` until a writer
  comes (forever, for one nobody writes).  ``os.stat`` decides before anything is opened (a
  probe must not open a FIFO: closing its read end can kill the writer with SIGPIPE), and the
  opened file is checked again with ``fstat`` (it may have been replaced in between);
- the bytes of all files together stop at ``max_config_bytes()`` (4 MiB, or
  ``WHY502_MAX_CONFIG_BYTES``): a file that would go past it raises ``InputError`` (exit 3, one
  line naming the bound, what the config would cost in memory and the setting that allows it),
  and at most the bytes left are read, so a file that grows while it is read stops there too.

A file that cannot be read is an ``OSError`` (the caller says so: the main file is an error,
an include a problem of the config, as nginx and httpd report them).  The sizes of the bound are
measured on nginx configs (``MEMORY_PER_CONFIG_BYTE``); an HAProxy config takes about as much
(100,000 backends in 5 MB: 513 MB for ``diagnose``, 202 MB for ``lint``; read whole before, now
refused unless ``WHY502_MAX_CONFIG_BYTES`` allows it).
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from why502.errors import InputError, LimitError

# The most config text read in all (main file and includes, or a dump), by default 4 MiB.
# Why that little: a config is turned into Python objects (directives, scopes, locations,
# targets, settings, findings) that take ~60-90x its size in memory, measured on 4 MiB of
# 11,000 virtual hosts, of 260,000 empty locations and of 230,000 one-line directives: peak RSS
# 190-360 MB over diagnose, lint (every format), fix --lint and stats, against the 400 MB every
# command keeps to (bench/rss_table.py).  Real configs are KBs to a few MB; a large
# ingress-nginx controller's is tens of MB, and ``WHY502_MAX_CONFIG_BYTES=64M`` reads it (with
# ~90x its size of memory); ``include /dev/zero;`` or a runaway generated file stop at the bound.
MAX_CONFIG_BYTES = 4 << 20
MEMORY_PER_CONFIG_BYTE = 90  # the measured worst case above, for the message
# The least a config takes (the measured best case above): a config whose text times this is
# more than the memory the run may still take cannot be parsed, and is refused before it is.
MEMORY_FLOOR_PER_CONFIG_BYTE = 60
_SIZE = re.compile(r"(\d{1,15})([KMG]?)(?:i?B)?", re.IGNORECASE)


def parse_size(text: str, default: int) -> int:
    """A size as the ``WHY502_MAX_*`` settings take it (bytes, or with a K, M or G suffix:
    ``64M``; ``MiB``/``MB`` alike), or ``default`` when it is empty, not a size or not positive."""
    m = _SIZE.fullmatch(text.strip())
    if m is None or int(m.group(1)) <= 0:
        return default
    return int(m.group(1)) << {"": 0, "K": 10, "M": 20, "G": 30}[m.group(2).upper()]


def max_config_bytes() -> int:
    """``MAX_CONFIG_BYTES``, or ``WHY502_MAX_CONFIG_BYTES`` when set to a positive size (bytes,
    or with a K, M or G suffix: ``64M``)."""
    return parse_size(os.environ.get("WHY502_MAX_CONFIG_BYTES", ""), MAX_CONFIG_BYTES)


def over_bound(size: int | None, limit: int | None = None) -> str:
    """What to say of a config of ``size`` bytes over the bound ``limit`` (``max_config_bytes()``
    by default; ``size`` None: a stream whose size is not known): the bound, what reading it
    would take, and how to allow it."""
    bound = f"the config may hold at most {mib(max_config_bytes() if limit is None else limit)} in all"
    if size is None:
        return (f"{bound} (a config takes ~{MEMORY_PER_CONFIG_BYTE}x its size in memory); "
                "WHY502_MAX_CONFIG_BYTES=64M allows more")
    return (f"{bound}: reading {mib(size)} takes about {mib(size * MEMORY_PER_CONFIG_BYTE)} of memory; "
            f"WHY502_MAX_CONFIG_BYTES={-(-size >> 20)}M allows it")


def mib(n: int) -> str:
    """``4 MiB``, or bytes below one MiB."""
    return f"{n / (1 << 20):,.0f} MiB" if n >= 1 << 20 else f"{n:,} bytes"


def _kind(mode: int) -> str | None:
    """None for a regular file, else what it is, for the message."""
    if stat.S_ISREG(mode):
        return None
    return ("a FIFO" if stat.S_ISFIFO(mode) else "a character device" if stat.S_ISCHR(mode)
            else "a directory" if stat.S_ISDIR(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a block device" if stat.S_ISBLK(mode) else "not a regular file")


class NotAConfigFile(OSError):
    """A config file (or include) that is not a regular file: ``strerror`` says what it is."""


def _not_regular(kind: str) -> NotAConfigFile:
    return NotAConfigFile(errno.EINVAL, f"it is {kind}, not a config file")


def config_file_problem(path: str, used: int = 0) -> str | None:
    """Why a config file on disk is not read, or None: not a regular file, or over the size
    limit with the ``used`` bytes already read (the check of ``ConfigBudget.admit``, said as a
    sentence for callers that report instead of raising)."""
    try:
        st = os.stat(path)
    except OSError as err:
        return f"cannot read {path}: {err.strerror or err}"
    kind = _kind(st.st_mode)
    if kind is not None:
        return f"cannot read {path}: it is {kind}, not a config file"
    if used + st.st_size > max_config_bytes():
        return f"cannot read {path}: {st.st_size:,} bytes; {over_bound(used + st.st_size)}"
    return None


def memory_headroom() -> int | None:
    """The bytes this process may still allocate, from the limits a user or a container sets:
    ``RLIMIT_DATA`` and ``RLIMIT_AS`` (getrlimit(2), less ``VmData``/``VmSize`` of
    ``/proc/self/status``) and the cgroup's ``memory.max`` less ``memory.current`` (cgroup v2;
    ``memory.limit_in_bytes`` less ``memory.usage_in_bytes`` in v1).  None when no limit is set
    or none can be read.  Why: running out of memory half-way through a parse is not always a
    clean ``MemoryError`` -- under ``ulimit -d`` CPython can spin while it unwinds (a `lint` of
    8.6 MiB under a 150 MiB limit hung for 600 s in one run of eight), so a config that cannot
    fit is refused before it is parsed."""
    try:
        import resource
    except ImportError:  # a Python whose lib-dynload this user cannot read (run as nobody)
        return None

    status: dict[str, int] = {}
    try:
        with open("/proc/self/status", "rb") as fh:
            for raw in fh.read(1 << 16).splitlines():
                key, _, value = raw.decode("ascii", "replace").partition(":")
                if key in ("VmData", "VmSize"):
                    status[key] = int(value.split()[0]) << 10
    except (OSError, ValueError, IndexError):
        pass
    room: list[int] = []
    for limit, used in ((resource.RLIMIT_DATA, "VmData"), (resource.RLIMIT_AS, "VmSize")):
        soft = resource.getrlimit(limit)[0]
        if soft != resource.RLIM_INFINITY and used in status:
            room.append(max(0, soft - status[used]))
    for top, now in (("memory.max", "memory.current"), ("memory.limit_in_bytes", "memory.usage_in_bytes")):
        try:
            with open(f"/sys/fs/cgroup/{top}", "rb") as a, open(f"/sys/fs/cgroup/{now}", "rb") as b:
                cap, cur = a.read(64).strip(), b.read(64).strip()
        except OSError:
            continue
        if cap.isdigit() and cur.isdigit() and int(cap) < 1 << 60:
            room.append(max(0, int(cap) - int(cur)))
    return min(room) if room else None


class ConfigBudget:
    """The bytes one config (its main file and every include) may still take.  One per config
    read: ``read`` for the families read here (Apache, HAProxy), ``admit`` for nginx, whose files
    crossplane opens by name.  Past the size bound it refuses (``InputError``); past the memory
    the run may still take (``memory_headroom``) it refuses too (``LimitError``)."""

    def __init__(self, limit: int | None = None) -> None:
        self.limit = max_config_bytes() if limit is None else limit
        self.used = 0
        self.headroom = memory_headroom()

    def _fits_memory(self, path: str, more: int) -> None:
        """``LimitError`` when ``more`` bytes of config text on top of what was read cannot be
        parsed in the memory left (the least a config takes, ``MEMORY_FLOOR_PER_CONFIG_BYTE``)."""
        need = (self.used + more) * MEMORY_FLOOR_PER_CONFIG_BYTE
        if self.headroom is not None and need > self.headroom:
            raise LimitError(
                f"out of memory: reading {path} ({mib(self.used + more)} of config in all) takes at "
                f"least {mib(need)} of memory, and this run may take {mib(self.headroom)} more "
                "(ulimit -d / -v, or the cgroup's memory.max): give it more memory, or less to read at once")

    def _over(self, path: str, size: int | None) -> InputError:
        if size is None:
            return InputError(f"cannot read {path}: it goes past the bound; {over_bound(None, self.limit)}")
        return InputError(f"cannot read {path}: {size:,} bytes; {over_bound(self.used + size, self.limit)}")

    def admit(self, path: str) -> int:
        """Count ``path``'s size against the bound without reading it: ``NotAConfigFile`` when it
        is not a regular file, ``OSError`` when it cannot be stat'ed, ``InputError`` when the
        config would go past the bound.  Its size."""
        st = os.stat(path)
        kind = _kind(st.st_mode)
        if kind is not None:
            raise _not_regular(kind)
        if self.used + st.st_size > self.limit:
            raise self._over(path, st.st_size)
        self._fits_memory(path, st.st_size)
        self.used += st.st_size
        return st.st_size

    def read(self, path: str) -> str:
        """The text of ``path`` (UTF-8, undecodable bytes replaced), counted against the bound;
        raises as ``admit`` does.  Never opens a FIFO or a device, never reads past the bytes
        left."""
        st = os.stat(path)
        kind = _kind(st.st_mode)
        if kind is not None:
            raise _not_regular(kind)
        left = self.limit - self.used
        if st.st_size > left:
            raise self._over(path, st.st_size)
        self._fits_memory(path, st.st_size)
        data = _read_regular(path, left + 1)
        if len(data) > left:  # it grew while it was read
            raise self._over(path, None)
        self.used += len(data)
        _remember(path, st, data)
        return data.decode("utf-8", errors="replace")


# The SHA-256 of each config file read in this run (issue 23 item 3, "each input read once"): a
# diagnose report pins every file a config fix changes by its digest (``fix.hashes``, so ``fix``
# refuses a file edited since), and it took that digest by reading the file a second time.  The
# bytes are at hand when the config is read: their digest is kept for the run, with the file's
# identity then, and given only while the file still has it (an edit since is read again).
_Identity = tuple[int, int, int, int]
_DIGESTS: ContextVar[dict[str, tuple[_Identity, str]] | None] = ContextVar("why502_config_digests",
                                                                           default=None)


@contextmanager
def digests_kept() -> Iterator[None]:
    """Within it (one command's run: ``sources.once.run_inputs``), :func:`digest_read` answers
    for every file ``ConfigBudget.read`` read; a run within a run shares the outer one's."""
    if _DIGESTS.get() is not None:
        yield
        return
    token = _DIGESTS.set({})
    try:
        yield
    finally:
        _DIGESTS.reset(token)


def _identity(st: os.stat_result) -> _Identity:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _remember(path: str, st: os.stat_result, data: bytes) -> None:
    kept = _DIGESTS.get()
    if kept is not None and len(data) == st.st_size:
        # imported here: hashlib loads OpenSSL (~5 ms), and every command imports this module
        # through the proxy registry -- ``classify``, which never digests a config, included
        import hashlib

        kept[os.path.abspath(path)] = (_identity(st), hashlib.sha256(data).hexdigest())


def digest_read(path: str) -> str | None:
    """The SHA-256 of ``path``'s bytes as this run read them, while the file is unchanged since
    (same device, inode, size, modification time); None when it was not read or has changed."""
    kept = _DIGESTS.get()
    found = kept.get(os.path.abspath(path)) if kept is not None else None
    if found is None:
        return None
    try:
        now = _identity(os.stat(path))
    except (OSError, ValueError):
        return None
    return found[1] if now == found[0] else None


def _read_regular(path: str, most: int) -> bytes:
    """At most ``most`` bytes of ``path``, which must be a regular file when it is opened (its
    ``stat`` was checked by the caller; ``fstat`` again here: it may have been replaced)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    with os.fdopen(fd, "rb") as fh:
        kind = _kind(os.fstat(fd).st_mode)
        if kind is not None:
            raise _not_regular(kind)
        return fh.read(most)


def read_head(path: str, size: int) -> str:
    """The first ``size`` bytes of a config file as text (what its kind is told from,
    ``why502.proxies.detect_file``): ``NotAConfigFile`` for a FIFO or a device, never opened."""
    kind = _kind(os.stat(path).st_mode)
    if kind is not None:
        raise _not_regular(kind)
    return _read_regular(path, size).decode("utf-8", errors="replace")
