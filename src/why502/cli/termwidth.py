"""The width every text output wraps to: one decision per run, made before the command runs.

The person on call reads a terminal of 80x24 (issue 31): ``explain`` was hard-wrapped at 100
columns, ``classify`` and ``stats`` at 150 when piped, ``diagnose`` at 160 and ``lab`` at 110,
so the same report had three widths.  The rule, for every command:

1. ``--width N`` (every command has it);
2. else ``COLUMNS`` when it is set to a number (the POSIX shell variable; ``shutil``'s and rich's
   own rule too);
3. else the terminal's width when standard output is a terminal;
4. else 80: piped and redirected output wraps where a terminal of the usual size would.

``resolve`` is applied by ``cli.main`` once, which exports the answer as ``COLUMNS`` for the
run, so rich's ``Console()`` (it reads ``COLUMNS`` first: rich/console.py, ``Console.__init__``),
``shutil.get_terminal_size`` and argparse all agree with no width passed around.  Standard
library only (``why502 --help`` stays fast).
"""

from __future__ import annotations

import argparse
import os
import sys

DEFAULT = 80
NARROWEST = 40  # below this nothing readable fits: wrapped words one per line


def width_type(value: str) -> int:
    """``--width N``: a whole number of columns, at least ``NARROWEST``."""
    try:
        n = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of columns: {value!r}") from None
    if n < NARROWEST:
        raise argparse.ArgumentTypeError(f"at least {NARROWEST} columns: {value}")
    return n


def add_width_argument(parser: argparse.ArgumentParser) -> None:
    """``--width N`` on a command parser (``cli.main`` adds it to every command)."""
    parser.add_argument("--width", type=width_type, metavar="N",
                        help="wrap text output to N columns (default: COLUMNS, else the terminal's "
                             f"width, else {DEFAULT} when piped)")


def resolve(explicit: int | None) -> int:
    """The width of this run (the module docstring's rule)."""
    if explicit:
        return explicit
    columns = os.environ.get("COLUMNS", "").strip()
    if columns.isdigit() and int(columns) > 0:
        return max(NARROWEST, int(columns))
    try:
        if sys.stdout.isatty():
            return max(NARROWEST, os.get_terminal_size(sys.stdout.fileno()).columns)
    except (OSError, ValueError):
        pass
    return DEFAULT


def columns() -> int:
    """The width decided for this run (``COLUMNS`` as ``cli.main`` exported it)."""
    return resolve(None)
