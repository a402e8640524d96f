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


def argv_width(argv: list[str]) -> int | None:
    """``--width N`` / ``--width=N`` in a command line, read before parsing so that ``--help``
    (printed while parsing) wraps to it too; None when absent or not a usable number (the
    parser then reports it)."""
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        value = argv[i + 1] if arg == "--width" and i + 1 < len(argv) else (
            arg.split("=", 1)[1] if arg.startswith("--width=") else None)
        if value is not None:
            try:
                return width_type(value)
            except argparse.ArgumentTypeError:
                return None
    return None


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Help that wraps to the run's width (``resolve``; 80 when piped), descriptions included.

    The descriptions are written as paragraphs of prose and indented blocks (examples, lists):
    a run of unindented lines is one paragraph, refilled to the width; an indented line is kept
    as written (an example stays one command) unless it is wider, then it continues on the next
    line indented two more columns.  (argparse's own formatter would either keep the text as
    written, ~100 columns, or refill the examples too.)"""

    def __init__(self, prog: str, indent_increment: int = 2, max_help_position: int = 24,
                 width: int | None = None) -> None:
        super().__init__(prog, indent_increment, max_help_position,
                         width=(width or resolve(None)) - 2)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        out: list[str] = []
        prose: list[str] = []

        def flush() -> None:
            if prose:
                out.extend(textwrap.wrap(" ".join(prose), width, initial_indent=indent,
                                         subsequent_indent=indent, break_on_hyphens=False,
                                         break_long_words=True))
                prose.clear()

        for line in text.splitlines():
            if not line.strip():
                flush()
                out.append("")
            elif line[0] in " \t":
                flush()
                lead = line[:len(line) - len(line.lstrip())]
                out.extend(textwrap.wrap(line.strip(), width, initial_indent=indent + lead,
                                         subsequent_indent=indent + lead + "  ",
                                         break_on_hyphens=False, break_long_words=True) or [""])
            else:
                prose.append(line.strip())
        flush()
        return "\n".join(out)


def add_width_everywhere(parser: argparse.ArgumentParser) -> None:
    """``--width N`` and the wrapping help formatter on ``parser`` and on every subcommand
    parser under it (``lab list``, ``fleet targets`` ...), where argparse would otherwise reject
    ``--width`` given after the subcommand."""
    parser.formatter_class = HelpFormatter
    if not any("--width" in a.option_strings for a in parser._actions):
        add_width_argument(parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                add_width_everywhere(sub)
