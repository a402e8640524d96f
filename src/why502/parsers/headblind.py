"""Which regexes can see inside a line's head: a check on the regex itself, not on sample lines.

Apache's error-log lines start with a head whose parts change on every line (the time to the
microsecond, the pid and tid, the client's address and port: ``server/log.c``
``do_errorlog_default()``).  A recogniser that remembers the answer for a message it has seen is
exact only if nothing it asks of the line reads those parts.  Most of what ``classify_line``
asks of a line is a regex *searched in the whole line* (the ``match`` rules of every program but
Apache, the nginx head found in the middle, ``normalize``'s repairs), and some of them do read
the head: ``http-reply-told-502`` finds ``502] Bad Gateway`` in ``[pid 1:tid 502] Bad Gateway``
(BENCHMARKS.md stop 50).

:func:`can_start_inside` answers, for one regex, whether any match of it can *start* inside such
a head before its last ``]`` -- a match that starts at or after the head's closing ``] `` reads
the fixed ``] `` and the message only.  It builds the regex's automaton from Python's own parse
of it (``re._parser``) and runs it against the head's automaton (the head written as a regex),
over every character a head can hold: no sample line is involved.  Every approximation is on the
side of "can": an assertion (``^``, ``\\b``, a lookaround) is taken as always true, a bounded
repeat as unbounded, a case-insensitive letter as also any non-ASCII character (Unicode case
folding), and a construct it does not know (a back-reference) as "can".  So "cannot" is a proof
and "can" may be a false alarm, which only costs speed: the caller checks such a regex on each
line (``proxies.apache.error_memo``).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

if sys.version_info >= (3, 11):  # CPython's own parse of a regex
    from re import _constants as _C  # type: ignore[attr-defined]
    from re import _parser as _P  # type: ignore[attr-defined]
else:  # pragma: no cover - Python 3.10
    import sre_constants as _C
    import sre_parse as _P
from typing import Any

__all__ = ["Reach", "Unsupported", "can_start_inside", "head_reach", "lookbehind_width"]

_ATOMIC = getattr(_C, "ATOMIC_GROUP", object())  # 3.11's (?>...) and x*+: none before
_POSSESSIVE = getattr(_C, "POSSESSIVE_REPEAT", object())
_ALL = (1 << 129) - 1  # bits 0..127: the ASCII characters; bit 128: any character beyond ASCII
_NON_ASCII = 1 << 128
_REPEAT_COPIES = 12  # a repeat is copied up to this many times; beyond, its tail is taken as unbounded


class Unsupported(ValueError):
    """A construct this check does not model (the caller treats the regex as one that can)."""


def _mask(chars: Iterable[int]) -> int:
    out = 0
    for c in chars:
        out |= 1 << c if c < 128 else _NON_ASCII
    return out


_DIGIT = _mask(range(48, 58)) | _NON_ASCII  # \d on str patterns: Unicode digits too
_SPACE = _mask(c for c in range(128) if chr(c).isspace()) | _NON_ASCII
_WORD = _mask(c for c in range(128) if chr(c).isalnum() or c == 95) | _NON_ASCII
_LETTERS = _mask(c for c in range(128) if chr(c).isalpha())
_CATEGORY = {
    _C.CATEGORY_DIGIT: _DIGIT, _C.CATEGORY_NOT_DIGIT: (_ALL & ~_DIGIT) | _NON_ASCII,
    _C.CATEGORY_SPACE: _SPACE, _C.CATEGORY_NOT_SPACE: (_ALL & ~_SPACE) | _NON_ASCII,
    _C.CATEGORY_WORD: _WORD, _C.CATEGORY_NOT_WORD: (_ALL & ~_WORD) | _NON_ASCII,
    _C.CATEGORY_LINEBREAK: _mask([10]) | _NON_ASCII, _C.CATEGORY_NOT_LINEBREAK: _ALL,
}


def _fold(mask: int, icase: bool) -> int:
    """``mask`` with the other case of each ASCII letter, and any non-ASCII character (``K`` and
    the Kelvin sign fold together), when the regex ignores case there."""
    if not icase or not mask & _LETTERS:
        return mask
    out = mask | _NON_ASCII
    for c in range(128):
        if mask >> c & 1 and chr(c).isalpha():
            out |= _mask([ord(chr(c).swapcase())])
    return out


class _Nfa:
    """A Thompson automaton: ``edges[s]`` (character mask, next state), ``eps[s]`` next states
    without a character, ``cond[(s, t)]`` the assertion such a step needs (``_BEGIN``, ``_END``,
    ``_BOUNDARY``, ``_NOT_BOUNDARY``; none: free)."""

    def __init__(self) -> None:
        self.edges: list[list[tuple[int, int]]] = []
        self.eps: list[list[int]] = []
        self.cond: dict[tuple[int, int], int] = {}

    def state(self) -> int:
        self.edges.append([])
        self.eps.append([])
        return len(self.edges) - 1

    def closure(self, states: Iterable[int]) -> frozenset[int]:
        """Every state a step without a character reaches, assertions taken as true."""
        seen = set(states)
        todo = list(seen)
        while todo:
            for t in self.eps[todo.pop()]:
                if t not in seen:
                    seen.add(t)
                    todo.append(t)
        return frozenset(seen)

    def closure_at(self, state: int, prev: int, need: int) -> set[tuple[int, int]]:
        """The states reached without a character from ``state`` after a character of class
        ``prev`` (``_PREV_*``), with what the next character must be (``need``: ``_NEED_*``)."""
        seen = {(state, need)}
        todo = [(state, need)]
        while todo:
            s, nd = todo.pop()
            for t in self.eps[s]:
                got = _assert(self.cond.get((s, t)), prev, nd)
                if got is not None and (t, got) not in seen:
                    seen.add((t, got))
                    todo.append((t, got))
        return seen


# what came before a position: unknown (some character), a word character, another, nothing
_PREV_ANY, _PREV_WORD, _PREV_OTHER, _PREV_START = 0, 1, 2, 3
# what the next character must be: anything, a word character, another
_NEED_ANY, _NEED_WORD, _NEED_OTHER = 0, 1, 2
_BEGIN, _END, _BOUNDARY, _NOT_BOUNDARY = 1, 2, 3, 4
_ASCII_WORD = _WORD & ~_NON_ASCII
_ASCII_OTHER = _ALL & ~_WORD


def _assert(cond: int | None, prev: int, need: int) -> int | None:
    """``need`` after an assertion ``cond`` at a position after ``prev``; None: it cannot hold.
    Inside a head the line goes on (``$`` fails) and a position past its first has a character
    before it (``^`` fails); a word boundary is decided by the character before and after."""
    if cond is None:
        return need
    if cond == _BEGIN:
        return need if prev == _PREV_START else None
    if cond == _END:
        return None
    if prev == _PREV_ANY:
        return need
    word_before = prev == _PREV_WORD
    want = _NEED_OTHER if word_before == (cond == _BOUNDARY) else _NEED_WORD
    if need not in (_NEED_ANY, want):
        return None
    return want


def _prev_of(mask: int) -> int:
    """The class of a character read from ``mask`` (a character beyond ASCII may be either)."""
    if mask & _NON_ASCII:
        return _PREV_ANY
    if not mask & ~_ASCII_WORD:
        return _PREV_WORD
    if not mask & _ASCII_WORD:
        return _PREV_OTHER
    return _PREV_ANY


def _needed(mask: int, need: int) -> int:
    if need == _NEED_WORD:
        return mask & _WORD
    if need == _NEED_OTHER:
        return mask & (_ASCII_OTHER | _NON_ASCII)
    return mask


def _set_mask(items: list[tuple[Any, Any]], icase: bool) -> int:
    """The characters of a ``[...]`` class."""
    out, negate = 0, False
    for op, av in items:
        if op is _C.NEGATE:
            negate = True
        elif op is _C.LITERAL:
            out |= _mask([av])
        elif op is _C.RANGE:
            lo, hi = av
            out |= _mask(range(lo, min(hi, 127) + 1)) | (_NON_ASCII if hi > 127 else 0)
        elif op is _C.CATEGORY:
            out |= _CATEGORY[av]
        else:
            raise Unsupported(f"class item {op}")
    out = _fold(out, icase)
    return (_ALL & ~out) | _NON_ASCII if negate else out


_AT = {_C.AT_BEGINNING: _BEGIN, _C.AT_BEGINNING_STRING: _BEGIN, _C.AT_END: _END,
       _C.AT_END_STRING: _END, _C.AT_BOUNDARY: _BOUNDARY, _C.AT_NON_BOUNDARY: _NOT_BOUNDARY}


def _build(nfa: _Nfa, items: Any, start: int, flags: int) -> int:
    """Add ``items`` (a parsed sequence) from ``start``; the state after them."""
    cur = start
    for op, av in items:
        icase = bool(flags & re.IGNORECASE)
        if op in (_C.LITERAL, _C.NOT_LITERAL, _C.ANY, _C.IN, _C.CATEGORY):
            if op is _C.LITERAL:
                mask = _fold(_mask([av]), icase)
            elif op is _C.NOT_LITERAL:
                mask = (_ALL & ~_fold(_mask([av]), icase)) | _NON_ASCII
            elif op is _C.ANY:
                mask = _ALL if flags & re.DOTALL else _ALL & ~_mask([10])
            elif op is _C.IN:
                mask = _set_mask(av, icase)
            else:
                mask = _CATEGORY[av]
            nxt = nfa.state()
            nfa.edges[cur].append((mask, nxt))
            cur = nxt
        elif op is _C.SUBPATTERN:
            _group, add, drop, sub = av
            cur = _build(nfa, sub, cur, (flags | add) & ~drop)
        elif op is _ATOMIC:
            cur = _build(nfa, av, cur, flags)  # atomic matches fewer strings: the plain group is a superset
        elif op is _C.BRANCH:
            end = nfa.state()
            for alt in av[1]:
                s = nfa.state()
                nfa.eps[cur].append(s)
                nfa.eps[_build(nfa, alt, s, flags)].append(end)
            cur = end
        elif op in (_C.MAX_REPEAT, _C.MIN_REPEAT, _POSSESSIVE):
            lo, hi, sub = av
            for _ in range(min(lo, _REPEAT_COPIES)):
                cur = _build(nfa, sub, cur, flags)
            if lo <= _REPEAT_COPIES and hi <= _REPEAT_COPIES:
                # a short bounded tail, copy by copy: {0,3} is at most three, exactly
                end = nfa.state()
                nfa.eps[cur].append(end)
                for _ in range(hi - lo):
                    cur = _build(nfa, sub, cur, flags)
                    nfa.eps[cur].append(end)
                cur = end
            elif hi > lo or lo > _REPEAT_COPIES:
                # any number more: a superset of the bounded tail (and of copies left out above)
                loop = nfa.state()
                nfa.eps[cur].append(loop)
                nfa.eps[_build(nfa, sub, loop, flags)].append(loop)
                cur = loop
        elif op is _C.AT:
            cond = _AT.get(av)
            if cond is None or (cond in (_BEGIN, _END) and flags & re.MULTILINE):
                continue  # taken as true: more matches, never fewer
            nxt = nfa.state()
            nfa.eps[cur].append(nxt)
            nfa.cond[(cur, nxt)] = cond
            cur = nxt
        elif op in (_C.ASSERT, _C.ASSERT_NOT):
            continue  # a lookaround is taken as true: more matches, never fewer
        elif op is _C.GROUPREF:
            # what a group matched again: taken as any text at all (more matches, never fewer)
            loop = nfa.state()
            nfa.eps[cur].append(loop)
            nxt = nfa.state()
            nfa.edges[loop].append((_ALL, nxt))
            nfa.eps[nxt].append(loop)
            cur = loop
        else:
            raise Unsupported(f"regex construct {op}")
    return cur


def _compile(pattern: str, flags: int = 0) -> tuple[_Nfa, int, int]:
    parsed = _P.parse(pattern, flags)
    nfa = _Nfa()
    start = nfa.state()
    end = _build(nfa, parsed, start, parsed.state.flags)
    return nfa, start, end


def lookbehind_width(pattern: str, flags: int = 0) -> int:
    """The most characters a lookbehind of ``pattern`` reads before where it is tried (0: none);
    a word boundary reads one."""
    widest = 0

    def walk(items: Any) -> None:
        nonlocal widest
        for op, av in items:
            if op in (_C.ASSERT, _C.ASSERT_NOT):
                direction, sub = av
                if direction < 0:
                    widest = max(widest, sub.getwidth()[1])
                walk(sub)
            elif op is _C.AT and av in (_C.AT_BOUNDARY, _C.AT_NON_BOUNDARY):
                widest = max(widest, 1)
            elif op is _C.SUBPATTERN:
                walk(av[3])
            elif op is _ATOMIC:
                walk(av)
            elif op is _C.BRANCH:
                for alt in av[1]:
                    walk(alt)
            elif op in (_C.MAX_REPEAT, _C.MIN_REPEAT, _POSSESSIVE):
                walk(av[2])

    walk(_P.parse(pattern, flags))
    return widest


def _may_follow(hd: _Nfa, states: frozenset[int], end: int, need: int) -> bool:
    """Whether the head's next character can be what a match's closing assertion needs (a word
    boundary after ``5dd`` in ``.502123`` needs a non-word character next, and the head has a
    digit there); past the head's end the message decides."""
    if need == _NEED_ANY or end in states:
        return True
    return any(_needed(mask, need) for h in states for mask, _t in hd.edges[h])


def _before(nfa: _Nfa) -> list[int]:
    """For each state, the characters that can come right before it (0: none, the start)."""
    into = [0] * len(nfa.edges)
    for edges in nfa.edges:
        for mask, t in edges:
            into[t] |= mask
    changed = True
    while changed:
        changed = False
        for s, targets in enumerate(nfa.eps):
            for t in targets:
                if into[t] | into[s] != into[t]:
                    into[t] |= into[s]
                    changed = True
    return into


def can_start_inside(pattern: str, parts: list[tuple[str, bool]], tail: str, flags: int = 0,
                     anchored: bool = False) -> bool:
    """Whether a match of ``pattern`` can read a variable part of a head and either end inside the
    head or run on past it into the message (:func:`head_reach`: it ends inside, or it is alive
    past the head)."""
    reach = head_reach(pattern, parts, tail, flags, anchored)
    return reach is None or reach.ends_inside or bool(reach.alive)


#: the steps a reach keeps (``Reach.completes``): past it they are dropped and walked again; a
#: log of ever new messages kept ~1 MB of them over the ~45 reaches of an Apache memo (tracemalloc,
#: 20k random messages of the rules' words), each set of states one object
_STEPS_KEPT = 512


class Reach:
    """What a regex can do from inside a head: ``ends_inside`` (a match that read a variable
    part ends inside the head), ``alive`` (the regex's states, with what came before and what
    the next character must be, after a variable part and the whole head were read: the message
    decides whether such a match completes, :meth:`completes`)."""

    def __init__(self, nfa: _Nfa, end: int, ends_inside: bool,
                 alive: frozenset[tuple[int, int, int]]) -> None:
        self.nfa = nfa
        self.end = end
        self.ends_inside = ends_inside
        self.alive = alive
        # the automaton's steps met so far, (states, character) -> states (a lazy DFA, as
        # ``completes`` walks it): an Apache log's messages share most of their characters, and
        # walking the NFA a character at a time was ~4 ms a message (``error_memo._learn``)
        self._steps: dict[tuple[frozenset[tuple[int, int, int]], str], frozenset[tuple[int, int, int]]] = {}
        self._ended: dict[frozenset[tuple[int, int, int]], bool] = {}
        self._sets: dict[frozenset[tuple[int, int, int]], frozenset[tuple[int, int, int]]] = {}

    def pruned(self) -> Reach:
        """The same reach with only the states a match alive past the head can still go to (the
        rest of a big regex's automaton is never read again: a few MB kept for nothing)."""
        keep: dict[int, int] = {}
        todo = [r for r, _prev, _need in self.alive] + [self.end]
        while todo:
            r = todo.pop()
            if r in keep:
                continue
            keep[r] = len(keep)
            todo.extend(t for _mask, t in self.nfa.edges[r])
            todo.extend(self.nfa.eps[r])
        small = _Nfa()
        for _ in keep:
            small.state()
        for r, i in keep.items():
            small.edges[i] = [(mask, keep[t]) for mask, t in self.nfa.edges[r]]
            small.eps[i] = [keep[t] for t in self.nfa.eps[r]]
            for t in self.nfa.eps[r]:
                cond = self.nfa.cond.get((r, t))
                if cond is not None:
                    small.cond[(i, keep[t])] = cond
        alive = frozenset((keep[r], prev, need) for r, prev, need in self.alive)
        return Reach(small, keep[self.end], self.ends_inside, alive)

    def completes(self, message: str) -> bool:
        """Whether a match alive past the head ends inside ``message``, the rest of the line.
        A lookaround is taken as true, the end of the line as ``$``: "can", never "cannot" wrongly.
        Each step is the NFA's (``_step``), kept once met (``_steps``, bounded)."""
        states = self.alive
        steps, ended = self._steps, self._ended
        for ch in message:
            done = ended.get(states)
            if done is None:
                done = ended[states] = any(r == self.end for r, _prev, _need in states)
            if done:
                return True
            nxt = steps.get((states, ch))
            if nxt is None:
                if len(steps) >= _STEPS_KEPT:  # a bound on the memory of a long run
                    steps.clear()
                    ended.clear()
                    self._sets.clear()
                nxt = self._step(states, ch)
                nxt = steps[(states, ch)] = self._sets.setdefault(nxt, nxt)  # one object a set
            states = nxt
            if not states:
                return False
        if any(r == self.end for r, _prev, _need in states):
            return True
        # the line ends: "$" holds there (closure_at fails it inside a head); taken as true
        return any(self.end in self.nfa.closure([r]) for r, _prev, _need in states)

    def _step(self, states: frozenset[tuple[int, int, int]], ch: str) -> frozenset[tuple[int, int, int]]:
        """The states after reading ``ch`` from ``states``."""
        nfa = self.nfa
        code = ord(ch)
        bit = 1 << code if code < 128 else _NON_ASCII
        prev = _PREV_WORD if ch.isalnum() or ch == "_" else _PREV_OTHER
        nxt: set[tuple[int, int, int]] = set()
        for r, _p, need in states:
            for mask, r2 in nfa.edges[r]:
                if _needed(mask, need) & bit:
                    nxt.update((rr, prev, nd) for rr, nd in nfa.closure_at(r2, prev, _NEED_ANY))
        return frozenset(nxt)


@dataclass(frozen=True)
class _Head:
    """A head's automaton and what every reach reads of it (``head_reach``): its states that
    read a variable part, its end (past ``tail``), the states its first character can be read
    from, what can come before each state, and the closures a walk has needed so far."""

    nfa: _Nfa
    variable: frozenset[int]
    end: int
    first: frozenset[int]
    before: list[int]
    closures: dict[int, frozenset[int]]


@lru_cache(maxsize=8)
def _head(parts: tuple[tuple[str, bool], ...], tail: str) -> _Head:
    """The automaton of ``parts`` then ``tail``, built once per head: a proof asks ~500 regexes of
    the same two heads, and building the head each time (its parts parsed by ``re``'s parser)
    was a third of ``error_memo.prove``'s time.  Nothing changes it after it is built but the
    closures it caches, which depend on the head alone."""
    hd = _Nfa()
    h_start = h_end = hd.state()
    variable: set[int] = set()
    for part, varies in parts:
        begin = len(hd.edges)
        h_end = _build(hd, _P.parse(part), h_end, 0)
        if varies:
            variable.update(range(begin, len(hd.edges)))
    for ch in tail:
        nxt = hd.state()
        hd.edges[h_end].append((_mask([ord(ch)]), nxt))
        h_end = nxt
    return _Head(hd, frozenset(variable), h_end, hd.closure([h_start]), _before(hd), {})


def head_reach(pattern: str, parts: list[tuple[str, bool]], tail: str, flags: int = 0,
               anchored: bool = False) -> Reach | None:
    """What a match of ``pattern`` can do once it has read a variable part of a head (None: a
    construct this check does not model; take it as "anything").

    The head is ``parts`` one after the other (each a regex; ``True``: a part whose text changes
    from line to line, ``False``: one that is the same on every line the caller groups together,
    though any text its regex allows), then ``tail``, literal text every head ends with (its
    closing ``] ``).  ``anchored``: only a match that starts at the head's first character
    (``re.match``).  A match that reads no variable part reads the same text on every such line."""
    try:
        rx, rx_start, rx_end = _compile(pattern, flags)
    except Unsupported:
        return None
    head = _head(tuple(parts), tail)
    hd, variable, h_end, first, before = head.nfa, head.variable, head.end, head.first, head.before
    starts = first if anchored else frozenset(range(len(hd.edges)))
    # (head state, regex state, whether the match has read a variable part, what came before,
    # what the next character must be)
    seen: set[tuple[int, int, bool, int, int]] = set()
    todo: list[tuple[int, int, bool, int, int]] = []
    for h in starts:
        if h in first and not before[h]:
            prev = _PREV_START
        else:
            prev = _prev_of(before[h]) if before[h] else _PREV_ANY
        for r, need in rx.closure_at(rx_start, prev, _NEED_ANY):
            if r == rx_end and h in first:
                return Reach(rx, rx_end, True, frozenset())  # matches at the head's first character
            if (h, r, False, prev, need) not in seen:
                seen.add((h, r, False, prev, need))
                todo.append((h, r, False, prev, need))
    alive: set[tuple[int, int, int]] = set()
    h_closures = head.closures
    r_closures: dict[tuple[int, int], set[tuple[int, int]]] = {}
    while todo:
        h, r, read, _prev, need = todo.pop()
        for hm, h2 in hd.edges[h]:
            now = read or h2 in variable
            h_next = h_closures.get(h2)
            if h_next is None:
                h_next = h_closures[h2] = hd.closure([h2])
            for rm, r2 in rx.edges[r]:
                mask = _needed(hm & rm, need)
                if not mask:
                    continue
                prev = _prev_of(mask)
                r_next = r_closures.get((r2, prev))
                if r_next is None:
                    r_next = r_closures[(r2, prev)] = rx.closure_at(r2, prev, _NEED_ANY)
                for rr, nd in r_next:
                    if now and rr == rx_end and _may_follow(hd, h_next, h_end, nd):
                        return Reach(rx, rx_end, True, frozenset())  # ends inside the head
                    if now and h_end in h_next:
                        alive.add((rr, prev, nd))  # past the head: the message decides the rest
                    for hh in h_next:
                        if (hh, rr, now, prev, nd) not in seen:
                            seen.add((hh, rr, now, prev, nd))
                            todo.append((hh, rr, now, prev, nd))
    return Reach(rx, rx_end, False, frozenset(alive))
