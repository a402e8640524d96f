"""Search for the rules that start with the Go proxies' error prefix, in time linear in the line.

Fourteen ``go-proxy-*`` rules of ``catalog/data/patterns.toml`` share one prefix group:
seven ways a Go proxy writes "here comes the Go error" -- cloudflared's "Unable to reach the origin
service ...: ", Caddy's ``http.log.error`` logger and v1's ``[ERROR 502 /path] ``, Traefik's
``upstream roundtrip`` and ``handling connection`` fields, ``HTTP 502: `` -- each followed by the
tail ``(?:[^"]*?: )?`` (the wrapping ``op: `` words Go's errors carry) and then the rule's own
error text (its *suffix*).

Python's ``re`` tries a search at every start of the line and, from each start, every cut of the
lazy runs.  On a line that holds a head many times and no suffix (a line of ``upstream roundtrip``
over and over, a request URI an attacker wrote) that is quadratic: 12.7 s of ``classify`` for
one 40 KB line, more than five CPU-minutes for 380 KB (docs/limits.md).  The answer itself is
cheap to know, because a later start of a branch can only succeed where an earlier start of the
same branch succeeds too:

* ``upstream roundtrip"?.*?`` and ``"msg"...handling connection".*?``: the lazy run from the first
  head reaches every place a later head's run reaches (up to the next newline, which ``.`` does
  not cross), so only the first head of each newline-free stretch is asked;
* the tail ``(?:[^"]*?: )?S`` from a place ``h`` succeeds when the suffix ``S`` matches at ``h``
  or after some ``": "`` at or after ``h`` before the next double quote.  The places after a
  ``": "`` where ``S`` matches are found once for the line (``_Tail``), and each tail question
  is then a lookup;
* the heads' own runs (``[^:"]*``, ``[^\\]]*``, ``\\S+?``) end at the same place for every start
  inside them, so each run is read once.

The module knows the seven branches' shapes (``_SHAPES``); their literals -- the programs' own
words -- are read from each rule's text (``go_prefix_of``), so a rule whose group is not of
these shapes keeps ``rx.search``, and a test says which rules are searched here.

``search`` finds, for each branch, the first start where it matches, takes the smallest, and asks
the original regex to match at that one place: ``rx.search`` would have failed at every earlier
place and returns exactly that match, groups included.  At a place where the regex succeeds the
backtracking before success is linear (each failed tail reads its own quote-free stretch), so the
whole search is linear in the line.  A short line keeps ``rx.search`` (``SHORT``): the Python loops
cost more than the backtracking they save there.  Tests compare the two on recorded and
generated lines (``tests/classify/test_go_prefix_search.py``) and run a long line through
``why502 classify`` (``tests/cli/test_qa_long_runs.py``).
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

# Below this length ``rx.search`` is used as it is: at 256 characters its worst line costs well
# under a millisecond, and the finders' Python loops cost more than that on ordinary lines.
SHORT = 256

_TAIL = r'(?:[^"]*?: )?'
# The prefix's seven branches, in the catalog's order, each as the regex text a rule writes with
# ``{}`` where the head's literal goes (the literals are read from the rule: the data names the
# programs, this module only their shapes).  A rule whose first group is not these seven (and
# maybe more branches after them) is searched by ``rx.search`` as before.
_SHAPES = (
    '{}[^:"]*: ' + _TAIL,
    "{}" + _TAIL,
    r'{}(?:\.\S+?)?(?:\s+|",\s*"msg"\s*:\s*")' + _TAIL,
    r"\[ERROR 5\d\d [^\]]*\] " + _TAIL,
    r'{}"?.*?"?error"?\s*[:=]\s*"' + _TAIL,
    r'"msg"\s*:\s*"{}".*?"error"\s*:\s*"' + _TAIL,
    r"\bHTTP 5\d\d: " + _TAIL,
)
# a literal as a pattern writes it: plain characters and escaped non-alphanumerics
_ESCAPED_LITERAL = r"((?:\\[^A-Za-z0-9]|[^\\.^$*+?{}\[\]|()])+)"

_NOT_COLON_QUOTE = re.compile(r'[^:"]*')
_NOT_BRACKET = re.compile(r"[^\]]*")
_NON_SPACE = re.compile(r"\S*")
_SPACE = re.compile(r"\s*")
_STATUS_BRACKET = re.compile(r"\[ERROR 5\d\d ")
_STATUS_COLON = re.compile(r"\bHTTP 5\d\d: ")
_MSG_FIELD = re.compile(r'",\s*"msg"\s*:\s*"')
_ERROR_FIELD = re.compile(r'error"?\s*[:=]\s*"')
_QUOTED_ERROR_FIELD = re.compile(r'"error"\s*:\s*"')


class _Tail:
    """The tail ``(?:[^"]*?: )?`` + suffix, asked at many places of one line.

    ``ok(h)``: the suffix matches at ``h``, or right after some ``": "`` at or after ``h`` with no
    double quote between ``h`` and it (``[^"]*?`` stops at none).  The ``": "`` places whose
    suffix matches are found once (``_good``), the quotes once (``_quotes``), so each question
    costs one suffix attempt and two bisections."""

    def __init__(self, text: str, suffix: re.Pattern[str]) -> None:
        self.text = text
        self.suffix = suffix
        self._good: list[int] | None = None
        self._quotes: list[int] | None = None

    def _colon_ends(self) -> list[int]:
        text, suffix, out = self.text, self.suffix, []
        p = text.find(": ")
        while p >= 0:
            if suffix.match(text, p + 2):
                out.append(p)
            p = text.find(": ", p + 2)
        return out

    def ok(self, h: int) -> bool:
        text = self.text
        if self.suffix.match(text, h):
            return True
        if self._good is None:
            self._good = self._colon_ends()
            self._quotes = [m.start() for m in re.finditer('"', text)]
        i = bisect_left(self._good, h)
        if i == len(self._good):
            return False
        assert self._quotes is not None
        j = bisect_left(self._quotes, h)
        quote = self._quotes[j] if j < len(self._quotes) else len(text)
        return self._good[i] < quote


def _head_to_colon(text: str, tail: _Tail, lit: str) -> int | None:
    """``lit[^:"]*: `` + tail (cloudflared's "Unable to reach the origin service...: ").  Every
    start inside one ``[^:"]`` run stops at the run's end (``lit`` holds no ``:`` or ``"``), so
    the next start is looked for past it."""
    s = text.find(lit)
    while s >= 0:
        end = _NOT_COLON_QUOTE.match(text, s + len(lit))
        assert end is not None
        c = end.end()
        if text.startswith(": ", c) and tail.ok(c + 2):
            return s
        s = text.find(lit, c + 1)
    return None


def _literal_head(text: str, tail: _Tail, lit: str) -> int | None:
    """``lit`` + tail: each place of the literal asked once."""
    s = text.find(lit)
    while s >= 0:
        if tail.ok(s + len(lit)):
            return s
        s = text.find(lit, s + 1)
    return None


def _space_ends(text: str, at: int, tail: _Tail) -> bool:
    """``\\s+`` at ``at`` + tail: the tail at each end the whitespace run allows."""
    run = _SPACE.match(text, at)
    assert run is not None
    return any(tail.ok(h) for h in range(at + 1, run.end() + 1))


def _msg_field(text: str, at: int, tail: _Tail) -> bool:
    """``",\\s*"msg"\\s*:\\s*"`` at ``at`` + tail."""
    m = _MSG_FIELD.match(text, at)
    return m is not None and tail.ok(m.end())


def _dotted_logger(text: str, tail: _Tail, lit: str) -> int | None:
    """``lit(?:\\.\\S+?)?(?:\\s+|",\\s*"msg"\\s*:\\s*")`` + tail (Caddy's ``http.log.error`` logger).

    With a dotted name after ``lit`` (``http.log.error.log0``) the name ends at any ``",`` inside
    the run of non-spaces after the dot, or at the run's end before whitespace.  A later start
    after the dot and inside that run (``lit`` holds no whitespace) ends only at places of the
    same run, so it is not asked; a start that overlaps this one's literal is."""
    s = text.find(lit)
    while s >= 0:
        t = s + len(lit)
        covered = -1  # starts after the dot and before the run's end are covered
        if text.startswith(".", t):
            run = _NON_SPACE.match(text, t + 1)
            assert run is not None
            r = run.end()
            if r >= t + 2:
                e = text.find('",', t + 2, r)
                while e >= 0:
                    if _msg_field(text, e, tail):
                        return s
                    e = text.find('",', e + 1, r)
                if r < len(text) and _space_ends(text, r, tail):
                    return s
                covered = r
        elif _space_ends(text, t, tail) or _msg_field(text, t, tail):
            return s
        s = text.find(lit, s + 1)
        if t < s < covered:
            s = text.find(lit, covered)
    return None


def _status_bracket(text: str, tail: _Tail) -> int | None:
    """``\\[ERROR 5\\d\\d [^\\]]*\\] `` + tail (Caddy v1): every start inside one ``[^\\]]`` run
    stops at the same ``]``."""
    pos = 0
    while (m := _STATUS_BRACKET.search(text, pos)) is not None:
        end = _NOT_BRACKET.match(text, m.end())
        assert end is not None
        c = end.end()
        if text.startswith("] ", c) and tail.ok(c + 2):
            return m.start()
        pos = c + 1
    return None


def _lazy_to_field(text: str, frm: int, literal: str, field: re.Pattern[str], tail: _Tail) -> bool:
    """``.*?`` from ``frm`` then ``field`` (which begins with ``literal``) + tail: each place of
    ``literal`` before the next newline is asked."""
    nl = text.find("\n", frm)
    stop = len(text) if nl < 0 else nl
    k = text.find(literal, frm, stop)  # (``literal`` holds no newline: it ends before ``stop``)
    while k >= 0:
        m = field.match(text, k)
        if m is not None and tail.ok(m.end()):
            return True
        k = text.find(literal, k + 1, stop)
    return False


def _lazy_error_field(text: str, tail: _Tail, lit: str) -> int | None:
    """``lit"?.*?"?error"?\\s*[:=]\\s*"`` + tail (Traefik's ``upstream roundtrip``): the first
    head of a newline-free stretch reaches every ``error`` a later one reaches."""
    s = text.find(lit)
    while s >= 0:
        frm = s + len(lit)
        if _lazy_to_field(text, frm, "error", _ERROR_FIELD, tail):
            return s
        nl = text.find("\n", frm)
        if nl < 0:
            return None
        s = text.find(lit, nl)
    return None


def _msg_then_error(text: str, tail: _Tail, head: re.Pattern[str]) -> int | None:
    """``"msg"\\s*:\\s*"<lit>".*?"error"\\s*:\\s*"`` + tail (Traefik's ``handling connection``):
    a head whose end is in the newline-free stretch an earlier head's run read already is not
    asked again (its run reaches no place the earlier one did not)."""
    read_to = -1
    s = text.find('"msg"')
    while s >= 0:
        # each ``"msg"`` is asked (not ``finditer``'s matches, which cannot overlap: a head may
        # begin on the quote that ends the one before it)
        m = head.match(text, s)
        if m is not None and m.end() > read_to:
            g = m.end()
            if _lazy_to_field(text, g, '"error"', _QUOTED_ERROR_FIELD, tail):
                return s
            nl = text.find("\n", g)
            read_to = len(text) if nl < 0 else nl
        s = text.find('"msg"', s + 1)
    return None


def _status_colon(text: str, tail: _Tail) -> int | None:
    """``\\bHTTP 5\\d\\d: `` + tail."""
    for m in _STATUS_COLON.finditer(text):
        if tail.ok(m.end()):
            return m.start()
    return None


def _first_group(pattern: str) -> tuple[int, list[str]] | None:
    """The group ``(?:...)`` that opens ``pattern``: the index just past it and its branches
    (cut at its own ``|``; escapes, classes and inner groups skipped).  None: no such group."""
    if not pattern.startswith("(?:"):
        return None
    branches: list[str] = []
    depth, start, i, in_class = 0, 3, 0, False
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if pattern.startswith("]", i + 1) or pattern.startswith("^]", i + 1):
                i += 1 + pattern.startswith("^", i + 1)
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                branches.append(pattern[start:i])
                return i + 1, branches
        elif ch == "|" and depth == 1:
            branches.append(pattern[start:i])
            start = i + 1
        i += 1
    return None


def _literal_of(shape: str, branch: str) -> str | None:
    """The literal ``branch`` writes where ``shape`` has ``{}`` ("" when the shape has none);
    None: ``branch`` is not of this shape."""
    before, brace, after = shape.partition("{}")
    if not brace:
        return "" if branch == shape else None
    m = re.fullmatch(re.escape(before) + _ESCAPED_LITERAL + re.escape(after), branch)
    return None if m is None else re.sub(r"\\(.)", r"\1", m.group(1))


@dataclass(frozen=True)
class GoPrefix:
    """A rule's prefix read from its text: the seven heads' literals, the branches it adds to
    the group, and what follows the group (the rule's own error: its *suffix*)."""

    literals: tuple[str, ...]
    extra: str
    suffix: str


@lru_cache(maxsize=64)
def go_prefix_of(pattern: str) -> GoPrefix | None:
    """``pattern``'s first group as the seven branches of ``_SHAPES`` (and maybe more), or None.

    The literals must be what the finders' reasoning takes: no ``:``, ``"`` or newline in the
    first (its run ``[^:"]*`` ends where a later start's does), no whitespace in the third (a
    start inside its dotted name's run of non-spaces), none empty, none with a newline."""
    group = _first_group(pattern)
    if group is None:
        return None
    end, branches = group
    if len(branches) < len(_SHAPES):
        return None
    found = [_literal_of(shape, branch) for shape, branch in zip(_SHAPES, branches)]
    literals = tuple(lit for lit in found if lit is not None)
    if len(literals) != len(_SHAPES):
        return None
    first, _, dotted, _, lazy, quoted, _ = literals
    named = [first, literals[1], dotted, lazy, quoted]
    if not all(named) or any("\n" in lit for lit in named):
        return None
    if any(ch in first for ch in ':"') or any(ch.isspace() for ch in dotted):
        return None
    return GoPrefix(literals, "|".join(branches[len(_SHAPES):]), pattern[end:])


class GoPrefixSearch:
    """``rx.search`` for a rule whose first group is the Go-proxy prefix (``go_prefix_of``): the
    same match, found in linear time on a long line (the module's docstring says how).

    The rule may add branches inside the prefix's group (``go-proxy-eof``'s ``502 Bad Gateway``)
    and alternatives after its suffix anchored with ``^`` (``go-proxy-no-upstreams``): the added
    branches are searched with Python's ``re`` (each must be linear on its own, as that one is:
    a start reads no further than its ``502`` and the whitespace after it), and a ``^``
    alternative only matches at 0, which is asked once."""

    def __init__(self, rx: re.Pattern[str], prefix: GoPrefix) -> None:
        self.rx = rx
        self.suffix = re.compile(prefix.suffix, rx.flags)
        self.extra = re.compile(f"(?:{prefix.extra}){prefix.suffix}", rx.flags) if prefix.extra else None
        first, responding, dotted, _, lazy, quoted, _ = prefix.literals
        msg_head = re.compile(r'"msg"\s*:\s*"' + re.escape(quoted) + '"')
        self._finders: tuple[Callable[[str, _Tail], int | None], ...] = (
            lambda text, tail: _head_to_colon(text, tail, first),
            lambda text, tail: _literal_head(text, tail, responding),
            lambda text, tail: _dotted_logger(text, tail, dotted),
            _status_bracket,
            lambda text, tail: _lazy_error_field(text, tail, lazy),
            lambda text, tail: _msg_then_error(text, tail, msg_head),
            _status_colon,
        )

    @property
    def pattern(self) -> str:
        return self.rx.pattern

    def first_start(self, text: str) -> int | None:
        """Where ``rx.search(text)`` matches, found without it (None: nowhere)."""
        starts: list[int] = []
        if self.suffix.match(text, 0) and self.rx.match(text, 0):
            return 0  # a ``^`` alternative (or a branch) at the very start: nothing is earlier
        tail = _Tail(text, self.suffix)
        for find in self._finders:
            s = find(text, tail)
            if s is not None:
                starts.append(s)
        if self.extra is not None and (m := self.extra.search(text)) is not None:
            starts.append(m.start())
        return min(starts) if starts else None

    def search(self, string: str, /) -> re.Match[str] | None:
        if len(string) <= SHORT:
            return self.rx.search(string)
        s = self.first_start(string)
        return None if s is None else self.rx.match(string, s)


def go_prefix_search(rx: re.Pattern[str]) -> GoPrefixSearch | None:
    """A ``GoPrefixSearch`` of ``rx`` when its first group is the Go-proxy prefix, else None."""
    prefix = go_prefix_of(rx.pattern)
    return None if prefix is None else GoPrefixSearch(rx, prefix)
