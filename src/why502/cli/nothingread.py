"""A run that read no line at all -- an empty or just-rotated log, an empty pipe -- ends in exit
3, with why on stderr when stdout does not say it (``classify``'s and ``stats``' JSON, CSV, jsonl).

Why not 0: "no upstream failure found" or "no 5xx" of an empty input reads as an all-clear --
a log that was just rotated, an empty pipe -- while nothing was looked at; ``diagnose`` of such
logs is "no evidence", exit 3, too (docs/guide/classify.md "Nothing to classify",
docs/guide/stats.md "Exit codes")."""

from __future__ import annotations

import sys

from why502.errors import EXIT_INPUT


def nothing_read(command: str, nothing: str, files: list[str]) -> int:
    """Exit 3 for ``command``'s run; ``files`` given (the output does not say it): the note on
    stderr, ``nothing`` (``nothing to classify``, ``nothing to count``) in it."""
    if files:
        from why502.textutil import strip_terminal_escapes

        named = ", ".join(strip_terminal_escapes(f) for f in files[:3]) + (" ..." if len(files) > 3 else "")
        print(f"why502 {command}: note: 0 lines read from {named}: {nothing} (an empty or just-rotated "
              "log, or an empty pipe: a grep before it that matched nothing)", file=sys.stderr)
    return EXIT_INPUT
