"""Apache error-log lines read once per message: the answer of ``classify_line`` kept per message,
proven the same for every time, process and client the head can hold.

``watch`` and ``classify`` ask ``errorlog.classify_line`` about each Apache line that holds one of
the catalog's needles: ~25-110 us a line in Python (the head cut, every program's rules searched
in the whole line, ``normalize``'s repairs; BENCHMARKS.md stop 44), where mtail only counts.  An
Apache log repeats few messages under heads that differ in every line (``[Wed Nov 25 09:32:33
.986462 2026] [proxy:error] [pid 31985:tid 31992] [client 10.1.2.3:40020] `` -- httpd's default
``ErrorLogFormat``, ``server/log.c`` ``do_errorlog_default()``: ``[%{u}t] [%-m:%l] [pid %P:tid
%T] ... [client %a] %M``).  This module keeps the answer per (the head's fixed part, whether a
client is named, the message), the time, the pid and tid and the client address left out: an
exact cache only if nothing ``classify_line`` asks can read them.  That is proven here, not sampled:

* every regex ``classify_line`` runs on a whole line (``_CHECKED``: every program's ``match``
  rules and ``unless``, the heads of the other programs, the nginx head found in the middle, the
  wrappers, the session tails, ``normalize``'s repairs) is run through ``headblind.
  can_start_inside`` against the head below: one that cannot read the time, the pid and tid or the
  client answers the same for every line of a key.  Those that can are rules finding ``502`` and
  the like before ``] Bad Gateway`` (a client port, pid or tid of ``502``: 43-44 of the rules,
  ``_error_memo_proof.py``); a line holding a needle of one of those rules goes the slow way,
  where the rule could read it (``_Plan.line_checks``); a regex asked of every line that can
  read the head sends the lines of a message that can complete its match the slow way (nginx's
  headless key, ``[^ ]+ could not be resolved``, after a pid or a client), and one that can end
  inside the head every line (none today: ``tests/classify/test_apache_fast.py`` fails when a
  catalog change adds one, or slows the path);
* the steps that are not regexes were read for it: ``wrappers.unwrap`` peels nothing from a line
  that starts ``[Day`` (its prefixes start with ``{``, ``"``, a digit, ``<``, a capital, a word,
  ``[`` and a digit or ``kernel``); Apache's own head (``heads.toml`` ``apache-error``) takes the
  pid and client peels exactly as written here and hands the rules the message; ``normalize``'s
  cut mark is read from the message's end (guarded: the message must hold text before it), its
  capital-start repair lowers the whole line (guarded: such a line, one with nginx's action
  ``while ... upstream``, goes the slow way); ``"/" in text`` (the session tails) and the
  ``"()"``/``"failed"`` checks see no such text in the masked parts (digits, ``.``, ``:``, hex,
  ``] [pid `` and ``:tid ``);
* the rules are asked only when one of their needles is in the line (``errorlog._gated_rules``);
  a needle found in the masked parts gates a rule that, when it cannot read them, matches only
  in the message, where the line it was cached from held the same text (the catalog's needle
  contract, ``PatternInfo.needles``, that the prefilters rely on too).

The answer kept is what ``watch`` counts (symptom and upstream of a failed request) and, for
``classify``, the record with its time and client (and a message that holds the whole line, its
head) taken from the line it describes.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import re
import sys
from collections import Counter
from dataclasses import replace
from functools import cache, lru_cache
from pathlib import Path
from types import ModuleType

from why502.catalog import patterns
from why502.parsers import errorlog, headblind, heads, normalize, wrappers
from why502.parsers.headblind import can_start_inside, lookbehind_width
from why502.parsers.linememo import SummaryRow
from why502.parsers.rule_search import Searcher
from why502.proxies.apache import _error_memo_proof as _apache_proof

__all__ = ["HEAD", "ApacheMemo", "checked_regexes", "hazards", "native_pass"]

_DAYS = "Mon|Tue|Wed|Thu|Fri|Sat|Sun"
_MONTHS = "Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec"
# the parts of the head, as the proof reads them: (regex, whether it changes from line to line);
# [0-9], not \d: Python's \d takes any Unicode digit, which Apache never writes
_TIME = rf"\[(?:{_DAYS}) (?:{_MONTHS}) [ 0-9][0-9] [0-9][0-9]:[0-9][0-9]:[0-9][0-9]\.[0-9]{{6}}"
_FIXED = r" [0-9]{4}\] \[[A-Za-z0-9_-]{1,32}:[a-z]{1,10}[0-9]?"
_PID = r"\] \[pid [0-9]{1,10}(?::tid [0-9]{1,20})?"
_CLIENT = r"\] \[client [0-9A-Fa-f.:]{1,64}"
HEAD = re.compile(
    rf"(?P<time>{_TIME})(?P<fixed>{_FIXED})(?P<pid>{_PID})"
    rf"(?:\] \[client (?P<client>[0-9A-Fa-f.:]{{1,64}}))?\] ")
"""httpd's default head (module doc): the time to the microsecond (masked), the year and
``[module:level`` (kept in the key: a year, a few modules and levels), ``] [pid N:tid M`` (masked:
a threaded MPM -- event, Debian's default -- writes each line under one of hundreds of pid and
tid pairs, and a key that held them saw most of a block's messages once: 1M lines of four
processes of 25 threads read 3.4x slower than the same lines under one, BENCHMARKS.md stop 74)
and the client (masked, optional)."""
_TAIL = "] "
# a whole line of HEAD's shape after the newline before it, its groups a key's parts (the fixed
# part, the client's "] [client " or "", the message to the line's end, no "\r": ``failure``
# strips it): a block's lines grouped by key in one pass over "\n" + the block
# (``ApacheMemo.failures``); the same parts as ``HEAD.match`` cuts them (the same regex up to the
# message, which takes any rest of the line).  The leading newline, not ``^`` and re.M: a
# literal start lets the regex engine skip to the next line (twice as fast)
_KEYED_LINES = 2048  # lines per findall: the strings of a whole 1 MiB block's matches were ~2 MB
_KEYED = re.compile(
    rf"\n{_TIME}({_FIXED}){_PID}(?:(\] \[client )[0-9A-Fa-f.:]{{1,64}})?\] ([^\r\n]*)(?![^\n])")
_NO_CLIENT: list[tuple[str, bool]] = [(_TIME, True), (_FIXED, False), (_PID, True)]
_WITH_CLIENT: list[tuple[str, bool]] = [(_TIME, True), (_FIXED, False), (_PID, True), (_CLIENT, True)]
_MEMO_MAX = 4096  # messages kept; past it the memo starts again (a log of ever new messages)

# (pattern, flags, anchored): a regex classify_line runs on a whole line
_Checked = tuple[str, int, bool]


def checked_regexes() -> list[tuple[str, _Checked]]:
    """Every regex ``classify_line`` runs on the whole of an Apache line but Apache's own head
    and rules (module doc), named for the proof's report: ``(name, (pattern, flags, anchored))``."""
    out: list[tuple[str, _Checked]] = []

    def add(name: str, rx: re.Pattern[str] | None, anchored: bool) -> None:
        if rx is not None:
            out.append((name, (rx.pattern, rx.flags, anchored)))

    for p in errorlog._match_rules().infos:
        if p.source == "apache":
            continue  # Apache's rules read the message the head leaves (heads.toml)
        # as written, not compiled (``errorlog.MatchRules``: compiled when a line asks them);
        # flags 0: a str pattern's are its inline ones, which the checker's parse reads the same
        out.append((f"rule {p.id}", (p.match or "", 0, False)))
        if p.unless:
            out.append((f"unless {p.id}", (p.unless, 0, False)))
    add("nginx head", errorlog._HEAD, True)
    add("nginx stderr", errorlog._stderr_re(), True)
    add("nginx partial head", errorlog._ENGINE_PARTIAL, False)
    add("nginx headless key", errorlog._headless_re(), False)
    for name in ("_JSON_MEMBER", "_CRI", "_PRI", "_SYSLOG_ISO", "_SYSLOG_5424", "_SYSLOG_BSD",
                 "_TS_PREFIX", "_COMPOSE", "_DMESG", "_KERNEL_TAG"):
        add(f"wrapper {name}", getattr(wrappers, name), True)
    for name in ("_FPM", "_FPM_BARE", "_GUNICORN", "_SUPERVISORD", "_PM2", "_UWSGI"):
        add(f"head {name}", getattr(heads, name), True)
    add("head _AUDIT", heads._AUDIT, False)
    add("head _SYSTEMD_UNIT", heads._SYSTEMD_UNIT, False)
    for shape_name, shape in heads._shapes().items():
        if shape_name == "apache-error":
            continue
        add(f"shape {shape_name}", shape.line, True)
        for i, rx in enumerate(shape.headless):
            add(f"shape {shape_name} headless {i}", rx, False)
    session = heads._session()
    for i, rx in enumerate(session.tails):
        add(f"session tail {i}", rx, False)
    add("session date", session.date, False)
    for name in ("_CONN", "_BOLD", "_QUOTED_ACTION", "_ACTION_STOP", "_SPACED_CALL", "_SPACED_UNIX",
                 "_SPACED_ERRNO", "_SPACED_ERRNO_CLOSE", "_INSIDE_TAIL", "_ERRNO_OPEN",
                 "_ACTION_ANY_CASE", "_BARE_ERRNO_ACTION"):
        add(f"normalize {name}", getattr(normalize, name), False)
    for name in ("_WRAPPED", "_FRAGMENT_WORKER", "_FRAGMENT_ERRNO", "_FRAGMENT_TEXT_ERRNO"):
        add(f"normalize {name}", getattr(normalize, name), True)
    return out


def _reads_head(check: _Checked, client: bool) -> bool:
    pattern, flags, anchored = check
    return can_start_inside(pattern, _WITH_CLIENT if client else _NO_CLIENT, _TAIL, flags, anchored)


def digest() -> str:
    """What the proof depends on, hashed: every checked regex (pattern, flags, how it is run), the
    head's parts, the checker's source and this module's.  The stored proof
    (``_error_memo_proof``) is used only for this very digest."""
    h = hashlib.sha256()
    for name, (pattern, flags, anchored) in checked_regexes():
        h.update(f"{name}\0{pattern}\0{flags}\0{anchored}\n".encode())
    h.update(repr((_NO_CLIENT, _WITH_CLIENT, _TAIL)).encode())
    # another Python may parse a regex otherwise (re._parser): its automata number their states
    # otherwise, and the stored states would be another automaton's
    h.update(sys.version.encode())
    h.update(Path(headblind.__file__).read_bytes())
    h.update(Path(__file__).read_bytes())  # this module's own proof steps
    return h.hexdigest()


_Alive = tuple[tuple[int, int, int], ...]
# (a regex's name, its states alive past the head, None: it can end inside it or is not modelled)
_Reached = tuple[tuple[str, "_Alive | None"], ...]
_Proof = tuple[_Reached, _Reached]


def _reach(check: _Checked, client: bool) -> _Alive | None:
    pattern, flags, anchored = check
    reach = headblind.head_reach(pattern, _WITH_CLIENT if client else _NO_CLIENT, _TAIL, flags, anchored)
    if reach is None or reach.ends_inside:
        return None
    return tuple(sorted(reach.alive))


def prove(client: bool) -> _Proof:
    """For a head with or without a client: (each rule that can read a masked part, with how its
    own regex can: the states it is alive in past the head, or None when it can end inside it;
    the same for the other regexes that can).  ``can_start_inside`` on every checked regex
    (~4 CPU-s a head)."""
    rules: dict[str, _Alive | None] = {}
    others: list[tuple[str, _Alive | None]] = []
    named = dict(checked_regexes())
    for name, check in named.items():
        if lookbehind_width(check[0], check[1]) > len(_TAIL):
            # a lookbehind reaching past "] " reads the head wherever its match starts: no line
            # check can tell, so no line of such a head is kept (none today; the tests say so)
            others.append((name, None))
            continue
        if not _reads_head(check, client):
            continue
        kind, _, rest = name.partition(" ")
        if kind in ("rule", "unless"):
            rules[rest] = _reach(named[f"rule {rest}"], client)
        else:
            others.append((name, _reach(check, client)))
    return tuple(rules.items()), tuple(others)


@lru_cache(maxsize=1)
def _current() -> bool:
    """Is the stored proof (and its automata) this very one (``digest``)?"""
    return digest() == _apache_proof.DIGEST


@lru_cache(maxsize=2)
def hazards(client: bool) -> _Proof:
    """``prove(client)``, read from the proof stored with the package when it was made from the
    same regexes and checker (``digest``), else worked out (the answer is the same; the stored
    one saves ~3 CPU-s a start).  ``tests/classify/test_apache_fast.py`` fails when the stored
    proof is stale: ``python -m why502.proxies.apache.error_memo >
    src/why502/proxies/apache/_error_memo_proof.py``."""
    if _current():
        stored: _Proof = _apache_proof.WITH_CLIENT if client else _apache_proof.NO_CLIENT
        return stored
    return prove(client)


def proof_source() -> str:
    """The text of ``_error_memo_proof.py`` for the catalog and checker as they are (each proof
    worked out once: the automata are built from the same two, ~4 CPU-s each)."""
    proofs = {False: prove(False), True: prove(True)}
    return (
        "# ruff: noqa: E501\n"
        '"""The proof of ``proxies.apache.error_memo``, stored: which regexes can read the masked parts of\n'
        "Apache's head and how (``error_memo.prove``), for the regexes and checker whose digest this\n"
        'is.  Written by ``python -m why502.proxies.apache.error_memo``; never edit by hand."""\n\n'
        "from typing import Any\n\n"
        f"DIGEST = {digest()!r}\n"
        f"NO_CLIENT: Any = {_lines(proofs[False])}\n"
        f"WITH_CLIENT: Any = {_lines(proofs[True])}\n"
        f"{_automata_source(proofs)}"
    )


# a stored automaton of a reach (``_Plan``): (end, edges as (mask index, next state), next states
# without a character, assertions, alive states) -- headblind.Reach of its pruned _Nfa
_Stored = tuple[int, tuple[tuple[tuple[int, int], ...], ...], tuple[tuple[int, ...], ...],
                tuple[tuple[int, int, int], ...], tuple[tuple[int, int, int], ...]]


def _automata(proofs: dict[bool, _Proof]) -> tuple[list[int], dict[str, dict[str, _Stored]]]:
    """The pruned automata of every reach the plans use (``_rebuilt``: ~0.2 CPU-s to build at
    each start, the regexes compiled into their automata in Python), by head shape and regex
    name, with their character masks in one table; ``proofs``: ``prove`` of each head."""
    masks: dict[int, int] = {}
    out: dict[str, dict[str, _Stored]] = {}
    named = dict(checked_regexes())
    for shape, client in (("no_client", False), ("with_client", True)):
        rules, others = proofs[client]
        kept: dict[str, _Stored] = {}
        for name, alive in (*((f"rule {rid}", a) for rid, a in rules), *others):
            reach = _rebuilt(named[name], alive)
            if reach is None or reach is _NEVER:
                continue
            nfa = reach.nfa
            edges = tuple(tuple((masks.setdefault(mask, len(masks)), t) for mask, t in e) for e in nfa.edges)
            kept[name] = (reach.end, edges, tuple(tuple(e) for e in nfa.eps),
                          tuple(sorted((a, b, c) for (a, b), c in nfa.cond.items())),
                          tuple(sorted(reach.alive)))
        out[shape] = kept
    return list(masks), out


def _automata_source(proofs: dict[bool, _Proof]) -> str:
    table, shapes = _automata(proofs)
    lines = ["MASKS: Any = ("]
    lines.extend(f"    {m!r}," for m in table)
    lines.append(")")
    for shape, kept in shapes.items():
        lines.append(f"AUTOMATA_{shape.upper()}: Any = {{")
        lines.extend(f"    {name!r}: {stored!r}," for name, stored in kept.items())
        lines.append("}")
    return "\n".join(lines) + "\n"


def _stored_reach(name: str, client: bool) -> headblind.Reach | None:
    """The stored automaton of the reach of ``name`` (``_automata``), when the stored proof is
    this very one (``digest``): the same as ``_rebuilt`` gives, without building it again."""
    if not _current():
        return None
    kept = getattr(_apache_proof, "AUTOMATA_WITH_CLIENT" if client else "AUTOMATA_NO_CLIENT", {})
    stored = kept.get(name)
    if stored is None:
        return None
    end, edges, eps, cond, alive = stored
    masks = _apache_proof.MASKS
    nfa = headblind._Nfa()
    nfa.edges = [[(masks[k], t) for k, t in e] for e in edges]
    nfa.eps = [list(e) for e in eps]
    nfa.cond = {(a, b): c for a, b, c in cond}
    return headblind.Reach(nfa, end, False, frozenset(alive))


def _lines(proof: _Proof) -> str:
    """``proof`` as Python text, one regex a line (the stored proof stays readable and diffable)."""
    parts = ["("]
    for reached in proof:
        parts.append("    (")
        parts.extend(f"        {item!r}," for item in reached)
        parts.append("    ),")
    parts.append(")")
    return "\n".join(parts)


_Rx = tuple[Searcher, ...]
_LineCheck = tuple[tuple[str, ...], _Rx]  # (needles: asked when the line holds one, regexes)


class _Plan:
    """How lines of one head shape (with or without a client) are checked (module doc)."""

    def __init__(self, client: bool) -> None:
        rules, others = hazards(client)
        rules_of = errorlog._match_rules()
        by_id = {p.id: i for i, p in enumerate(rules_of.infos)}
        named = dict(checked_regexes())
        # each rule that can read a masked part: its needles, its place among the rules (its
        # regexes compiled when a message asks them: errorlog.MatchRules) and its own regex's reach
        self.rules_of = rules_of
        self.rules: list[tuple[tuple[str, ...], int, headblind.Reach | None]] = []
        self.usable = True
        for rid, alive in rules:
            p = rules_of.infos[by_id[rid]]
            if not p.needles:
                self.usable = False  # never the case today (the tests say so): no needle to gate on
            self.rules.append((p.needles, by_id[rid], _reach_of(f"rule {rid}", named, alive, client)))
        self.others: list[headblind.Reach] = []
        for name, alive in others:
            reach = _reach_of(name, named, alive, client)
            if reach is None:
                self.usable = False  # a regex asked of every line that can read inside the head
            else:
                self.others.append(reach)

    def line_checks(self, text: str, m: re.Match[str]) -> tuple[_LineCheck, ...] | None:
        """For a key's first line: what must be asked of each line of the key (a rule whose regex
        can read a masked part in this message, or that matches this message and whose
        ``unless`` can); None: a regex asked of every line can complete a match begun in a
        masked part in this message (no line of the key is kept)."""
        message = text[m.end():]
        if any(reach.completes(message) for reach in self.others):
            return None
        last = m.end() - len(_TAIL)
        low = text.lower()
        out: list[_LineCheck] = []
        for needles, at, reach in self.rules:
            if reach is None or reach.completes(message):
                _p, rx, unless = self.rules_of[at]
                out.append((needles, (rx,) if unless is None else (rx, unless)))
                continue
            # the rule's own regex matches in the message alone, the same on every line of the key;
            # a line it matches holds one of its needles (the catalog's contract, ``PatternInfo.
            # needles``): without one it is not searched (~60 searches, ~1.2 ms a message)
            if not any(n in low for n in needles):
                continue
            _p, rx, unless = self.rules_of[at]
            hit = rx.search(text)
            if hit is not None and hit.start() < last:
                return None  # cannot be: the proof says otherwise; keep nothing rather than guess
            if hit is not None and unless is not None:
                out.append((needles, (unless,)))
        return tuple(out)


_NEVER = headblind.Reach(headblind._Nfa(), -1, False, frozenset())  # completes nothing


def _reach_of(name: str, named: dict[str, _Checked], alive: _Alive | None,
              client: bool) -> headblind.Reach | None:
    """``_rebuilt``, from the stored automaton when there is one (``_stored_reach``)."""
    if alive:
        stored = _stored_reach(name, client)
        if stored is not None:
            return stored
    return _rebuilt(named[name], alive)


def _rebuilt(check: _Checked, alive: _Alive | None) -> headblind.Reach | None:
    """The stored reach of a regex with its automaton (built again: the states are numbered the
    same way for the same regex and checker, which the digest holds)."""
    if alive is None:
        return None
    if not alive:
        return _NEVER  # cannot run on into the message: no automaton to keep
    pattern, flags, _anchored = check
    nfa, _start, end = headblind._compile(pattern, flags)
    return headblind.Reach(nfa, end, False, frozenset(alive)).pruned()


def _reads_masked(text: str, m: re.Match[str], checks: tuple[_LineCheck, ...]) -> bool:
    """Whether a rule asked of this line (one of its needles is in it, ``errorlog._gated_rules``)
    reads a masked part: a match of its regex or ``unless`` starts before the head's closing
    ``]``."""
    low = text.lower()
    last = m.end() - len(_TAIL)
    for needles, regexes in checks:
        if not any(n in low for n in needles):
            continue
        for rx in regexes:
            hit = rx.search(text)
            if hit is not None and hit.start() < last:
                return True
    return False


@lru_cache(maxsize=2)
def _plan(client: bool) -> _Plan:
    return _Plan(client)


class _Entry:
    """A kept answer: the record of the line it was read from (None: no failure), the fields of
    it that came from the masked parts (``time``, ``client``, ``message``), and what is asked of
    each line of the key (``_Plan.line_checks``)."""

    __slots__ = ("checks", "rec", "varying")

    def __init__(self, rec: errorlog.Classified | None, varying: tuple[str, ...],
                 checks: tuple[_LineCheck, ...]) -> None:
        self.rec = rec
        self.varying = varying
        self.checks = checks


_MISSING = _Entry(None, (), ())  # a key not seen yet (compared by identity)
_ONCE = _Entry(None, (), ())  # a key seen once


@cache
def _module() -> ModuleType | None:
    """The native pass (``_apachescan.c``), when it was built (``setup.py``)."""
    try:
        return importlib.import_module("why502.proxies.apache._apachescan")
    except ImportError:
        return None


def native_pass() -> ModuleType | None:
    """The native pass, unless it is turned off (``WHY502_NATIVE=0``)."""
    return None if os.environ.get("WHY502_NATIVE", "1") == "0" else _module()


class ApacheMemo:
    """``classify_line``'s answer for Apache lines, kept per key (module doc); a line of another
    shape, or one the proof does not cover, is read by ``classify_line`` itself."""

    def __init__(self) -> None:
        self._memo: dict[tuple[str, bool, str], _Entry | None] = {}
        self.hits = 0
        self.slow = 0

    def classify(self, line: str, year: int = 1970) -> errorlog.Classified | None:
        """``errorlog.classify_line(line, year)``: the same record (``year`` reads BSD syslog
        stamps alone, which no line this module keeps can start with)."""
        text = line.rstrip("\r\n")
        m = HEAD.match(text)
        entry = self._entry(text, m) if m is not None else None
        if entry is None or m is None:
            self.slow += 1
            return errorlog.classify_line(line, year=year)
        self.hits += 1
        if entry.rec is None or not entry.varying:
            return entry.rec
        return _retold(entry.rec, entry.varying, m)

    def failure(self, line: str) -> tuple[str, str | None] | None:
        """``watch``'s count of the line: (symptom, upstream) of a failed request, None when the
        line is none (``classify_line`` finds nothing, or a rule without a status)."""
        text = line.rstrip("\r\n")
        m = HEAD.match(text)
        entry = self._entry(text, m) if m is not None else None
        if entry is None:
            self.slow += 1
            rec = errorlog.classify_line(line)
        else:
            self.hits += 1
            rec = entry.rec
        if rec is None or rec.status is None:
            return None
        return rec.symptom, rec.upstream

    def failures(self, lines: list[str]) -> Counter[tuple[str, str | None]]:
        """``failure`` of each line, counted: the lines of a key grouped in one regex pass over
        the block (``_KEYED``: the head's parts as ``HEAD.match`` cuts them), each key's answer
        then taken once for all its lines; a line of a key read the slow way (not kept, seen once,
        or with checks of its own: ``_entry``), or that ``_KEYED`` does not take (another
        shape, a ``\r``), goes through ``failure`` itself.  Per line, ``failure`` cost ~2 us of
        Python where mtail only counts (BENCHMARKS.md stop 52)."""
        out: Counter[tuple[str, str | None]] = Counter()
        slow: set[tuple[str, bool, str]] = set()
        taken = 0
        keys: Counter[tuple[str, str, str]] = Counter()
        for k in range(0, len(lines), _KEYED_LINES):  # a slice at a time: its matches' strings
            keys.update(_KEYED.findall("\n" + "\n".join(lines[k:k + _KEYED_LINES])))  # (the RSS)
        for (fixed, client, message), n in keys.items():
            key = (fixed, bool(client), message)
            answer = self.kept(key, n)
            if answer is None:
                slow.add(key)
                continue
            taken += n
            self._count(answer[0], n, out)
        if taken == len(lines):
            return out
        for line in lines:
            m = HEAD.match(line)
            if (m is not None and "\r" not in line
                    and (m.group("fixed"), m.group("client") is not None, line[m.end():]) not in slow):
                continue  # counted with its key above
            got = self.failure(line)
            if got is not None:
                out[got] += 1
        return out

    def failures_of_block(self, data: bytes) -> tuple[Counter[tuple[str, str | None]], bytes]:
        """``failures`` of a block's lines in one native pass (``_apachescan.apache_keys``: the
        keys ``_KEYED`` cuts, counted, the other lines handed back), each key's answer taken
        once.  When some key's lines must be read one by one (not kept, seen once, checks of
        their own) -- in a real log, a block mostly holds a message seen once: a path of its own
        in ``AH00128: File does not exist`` -- a second pass (``apache_groups``, each line's key)
        hands back only those keys' lines (``apache_back``), with the lines of no key, for
        ``failures``: the whole block went back before, and was read line by line.
        Without the pass (not built, ``WHY502_NATIVE=0``) every line goes back."""
        native = native_pass()
        if native is None:
            return Counter(), data
        keys, back = native.apache_keys(data)
        out: Counter[tuple[str, str | None]] = Counter()
        usable = []
        for key, n in keys.items():
            got = self.kept(key, n)
            usable.append(got is not None)
            if got is not None:
                self._count(got[0], n, out)
        if all(usable):
            return out, back
        if not any(usable) or not hasattr(native, "apache_groups"):
            return Counter(), data
        _groups, rows, _lines = native.apache_groups(data)  # (its keys are apache_keys', in order)
        return out, native.apache_back(data, rows, bytes(usable))

    def summary_of_block(self, data: bytes) -> tuple[list[SummaryRow], bytes]:
        """``LineMemo.summary_of_block``: the keys of a block's lines in one native pass
        (``_apachescan.apache_groups``: ``apache_keys``' keys, with the least and greatest time of
        their lines as ``_retold`` writes a line's time), each key's record taken once
        (``_keyed``), and a summary row per key with a record: its symptom, status, source and
        upstream are the kept record's (the masked parts reach only ``time``, ``client`` and
        ``message``: ``_learn``), its first and last time its lines' least and greatest when the
        time is the head's, else the record's own.  The lines of a key read one by one (not
        kept, seen once, checks of their own, or a record of nginx's source, whose upstream the
        summary cuts to its peer) go back (``_apachescan.apache_back``), with the lines the pass
        does not take; without the pass every line goes back.  Before, each of these lines was
        read one at a time by the per-line path: 1M lines of a benign httpd error log 11.3 CPU-s,
        now 1.4 (BENCHMARKS.md stop 74)."""
        native = native_pass()
        if native is None or not hasattr(native, "apache_groups"):
            return [], data
        groups, rows, _lines = native.apache_groups(data)
        want = bytearray(len(groups))
        out: list[SummaryRow] = []
        nginx = patterns.families().phrase
        for k, (key, n, least, most) in enumerate(groups):
            got = self.kept(key, n)
            if got is None or (got[0] is not None and got[0].source == nginx):
                continue
            want[k] = 1
            self.hits += n
            rec, varying = got
            if rec is not None:
                first, last = (least, most) if "time" in varying else (rec.time, rec.time)
                out.append((rec.symptom, rec.status, rec.source, rec.upstream, n, first, last))
        if not any(want):
            return [], data
        return out, native.apache_back(data, rows, bytes(want))

    def reads_first(self, data: bytes) -> bool:
        """``LineMemo.reads_first``: a block that starts as httpd's error lines do (``[`` and a
        day's first letter).

        Why it may: the lines ``failures_of_block``'s pass takes (``_apachescan.c``: ASCII, no
        CR, starting ``[Www Mmm dd hh:mm:ss.uuuuuu yyyy] [``) are lines nginx's scanner hands
        back whole -- no nginx head; no access request line (``clf_request`` wants three tokens
        before the ``[``); no layer that ``unwrap_at`` strips (a ``[`` opens only kubectl's
        ``[pod/`` and dmesg's ``[ 12.3]``) or that ``unwrap_once`` does (a ``{`` or a digit
        first) -- and lines no proxy's fold takes (HAProxy's sessions start with a client, a
        ``<PRI>`` or a syslog stamp).  So ``watch``'s counts, and the order of their keys, are
        the same whichever reads first (``tests/watch/test_watch_errorscan.py``).  Why it
        should: the scanner then neither reads those lines nor copies them back out, nor the
        counter the block after it -- 1M Apache lines on one core, 0.5M -> 1.9-2.4M lines per
        CPU-second (BENCHMARKS.md stop 73).  A block that starts otherwise goes the usual way:
        the pass would copy most of a block of nginx's lines back for nothing, also behind
        ``kubectl logs --prefix`` (``[pod/``) or dmesg's stamp (``[ 12.3]``)."""
        return data[:1] == b"[" and data[1:2] in (b"M", b"T", b"W", b"F", b"S")

    def _count(self, rec: errorlog.Classified | None, n: int, out: Counter[tuple[str, str | None]]) -> None:
        """``n`` lines of a key answered by its kept record ``rec`` (None: none): a failed
        request's (symptom, upstream) counted in ``out``."""
        self.hits += n
        if rec is not None and rec.status is not None:
            out[(rec.symptom, rec.upstream)] += n

    def kept(self, key: tuple[str, bool, str], n: int,
             ) -> tuple[errorlog.Classified | None, tuple[str, ...]] | None:
        """The answer ``classify_line`` gives every line of ``key`` (found on ``n`` lines of a
        block by the native pass): the record of the line it was learnt on (None: no record) and
        which of its fields each line's masked parts write (``time``, ``client``, ``message``:
        ``_retold``); None when the key's lines must be read one by one (``_keyed``: a key seen
        once, not kept, or with checks of its own)."""
        entry = self._keyed(key, n)
        if entry is None or entry.checks:
            return None
        return entry.rec, entry.varying

    def _keyed(self, key: tuple[str, bool, str], n: int) -> _Entry | None:
        """The kept answer of a key ``failures`` found on ``n`` lines of a block, learnt on a line
        of that key (its time, pid and client are masked: any of them proves the same), None: its
        lines are read one by one (``_entry`` decides; a key seen on one line only is left to it,
        as a message seen once is)."""
        got = self._memo.get(key, _MISSING)
        if got is _MISSING and n < 2:
            return None
        if got is _MISSING or got is _ONCE:
            fixed, client, message = key
            text = _head(_OTHER_TIME[0], fixed, _OTHER_PID[0], _OTHER_CLIENT[0] if client else None) + message
            m = HEAD.match(text)
            if (m is None or m.group("fixed") != fixed or (m.group("client") is not None) != client
                    or text[m.end():] != message):
                return None
            if got is _MISSING and len(self._memo) >= _MEMO_MAX:
                self._memo.clear()
            got = self._memo[key] = _learn(text, m)
        return got

    def _entry(self, text: str, m: re.Match[str]) -> _Entry | None:
        """The kept answer for ``text`` (read and kept on first sight), None: read it the slow way."""
        client = m.group("client") is not None
        key = (m.group("fixed"), client, text[m.end():])
        got = self._memo.get(key, _MISSING)
        if got is _MISSING:
            # a message seen once is read the slow way: learning it costs ~3 readings, which a
            # log of ever new messages (a path in each) would pay on every line
            if len(self._memo) >= _MEMO_MAX:
                self._memo.clear()
            self._memo[key] = _ONCE
            return None
        if got is _ONCE:
            got = self._memo[key] = _learn(text, m)
        if got is None:
            return None
        if got.checks and _reads_masked(text, m, got.checks):
            return None  # this line's time or client may change the answer
        return got


def _learn(text: str, m: re.Match[str]) -> _Entry | None:
    """Read a key's first line and the same line under another time and client: the fields that
    differ are the masked parts' (each checked to be exactly what this module puts back); None
    (the key's lines go the slow way) when the proof does not cover them or anything else
    differs."""
    client = m.group("client")
    plan = _plan(client is not None)
    if not plan.usable or not _cacheable(text[m.end():]):
        return None
    if normalize.normalize(text).changed:
        return None  # read twice by classify_line, the second time as repaired: not kept
    checks = plan.line_checks(text, m)
    if checks is None:
        return None
    other_time = _OTHER_TIME[m.group("time") == _OTHER_TIME[0]]
    other_pid = _OTHER_PID[m.group("pid") == _OTHER_PID[0]]
    other_client = None if client is None else _OTHER_CLIENT[client == _OTHER_CLIENT[0]]
    other = _head(other_time, m.group("fixed"), other_pid, other_client) + text[m.end():]
    om = HEAD.match(other)
    if om is None or _reads_masked(text, m, checks) or _reads_masked(other, om, checks):
        return None
    rec = errorlog.classify_line(text)
    alt = errorlog.classify_line(other)
    if rec is None or alt is None:
        return _Entry(None, (), checks) if rec is None and alt is None else None
    varying = tuple(f for f in _FIELDS if getattr(rec, f) != getattr(alt, f))
    if not set(varying) <= {"time", "client", "message"}:
        return None
    for got, hm in ((rec, m), (alt, om)):
        want = _retold(rec, varying, hm)
        if any(getattr(want, f) != getattr(got, f) for f in varying):
            return None  # a masked part reached the record some other way: not kept
    return _Entry(rec, varying, checks)


_FIELDS = ("source", "symptom", "status", "time", "level", "upstream", "client", "server", "request",
           "host", "message", "pattern", "captures", "event", "side")
_OTHER_TIME = ("[Sun Jan  1 00:00:00.000000", "[Mon Feb 22 11:11:11.111111")
_OTHER_CLIENT = ("192.0.2.1:1", "198.51.100.2:2")
# with a tid and without: a prefork MPM's head has none (the proof covers both, ``_PID``)
_OTHER_PID = ("] [pid 7:tid 11", "] [pid 29")


def _head(time: str, fixed: str, pid: str, client: str | None) -> str:
    return time + fixed + pid + ("" if client is None else "] [client " + client) + _TAIL


def _retold(rec: errorlog.Classified, varying: tuple[str, ...], m: re.Match[str]) -> errorlog.Classified:
    """``rec`` (kept from another line of its key) for the line ``m`` read: its time is the head's
    (``heads._ctime_time``, as Apache's shape converts it), its client the head's, and a message
    that held the whole line holds this line's head instead."""
    change: dict[str, str | None] = {}
    if "time" in varying:
        change["time"] = heads._ctime_time(m.group("time")[1:] + m.group("fixed")[:5])
    if "client" in varying:
        change["client"] = m.group("client")
    if "message" in varying:
        was = HEAD.match(rec.message)
        change["message"] = m.group(0) + rec.message[was.end():] if was is not None else None
    return replace(rec, **change)  # type: ignore[arg-type]


def _cacheable(message: str) -> bool:
    """Whether the message lets the proof hold (module doc): the line as written is the line the
    rules read (no ``\\"`` or trailing ``\\n`` that ``wrappers.unwrap`` rewrites, nothing
    ``normalize`` repairs: a repaired line is read a second time, its needles other than the
    line's), and the message is text, not spaces or a bare cut mark."""
    if not message or message[0].isspace() or "\n" in message:
        return False
    if '\\"' in message or message.endswith("\\n"):
        return False
    return normalize._cut_at(message) != 0 and normalize._ACTION_ANY_CASE.search(message) is None


if __name__ == "__main__":  # pragma: no cover - writes the stored proof
    print(proof_source(), end="")
