"""Writing ``-o FILE``: never over one of the run's inputs, never a half-written file.

``-o`` naming the error log, the config or the report being rendered would replace evidence with
the answer drawn from it; paths can hide that (``./error.log``, a symlink, a hard link, a bind
mount), so the file is compared by device and inode, the identity the kernel uses.  The text is
written to a temporary file in the same directory and renamed over the target
(``os.replace``, atomic on POSIX), so an interrupted run leaves the old file or the new one.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Iterable
from typing import TypeVar

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
    items = list(inputs)
    refuse_input(output, items)
    if os.path.isdir(output):
        raise InputError(f"cannot write {output}: is a directory")
    directory = os.path.dirname(os.path.abspath(output))
    try:
        fd, tmp = tempfile.mkstemp(prefix=".why502-", suffix=".tmp", dir=directory)
    except OSError as err:
        raise InputError(f"cannot write {output}: {err.strerror or err}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
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
