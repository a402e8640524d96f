"""Writing ``-o FILE``: never over one of the run's inputs, never a half-written file.

``-o`` naming the error log, the config or the report being rendered would replace evidence with
the answer drawn from it; paths can hide that (``./error.log``, a symlink, a hard link, a bind
mount), so the file is compared by device and inode, the identity the kernel uses.  The text is
written to a temporary file in the same directory and renamed over the target
(``os.replace``, atomic on POSIX), so an interrupted run leaves the old file or the new one.

Only a regular file (or a new one) is replaced.  ``-o /dev/null``, ``-o /dev/stdout``, a FIFO
or a terminal is written *into*, as a shell's ``>`` does: renaming a temporary file over
``/dev/null`` (which root may do) replaces the device with a regular file, and every program on
the host that writes to ``/dev/null`` then fills it, and those that open it fail ("No such
device": tmux's ``daemon(3)``).  A rename is atomic only for a regular file anyway.
"""

from __future__ import annotations

import argparse
import errno
import os
import stat
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TextIO, TypeVar

from why502.errors import InputError, UsageError

T = TypeVar("T")


def add_redact_argument(parser: argparse.ArgumentParser) -> None:
    """``--no-redact``: the one way to see the credentials a report would quote."""
    parser.add_argument("--no-redact", dest="redact", action="store_false",
                        help="show credentials as they are (Authorization/API-key/Cookie headers, "
                             "*PASSWORD*/*SECRET*/*TOKEN* values, token-like query parameters); "
                             "by default they are shown as [redacted] (docs/security.md)")


def for_output(result: T, args: argparse.Namespace) -> T:
    """``result`` (a diagnose or lint report) as it may be shown: credentials redacted unless
    ``--no-redact`` (``findings.redact``, one pass for every format).  The result a command
    acts on (``fix`` applying a diff) is never this copy."""
    if not getattr(args, "redact", True):
        return result
    from why502.findings.redact import redact

    return redact(result)


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def refuse_input(output: str, inputs: Iterable[object]) -> None:
    """UsageError (exit 2) when ``output`` is the same file as one of ``inputs``."""
    target = _identity(output)
    if target is None:
        return
    for item in inputs:
        if isinstance(item, str) and item not in ("", "-") and _identity(item) == target:
            raise UsageError(f"-o {output}: that is an input of this run ({item}); "
                             "write the output elsewhere")


def write_output(output: str, text: str, inputs: Iterable[object] = ()) -> None:
    """Write ``text`` to ``output`` atomically, refusing any input (InputError when unwritable)."""
    with _atomic(output, inputs) as fh:
        try:
            fh.write(text)
        except OSError as err:
            raise InputError(f"cannot write {output}: {err.strerror or err}") from None


@contextmanager
def _atomic(output: str, inputs: Iterable[object]) -> Iterator[TextIO]:
    """A text file that becomes ``output`` when the block ends without an exception (a
    temporary file in the same directory, fsynced, given the old file's mode or the umask's,
    renamed over it) and is removed when it raises; ``output`` one of ``inputs`` is refused
    before anything is written."""
    refuse_input(output, list(inputs))
    if os.path.isdir(output):
        raise InputError(f"cannot write {output}: is a directory")
    if _special(output):
        with _into(output) as fh:
            yield fh
        return
    directory = os.path.dirname(os.path.abspath(output))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".why502-", suffix=".tmp", dir=directory)
    except OSError as err:
        raise InputError(f"cannot write {output}: {err.strerror or err}") from None
    try:
        fh = os.fdopen(fd, "w", encoding="utf-8")
        try:
            yield fh
        except BaseException:
            fh.close()
            raise  # the block's own error, whatever it is (not "cannot write")
        try:
            with fh:
                fh.flush()
                os.fsync(fh.fileno())
            if _identity(output) is not None:
                os.chmod(tmp, os.stat(output).st_mode & 0o7777)
            else:
                umask = os.umask(0)
                os.umask(umask)
                os.chmod(tmp, 0o666 & ~umask)
            os.replace(tmp, output)
        except OSError as err:
            raise InputError(f"cannot write {output}: {err.strerror or err}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _special(output: str) -> bool:
    """``output`` exists and is not a regular file: a device, a FIFO, a socket (through its links:
    ``/dev/stdout`` -> ``/proc/self/fd/1``)."""
    try:
        return not stat.S_ISREG(os.stat(output).st_mode)
    except (OSError, ValueError):
        return False


@contextmanager
def _into(output: str) -> Iterator[TextIO]:
    """``output`` (not a regular file) opened and written in place, never replaced."""
    try:
        fh = open(output, "w", encoding="utf-8")  # noqa: SIM115 - closed below, errors mapped
    except OSError as err:
        raise InputError(f"cannot write {output}: {err.strerror or err}") from None
    try:
        yield fh
    finally:
        try:
            fh.close()
        except OSError as err:
            raise InputError(f"cannot write {output}: {err.strerror or err}") from None


@contextmanager
def result_to(output: str, inputs: Iterable[object]) -> Iterator[None]:
    """``-o FILE`` for a command that writes its result on standard output: ``sys.stdout`` is
    the temporary file of ``_atomic`` while the block runs (``print``, ``sys.stdout.write``,
    ``sys.stdout.buffer`` and a rich ``Console`` made inside it all write there), restored after.
    A command that fails (an exception) leaves FILE as it was.  ``cli.main`` wraps every command
    that defines ``output_inputs(args)`` in it: one guard for all of them."""
    with _atomic(output, inputs) as fh:
        saved = sys.stdout
        sys.stdout = fh
        try:
            yield
            fh.flush()
        except OSError as err:
            if err.errno not in _WRITE_ERRORS:
                raise
            raise InputError(f"cannot write {output}: {err.strerror or err}") from None
        finally:
            sys.stdout = saved


# what writing the result itself can fail with (a full disk or quota, a file too big, an I/O
# error); any other OSError is the command's own and is reported as such
_WRITE_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO})
