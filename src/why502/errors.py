"""Errors that carry the documented exit codes (docs/architecture.md, "Exit codes are documented").

Every layer may raise these; only ``why502.cli`` turns them into a one-line message and an exit
code.  Anything else that escapes is a bug and exits 4 with a one-line message too (the
traceback only with ``WHY502_DEBUG=1``).
"""

from __future__ import annotations

EXIT_HEALTHY = 0
EXIT_FINDINGS = 1
EXIT_USAGE = 2
EXIT_INPUT = 3
EXIT_INTERNAL = 4


class Why502Error(Exception):
    """Base class: ``str(err)`` is the one line shown to the user."""

    exit_code = EXIT_INTERNAL


class UsageError(Why502Error):
    """The command line is wrong (unknown ID, bad flag value, conflicting options)."""

    exit_code = EXIT_USAGE


class InputError(Why502Error):
    """An input cannot be read or is not what it claims (missing file, not a report, ...)."""

    exit_code = EXIT_INPUT


class UnmatchedLogError(InputError):
    """A log none of whose lines is in the format it is read in (``stats`` exits 3 for it;
    ``diagnose`` says it in a note whose ``source`` is ``path``, and exits 3 when nothing else
    gave a finding)."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.path = path


class LimitError(Why502Error):
    """The machine's limits stop the run (threads that cannot start); said like running out
    of memory, with the same exit."""

    exit_code = EXIT_INPUT


def not_found(path: str) -> str:
    """The one-line reason a path that does not open as a file is not there: ``no such file``,
    or what a user cannot see with ``ls``: ``symlink loop`` (``stat()`` fails with ``ELOOP``,
    too many levels of symbolic links -- a link to itself, or two links to each other), a
    ``broken symlink`` (the link is there, its target is not), ``not a directory`` (a file in
    the middle of the path).  Every "no such file" message goes through here, so a loop is
    never reported as a missing file (symlink(7), path_resolution(7)).
    """
    import errno
    import os

    try:
        os.stat(path)
    except OSError as err:
        if err.errno == errno.ELOOP:
            return f"{path}: symlink loop (too many levels of symbolic links)"
        if err.errno == errno.ENOTDIR:
            return f"{path}: no such file (a part of the path is not a directory)"
        if err.errno == errno.ENOENT and os.path.islink(path):
            try:
                target = os.readlink(path)
            except OSError:
                target = "?"
            return f"{path}: broken symlink (to {target}, which does not exist)"
        if err.errno not in (errno.ENOENT, None):
            return f"{path}: {err.strerror or err}"
    return f"{path}: no such file"
