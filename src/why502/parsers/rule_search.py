"""How a catalog rule's regex is searched in one line: literals every match holds are looked for
first, and the Go-proxy prefix rules are searched in linear time (``parsers.go_prefix``).

Why the literals: Python's ``re`` tries a search from every start of the line.  A rule such as
PHP-FPM's ``(?:child (?P<pid>\\d+), script '...'.*?)?executing too slow \\(`` reads from each
``child N, script '...'`` to the line's end before it fails, so a line of such heads without the
closing ``executing too slow (`` cost the square of the line (0.78 s for 40 KB, ~8 minutes for
1 MB; the rule's needle ``executing too slow`` lets such a line through).  A run of literal
characters at the top level of the pattern (outside any optional group, repeat or alternative)
is in every match; so is one literal of each branch of an alternative when every branch has one
(a Go-proxy rule's ``(?:x509: |tls: |remote error: tls|...)``).  A line that holds none of such
a set has no match, and ``str`` says so at C speed.  The pattern's parse (``re._parser``) gives
the sets; a pattern with flags that change how a literal matches (``(?i)``, ``(?x)``, globally
or in a group) gives none from there.  157 of the 197 rules have a set.
"""

from __future__ import annotations

import re
import re._parser as sre_parse
from typing import Protocol

from why502.parsers.go_prefix import go_prefix_search


class Searcher(Protocol):
    """What a rule's regex is asked: ``re.Pattern`` or one of this module's searches."""

    @property
    def pattern(self) -> str: ...

    def search(self, string: str, /) -> re.Match[str] | None: ...


_CASELESS = re.IGNORECASE | re.VERBOSE  # flags under which a literal is not matched as written
_SHORTEST = 4  # a set with a shorter literal is too common to be worth a look


def _one_of(seq: sre_parse.SubPattern | list[tuple[object, object]]) -> list[tuple[str, ...]]:
    """Sets of literals such that every match of ``seq`` holds one literal of each set: each run
    of literal characters at its top level, each group's own sets, and for an alternative whose
    every branch has a set, the union of one set of each."""
    sets: list[tuple[str, ...]] = []
    run = ""
    for op, arg in seq:
        if op is sre_parse.LITERAL:
            assert isinstance(arg, int)
            run += chr(arg)
            continue
        if run:
            sets.append((run,))
            run = ""
        if op is sre_parse.SUBPATTERN:
            _group, add_flags, _del_flags, sub = arg  # type: ignore[misc]
            if not add_flags & _CASELESS:
                sets += _one_of(sub)
        elif op is sre_parse.BRANCH:
            _none, branches = arg  # type: ignore[misc]
            each = [_best(_one_of(b)) for b in branches]
            if all(each):
                sets.append(tuple(dict.fromkeys(lit for one in each if one for lit in one)))
    if run:
        sets.append((run,))
    return sets


def _strength(one: tuple[str, ...]) -> tuple[int, int]:
    """How much a set says: its shortest literal's length, then fewer literals."""
    return min(map(len, one)), -len(one)


def _best(sets: list[tuple[str, ...]]) -> tuple[str, ...] | None:
    """The strongest set (``_strength``)."""
    return max(sets, key=_strength, default=None)


def required_literals(pattern: str) -> tuple[tuple[str, ...], ...]:
    """Up to two sets of literals such that every match of ``pattern`` holds one literal of each
    (the two whose shortest literal is the longest, each at least ``_SHORTEST``); none when the
    pattern's flags change what a literal matches (``(?i)``, ``(?x)``)."""
    tree = sre_parse.parse(pattern)
    if tree.state.flags & _CASELESS:
        return ()
    sets = [one for one in _one_of(tree) if min(map(len, one)) >= _SHORTEST]
    sets.sort(key=_strength, reverse=True)
    return tuple(sets[:2])


class LiteralFirst:
    """``inner.search``, asked only of a line that holds a literal of each of ``sets`` (every
    match holds one)."""

    def __init__(self, inner: Searcher, sets: tuple[tuple[str, ...], ...]) -> None:
        self.inner = inner
        self.sets = sets

    @property
    def pattern(self) -> str:
        return self.inner.pattern

    def search(self, string: str, /) -> re.Match[str] | None:
        for one in self.sets:
            if not any(lit in string for lit in one):
                return None
        return self.inner.search(string)


def rule_searcher(rx: re.Pattern[str]) -> Searcher:
    """``rx`` as a rule's line search: the Go-proxy prefix rules in linear time, any rule with
    required literals behind a look for them."""
    inner: Searcher = go_prefix_search(rx) or rx
    sets = required_literals(rx.pattern)
    return LiteralFirst(inner, sets) if sets else inner
