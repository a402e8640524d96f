"""One vocabulary for every command: ``--format``, ``-o/--output`` and ``--config`` (issue 31, item 7;
issue 23, item 5).

Before, the commands had five ``--format`` vocabularies (``summary`` for classify's tables where
the others say ``text``, different orders), ``-o`` on three commands only, and argparse's own
two-line usage error for a format a command does not offer.  Here:

- ``FORMATS`` is the one list of format names, in one order; a command offers the subset that
  makes sense for its result (``add_format_argument``), under the same names.  A name it does
  not offer is one line naming the ones it does, exit 2 (``_Offered.__contains__``, the check
  argparse makes for ``choices``), never the usage dump.  ``csv`` is the one format outside the
  list: stats' per-minute timeline, a table for spreadsheets rather than a rendering of a result.
- ``-o/--output FILE`` (``add_output_argument``) is taken by ``cli.main`` for every command that
  defines ``output_inputs(args)``: the command's standard output goes to a temporary file in
  FILE's directory, renamed over FILE when the command returns (``cli.output.result_to``):
  atomic, and never over one of the inputs ``output_inputs`` names.

Standard library only (``why502 --help`` stays fast).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable

from why502.errors import UsageError

FORMATS = ("text", "json", "jsonl", "markdown", "html", "sarif")
"""Every format name a command may offer, in the order help texts list them."""

EXTRA_FORMATS = ("csv",)
"""Names outside the vocabulary: ``stats --format csv`` (the per-minute timeline)."""

ALIASES = {"summary": "text"}
"""Older names still read: ``classify --format summary`` is its ``text``."""

_HELP = {
    "text": "the human answer",
    "json": "one JSON document (schema in src/why502/schemas/)",
    "jsonl": "one JSON object per line",
    "markdown": "for a ticket or chat",
    "html": "one self-contained page",
    "sarif": "SARIF 2.1.0 for code scanning",
    "csv": "the per-minute timeline",
}


class _Offered(tuple[str, ...]):
    """The formats one command offers, used as argparse ``choices``: iterating gives them (help,
    completion scripts, the man page); a value that is not among them raises the one-line
    ``UsageError`` here, which ``cli.main`` prints as ``why502: ...`` with exit 2."""

    command: str

    def __new__(cls, command: str, offered: Iterable[str]) -> _Offered:
        self = super().__new__(cls, offered)
        self.command = command
        return self

    def __contains__(self, value: object) -> bool:
        if tuple.__contains__(self, value):
            return True
        raise UsageError(f"--format {value}: `why502 {self.command}` writes {', '.join(self)}")


def offered(*names: str) -> tuple[str, ...]:
    """``names`` in the vocabulary's order (``FORMATS``, then ``EXTRA_FORMATS``); a name outside
    both is a programming error."""
    order = (*FORMATS, *EXTRA_FORMATS)
    unknown = [n for n in names if n not in order]
    if unknown:
        raise ValueError(f"not in the format vocabulary: {unknown}")
    return tuple(n for n in order if n in names)


def _canonical(value: str) -> str:
    return ALIASES.get(value, value)


def add_format_argument(parser: argparse.ArgumentParser, command: str, formats: Iterable[str],
                        default: str | None = "text", notes: str = "", short: str | None = None) -> None:
    """``--format`` with the formats ``command`` offers (given in any order, listed in the
    vocabulary's); ``notes`` adds what is particular to this command; ``short`` an older short
    spelling kept (``render -f``)."""
    names = _Offered(command, offered(*formats))
    listed = ", ".join(f"{n}{' (default)' if n == default else ''}" for n in names)
    detail = "; ".join(f"{n}: {_HELP[n]}" for n in names if n != "text")
    parser.add_argument("--format", *([short] if short else []), type=_canonical, choices=names,
                        default=default, metavar="FORMAT",
                        help=f"output format: {listed} ({detail})" + (f"; {notes}" if notes else ""))


def add_output_argument(parser: argparse.ArgumentParser, what: str = "the result") -> None:
    """``-o/--output FILE``: written atomically, never over one of the command's inputs."""
    parser.add_argument("-o", "--output", metavar="FILE",
                        help=f"write {what} to FILE instead of standard output (atomically: the old "
                             "FILE or the new one, never half; refused when FILE is one of the inputs)")


def add_config_argument(parser: argparse.ArgumentParser, help_text: str, dest: str = "config",
                        aliases: tuple[str, ...] | None = None) -> None:
    """``--config FILE``, the config flag of every command that reads a proxy's config; the older
    per-proxy names (``--nginx-conf``: ``Vocabulary.config_flag``, ``proxies.option_aliases``)
    kept as aliases of the same option."""
    if aliases is None:
        from why502.proxies import option_aliases

        aliases = option_aliases("config_flag")
    parser.add_argument("--config", *aliases, dest=dest, metavar="FILE", help=help_text)
