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


class LimitError(Why502Error):
    """The machine's limits stop the run (threads that cannot start); said like running out
    of memory, with the same exit."""

    exit_code = EXIT_INPUT
