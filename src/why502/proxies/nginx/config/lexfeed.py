"""Feed crossplane's own lexer whole runs of characters instead of one character at a time.

Why: crossplane (the parser this project uses for nginx configs) lexes character by character
through three nested generators (``_iterescape``, ``_iterlinecount``, ``_lex_file_object`` in
``crossplane/lexer.py``): on a 2 MB config of 5000 server blocks that was ~1 s of CPU, most of a
``diagnose`` run.  Its state machine never looks inside a run of ordinary characters or of
blank space, so it reads the same tokens from *units* of text instead of characters:

- a run of characters that are none of whitespace, ``"``, ``'``, ``\\``, ``{``, ``}``, ``;``,
  ``#``, ``$`` (the characters its state machine branches on): it only appends them to the token;
- a run of whitespace without a newline: the state machine skips whitespace as a whole; a
  newline stays a unit of its own, so each unit ends with at most one newline (the line count
  is ``char.endswith('\\n')``, and a comment ends at the unit ending with one); the first
  whitespace character after a token -- or after an escaped character, ``\\`` and a newline
  included -- is a unit of its own (``${`` appends the character that ends it to the token:
  ``${`` then a no-break space, and ``${`` then an escaped newline then one, both found by the
  hypothesis test);
  splitting a run of whitespace more often than needed is always safe (closer to single
  characters), splitting it too rarely is not;
- a backslash with the character after it: the pair ``_iterescape`` would make;
- any other character alone.

The tokens, their line numbers and the quoted flags are crossplane's own (its lexer, brace
check, parser and argument check all still run); only the number of generator steps changes.
``tests/nginx_config/test_lexfeed.py`` compares both token streams on every config in the
test fixtures and on generated hostile text.  crossplane calls the lexer through
``crossplane.parser.lex``: :func:`install` points that name at :func:`lex`.  A file that names
a directive with an external lexer (crossplane registers ``crossplane.ext.lua`` for the
``*_by_lua_block`` directives, whose hook reads the character stream itself) is lexed a
character at a time, as crossplane does.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

UNIT = re.compile(r"""[^\s"'\\{};#$]+|(?<=\S)[^\S\n]|(?<=\\\s)[^\S\n]|[^\S\n]+|\\.|.""", re.DOTALL)
"""One unit of crossplane's lexer input.  ``\\s`` is ``str.isspace()`` (checked over every code
point in the test), the lexer's own test for whitespace."""


def units(text: str) -> list[str]:
    """``text`` cut into the units described above (their concatenation is ``text``)."""
    return UNIT.findall(text)


GIVEN: dict[str, bytes] = {}
"""The bytes of files the loader has already read (``load._Loader``), by the path crossplane
is given: :func:`lex` takes them from here instead of opening the file again (issue 23 item 3:
each input read once per run).  Each entry is taken once."""


def decode(data: bytes, errors: str) -> str:
    """``data`` as a file opened in text mode would read it: UTF-8, universal newlines."""
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", errors=errors).read()


def lex(filename: str) -> Iterator[tuple[str, int, bool]]:
    """``crossplane.lexer.lex(filename)`` with the text given as units: the same
    ``(token, line, quoted)`` tuples, the same ``NgxParserSyntaxError`` for unbalanced braces."""
    from crossplane import lexer

    # the same decoding as crossplane's lexer: text mode (universal newlines), bad bytes replaced
    data = GIVEN.pop(filename, None)
    if data is not None:
        text = decode(data, "replace")
    else:
        with io.open(filename, encoding="utf-8", errors="replace") as fh:  # noqa: UP020
            text = fh.read()
    if any(name in text for name in lexer.EXTERNAL_LEXERS):  # a hook that reads characters
        yield from lexer.lex(filename)
        return
    yield from lexer._balance_braces(lexer._lex_file_object([units(text)]), filename)


def install() -> Any:
    """Make ``crossplane.parse`` lex through :func:`lex`; returns the crossplane module.

    Only when ``crossplane.parser.lex`` is still crossplane's own lexer: another version that
    reads files differently keeps its own lexer, which is slower, never wrong."""
    import crossplane
    from crossplane import lexer, parser

    if (getattr(parser, "lex", None) is lexer.lex and hasattr(lexer, "_lex_file_object")
            and hasattr(lexer, "_balance_braces")):
        parser.lex = lex
    return crossplane
