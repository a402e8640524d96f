"""Apache's error lines read once per message (``proxies.apache.error_memo``, reached through
``parsers.linememo``): the same records as the
per-line recogniser, and the proof behind it current and sound.

``ApacheMemo.classify`` must give ``errorlog.classify_line``'s record for every line, whatever its
head holds: the recorded Apache logs of ``tests/fixtures``, the field corpus and public lines, the
bench's two shapes, and the same lines with their time, pid, tid and client changed, hostile
ones among them (a client port or tid ``502`` before a message that a 502 rule reads: the lines
a cache keyed on the masked line would get wrong, BENCHMARKS.md stop 50).  One memo reads them
all, each twice, so most answers come from the memo, not from a first reading.
"""

from __future__ import annotations

import random
import sys
from collections import Counter
from functools import cache
from pathlib import Path

import pytest

from tests.classify.test_classify_one_recogniser import LINES
from tests.support.paths import FIXTURES_DIR
from why502.parsers import headblind
from why502.parsers.errorlog import Classified, classify_line
from why502.proxies.apache import error_memo as apache_fast
from why502.proxies.apache.error_memo import HEAD, ApacheMemo

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
import watch_bench  # noqa: E402  (the bench's line makers: the shapes it measures)

HEAD_LINE = "[Mon Nov 23 09:32:33.986462 2026] [proxy:error] [pid 31985:tid 31992] "
CLIENT_LINE = "[Mon Nov 23 09:32:33.986462 2026] [ssl:info] [pid 31985:tid 31992] [client 10.1.2.3:4020] "
# messages that rules of other programs read when a number stands before them (the hazards)
HOSTILE_MESSAGES = [
    "Bad Gateway from the origin",
    "errors from the backend",
    "Service Unavailable",
    "s from the proxy",
    "Gateway Time-out while reading",
    "upstream connect error or disconnect/reset before headers. reset reason: connection failure",
    "AH01097: upstream timed out (110: Connection timed out) while reading response header from upstream",
    "AH00957: http: attempt to connect to 10.0.0.1:502 (10.0.0.1:502) failed",
    "(111)Connection refused: AH00957: http: attempt to connect to 10.0.0.1:8080 (10.0.0.1:8080) failed",
    "AH01964: Connection to child 7 established (server shop:443)",
    "worker_connections are not enough",
    "connect() failed (111: Connection refused) while connecting to upstream, client: 10.0.0.1",
    "AH01071: Got error 'PHP message: PHP Fatal error:  Uncaught Error in /var/www/x.php:3'",
    "502",
    "no healthy upstream",
    "code 520 Origin error",
]


def _recorded_apache_lines() -> list[str]:
    out = []
    for p in sorted(FIXTURES_DIR.rglob("*")):
        if not p.is_file() or p.suffix in (".json", ".toml", ".conf", ".yaml", ".yml", ".gz"):
            continue
        try:
            text = p.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        if "[pid " not in text:
            continue
        out.extend(t for t in text.splitlines() if t.startswith("[") and "[pid " in t)
    return out


def _variants(line: str, rng: random.Random) -> list[str]:
    """``line`` with its time, pid, tid and client changed (a port or tid like 502 among them)."""
    m = HEAD.match(line)
    if m is None:
        return []
    rest = line[m.end():]
    out = []
    for _ in range(4):
        day = rng.choice(["Mon", "Tue", "Sun"])
        mon = rng.choice(["Jan", "Nov", "Dec"])
        dd = rng.choice([" 1", "09", "23", "30"])
        clock = f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}"
        micro = rng.choice(["502000", "000502", f"{rng.randrange(10 ** 6):06d}", "520526"])
        year = rng.choice(["2026", "2025"])
        tid = rng.choice(["502", "503", str(rng.randrange(1, 10 ** 6))])
        pid = rng.choice(["502", m.group("pid")[7:].partition(":")[0], str(rng.randrange(1, 10 ** 6))])
        # the pid and tid are masked too (a threaded MPM's hundreds of pairs); a prefork's has no tid
        tail = rng.choice([f":tid {tid}", ""]) if ":tid " in m.group("pid") else ""
        head = f"[{day} {mon} {dd} {clock}.{micro} {year}]{m.group('fixed')[6:]}] [pid {pid}{tail}"
        port = rng.choice(["502", "5021", "40020", "1016", str(rng.randrange(1, 65536))])
        client = rng.choice([None, f"10.1.{rng.randrange(256)}.{rng.randrange(256)}:{port}",
                             f"fe80::1:{port}"])
        out.append(head + ("" if client is None else f"] [client {client}") + "] " + rest)
    return out


def _all_lines() -> list[str]:
    rng = random.Random(50)
    base = _recorded_apache_lines()
    base += [t.replace("\n", " ").replace("\r", " ") for t in LINES]
    base += [watch_bench._apache(rng, i, dense=d).rstrip("\n") for i in range(200) for d in (False, True)]
    base += [HEAD_LINE + msg for msg in HOSTILE_MESSAGES] + [CLIENT_LINE + msg for msg in HOSTILE_MESSAGES]
    lines = []
    for line in base:
        lines.append(line)
        lines.extend(_variants(line, rng))
    return lines


@cache
def lines_all() -> list[str]:
    """``_all_lines``, made once by the worker that runs this file (at import, each of the
    suite's six workers made them and their records to collect it: ~1.5 CPU-s each)."""
    return _all_lines()


@cache
def reference() -> list[Classified | None]:
    """The per-line recogniser's records of ``lines_all()``, once."""
    return [classify_line(t) for t in lines_all()]


def test_the_lines_are_mixed_enough_to_tell() -> None:
    recorded = _recorded_apache_lines()
    assert len(recorded) >= 50
    assert len({r.symptom for r in reference() if r is not None}) >= 10
    # the hazard the proof is about is among them: the same message, a different client port
    a = classify_line(CLIENT_LINE.replace(":4020]", ":502]") + "Bad Gateway from the origin")
    b = classify_line(CLIENT_LINE + "Bad Gateway from the origin")
    assert a is not None and b is None


def test_the_memo_gives_classify_lines_records() -> None:
    memo = ApacheMemo()
    for _round in range(2):
        for line, want in zip(lines_all(), reference()):
            assert memo.classify(line) == want, line
    # the comparison is about the memo's answers, not first readings
    assert memo.hits > len(lines_all()) // 2


def test_watch_counts_what_the_per_line_path_counts() -> None:
    memo = ApacheMemo()
    for line, c in list(zip(lines_all(), reference())) * 2:
        want = None if c is None or c.status is None else (c.symptom, c.upstream)
        assert memo.failure(line) == want, line


def test_the_client_port_hazard_is_caught_line_by_line() -> None:
    """A key first seen with a harmless port, then with ``:502``: the second line is read again."""
    memo = ApacheMemo()
    msg = "Bad Gateway from the origin"
    for port in ("4020", "4021", "4022"):  # seen, learnt, then answered from the memo
        assert memo.classify(CLIENT_LINE.replace(":4020]", f":{port}]") + msg) is None
    assert memo.hits >= 1
    got = memo.classify(CLIENT_LINE.replace(":4020]", ":502]") + msg)
    assert got is not None and got.pattern == "http-reply-told-502"
    assert memo.classify(CLIENT_LINE.replace(":4020]", ":4023]") + msg) is None


def test_the_proof_covers_both_heads() -> None:
    """Every rule that can read a masked part has needles to be asked by, and no regex asked of
    every line can end a match inside the head: else the memo would keep nothing (speed)."""
    for client in (False, True):
        assert apache_fast._plan(client).usable
    for client in (False, True):
        rules, others = apache_fast.hazards(client)
        # a pid, a tid or a client's port of 502 (only "[pid" and digits before "] " without a client)
        assert "http-reply-told-502" in dict(rules)
        # and a message that starts "could not be resolved" after a pid of "1]" (nginx's headless
        # key, ``[^ ]+ could not be resolved``): no other regex asked of every line reads the head
        assert [name for name, _alive in others] == ["nginx headless key"]


def test_the_stored_proof_is_current() -> None:
    """The catalog or the checker changed without the proof: run
    ``python -m why502.proxies.apache.error_memo > src/why502/proxies/apache/_error_memo_proof.py``
    (and read the
    diff: a new rule that can read the head costs a check per line)."""
    stored = (Path(apache_fast.__file__).parent / "_error_memo_proof.py").read_text(encoding="utf-8")
    assert apache_fast.proof_source() == stored


NO_CLIENT = apache_fast._NO_CLIENT
WITH_CLIENT = apache_fast._WITH_CLIENT
TIME_ONLY = NO_CLIENT[:2]  # the time and the fixed part: the checker on the time alone


@pytest.mark.parametrize(("pattern", "parts", "can"), [
    (r"\d+\] Bad", WITH_CLIENT, True),           # the client's port before "] "
    (r"attempt to connect to", WITH_CLIENT, False),
    (r"\[proxy:error\b", NO_CLIENT, False),     # fixed text only: the same on every line of a key
    (r"\bpid\b", NO_CLIENT, True),               # the pid and tid are masked: "[pid" is theirs
    (r"\btid 50[234]\b", NO_CLIENT, True),       # a tid of 502
    (r"\d{6} ", NO_CLIENT, True),                # the microseconds
    (r"5\d\d", NO_CLIENT, True),                 # inside the microseconds
    (r"\b5\d\d\b", TIME_ONLY, False),            # a 3-digit number: none in the time
    (r"\b5\d\d\b", NO_CLIENT, True),             # ... but a pid or tid can be one
    (r"(?:^|[^0-9A-Za-z_])502\W{0,3}Bad", TIME_ONLY, False),
    (r"(?:^|[^0-9A-Za-z_])502\W{0,3}Bad", NO_CLIENT, True),  # "[pid 502] Bad"
    (r"(?:^|[^0-9A-Za-z_])502\W{0,3}Bad", WITH_CLIENT, True),
    (r"^\[", NO_CLIENT, True),                   # the line's first character is the time's
    (r"(?i)JAN", NO_CLIENT, True),               # the month, in any case
    (r"(\d)\1", NO_CLIENT, True),                # a back-reference: taken as anything
    (r"\b502\b", WITH_CLIENT, True),             # ":502]": a word boundary on each side
    (r"\B502\b", WITH_CLIENT, True),             # "45021" holds no such; "1502]" does
    (r"\b\d{3}\b", TIME_ONLY, False),            # hh, mm, ss, dd: two digits; micro: six
    (r"\d\.\d{6} ", NO_CLIENT, True),
])
def test_the_checker_sees_what_a_head_can_hold(
    pattern: str, parts: list[tuple[str, bool]], can: bool,
) -> None:
    assert headblind.can_start_inside(pattern, parts, "] ") is can


def test_a_reach_completes_only_on_a_message_that_continues_it() -> None:
    reach = headblind.head_reach(r"\d+\] Bad Gateway", WITH_CLIENT, "] ")
    assert reach is not None and not reach.ends_inside and reach.alive
    assert reach.completes("Bad Gateway from x")
    assert not reach.completes("Connection to child 7 established")


# -- a block's lines counted at once (ApacheMemo.failures: watch's error-log counter) -----------

def _want(lines: list[str]) -> Counter[tuple[str, str | None]]:
    """What the per-line recogniser counts of ``lines`` (``PlainMemo.failures``)."""
    from why502.parsers.linememo import PlainMemo

    return PlainMemo().failures(lines)


def _bent_blocks(rng: random.Random) -> list[list[str]]:
    """Blocks of the corpus cut at random, the lines of a key spread across blocks and repeated
    (a key seen once in a block, then in many), with lines the block regex must leave to the
    per-line path: a ``\\r`` (at the end, inside), the head's other shapes, a client port 502
    before a message a 502 rule reads, non-ASCII, a head cut short."""
    odd = [CLIENT_LINE + "Bad Gateway from the origin\r", HEAD_LINE + "Bad\rGateway",
           CLIENT_LINE.replace(":4020]", ":502]") + "Bad Gateway from the origin",
           CLIENT_LINE.replace(":4020]", ":502]") + "Bad Gateway from the origin",
           CLIENT_LINE + "Bad Gateway from the origin", CLIENT_LINE + "Bad Gateway from the origin",
           HEAD_LINE + "AH01071: Got error 'PHP message: é'", HEAD_LINE[:30] + " upstream timed out",
           HEAD_LINE.replace("[pid 31985:tid 31992]", "[pid 31985]") + HOSTILE_MESSAGES[8],
           CLIENT_LINE.replace("10.1.2.3:4020", "x") + HOSTILE_MESSAGES[8], HEAD_LINE, CLIENT_LINE]
    pool = lines_all() + odd * 20
    blocks = []
    for _ in range(60):
        start = rng.randrange(len(pool))
        block = pool[start:start + rng.randrange(1, 400)]
        block += rng.choices(odd + lines_all()[:200], k=rng.randrange(0, 40))
        rng.shuffle(block)
        blocks.append([t for t in block if t])
    return blocks


def test_a_block_counts_what_its_lines_count_one_by_one() -> None:
    rng = random.Random(52)
    memo = ApacheMemo()  # one memo across the blocks: keys learnt in one, answered in the next
    blocks = _bent_blocks(rng)
    for block in blocks * 2:
        assert memo.failures(block) == _want(block), block[:3]
    assert memo.hits > sum(len(b) for b in blocks)  # most answers from the memo's keys


def test_the_bench_blocks_are_counted_by_key() -> None:
    """The bench's shapes: every line of a block taken by its key after the first block (none
    left to the per-line path), and counted as line by line."""
    for dense in (False, True):
        rng = random.Random(3)
        lines = [watch_bench._apache(rng, i, dense=dense).rstrip("\n") for i in range(4000)]
        memo = ApacheMemo()
        assert memo.failures(lines[:2000]) == _want(lines[:2000])
        slow = memo.slow
        assert memo.failures(lines[2000:]) == _want(lines[2000:])
        assert memo.slow == slow and memo.hits >= 2000


def test_a_key_whose_lines_read_the_head_is_read_line_by_line() -> None:
    """A key learnt from harmless ports, then a block with a port 502 among them: the rule that
    reads ``502] Bad Gateway`` counts that line alone (the key has checks: ``_entry``)."""
    memo = ApacheMemo()
    msg = "Bad Gateway from the origin"
    harmless = [CLIENT_LINE.replace(":4020]", f":{p}]") + msg for p in ("4020", "4021", "4022")]
    assert memo.failures(harmless) == _want(harmless)
    block = [*harmless, CLIENT_LINE.replace(":4020]", ":502]") + msg, *harmless]
    want = _want(block)
    assert memo.failures(block) == want
    assert want != _want(harmless + harmless)  # the 502 line counts apart


def test_mutated_apache_blocks_count_as_their_lines() -> None:
    """A mutation fuzz of the block path: lines of the corpus damaged at random bytes."""
    from tests.watch.test_watch_native_counts import _mutated

    rng = random.Random(7)
    base = [t for t in lines_all() if HEAD.match(t)]
    lines = [t.replace("\n", " ") for t in _mutated(base, 3000, seed=52)]
    memo = ApacheMemo()
    for k in range(0, len(lines), 300):
        block = lines[k:k + 300] + rng.choices(base, k=50)
        assert memo.failures(block) == _want(block)


_States = frozenset[tuple[int, int, int]]


def _walk(reach: headblind.Reach, message: str,
          closures: dict[tuple[int, int], set[tuple[int, int]]] | None = None,
          steps: dict[tuple[_States, int, int], _States] | None = None) -> bool:
    """``Reach.completes`` without its kept steps: the automaton walked a character at a time.
    ``closures``: ``closure_at``'s answers for this reach's automaton, kept across messages (a
    pure function of the state and what came before; asked afresh, they were ~half of this
    reference's time).  ``steps``: the set of states each (set of states, character class)
    leads to, kept across messages the same way (the subset construction done lazily, as a
    DFA is; walked afresh for every message this was the suite's slowest test)."""
    closures = {} if closures is None else closures
    steps = {} if steps is None else steps
    nfa, states = reach.nfa, frozenset(reach.alive)
    for ch in message:
        if any(r == reach.end for r, _p, _n in states):
            return True
        code = ord(ch)
        bit = 1 << code if code < 128 else headblind._NON_ASCII
        prev = headblind._PREV_WORD if ch.isalnum() or ch == "_" else headblind._PREV_OTHER
        known = steps.get((states, bit, prev))
        if known is None:
            nxt: set[tuple[int, int, int]] = set()
            for r, _p, need in states:
                for mask, r2 in nfa.edges[r]:
                    if headblind._needed(mask, need) & bit:
                        got = closures.get((r2, prev))
                        if got is None:
                            got = closures[(r2, prev)] = nfa.closure_at(r2, prev, headblind._NEED_ANY)
                        nxt.update((rr, prev, nd) for rr, nd in got)
            known = steps[(states, bit, prev)] = frozenset(nxt)
        states = known
        if not states:
            return False
    if any(r == reach.end for r, _p, _n in states):
        return True
    return any(reach.end in nfa.closure([r]) for r, _p, _n in states)


def test_a_reach_keeps_the_steps_it_walked() -> None:
    """``completes`` (its steps kept across messages, the automata stored with the proof) says
    what the automaton walked afresh says, on every message of the corpus, in two orders."""
    messages = [t[m.end():] for t in lines_all() if (m := HEAD.match(t))]
    messages += [*HOSTILE_MESSAGES, "502] Bad Gateway", "1] Bad Gateway x", "] Bad Gateway", ""]
    reaches = [r for client in (False, True) for *_x, r in apache_fast._plan(client).rules if r is not None]
    reaches += [r for client in (False, True) for r in apache_fast._plan(client).others]
    assert len(reaches) >= 20
    said = 0
    for reach in reaches:
        # the fresh walk's answer once per message (it was half of the suite's slowest test, each
        # message walked again in the second order); ``completes`` asked in both orders
        closures: dict[tuple[int, int], set[tuple[int, int]]] = {}
        steps: dict[tuple[_States, int, int], _States] = {}
        wants = [_walk(reach, msg, closures, steps) for msg in messages]
        for order in (range(len(messages)), range(len(messages) - 1, -1, -1)):
            for i in order:
                assert reach.completes(messages[i]) == wants[i], messages[i]
        said += sum(wants)
    assert said > 0
    for client in (False, True):  # the stored automata are the ones built from the regexes
        named = dict(apache_fast.checked_regexes())
        rules, others = apache_fast.hazards(client)
        for name, alive in (*((f"rule {rid}", a) for rid, a in rules), *others):
            stored = apache_fast._stored_reach(name, client)
            built = apache_fast._rebuilt(named[name], alive)
            if stored is None:
                assert built is None or built is apache_fast._NEVER, name
                continue
            assert built is not None
            assert (stored.end, stored.nfa.edges, stored.nfa.eps, stored.nfa.cond, stored.alive) == \
                (built.end, built.nfa.edges, built.nfa.eps, built.nfa.cond, built.alive), name


def test_a_reach_keeps_a_bounded_number_of_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past ``_STEPS_KEPT`` the kept steps are dropped (a log of ever new messages), and the
    answers stay the automaton's."""
    monkeypatch.setattr(headblind, "_STEPS_KEPT", 8)
    reach = headblind.head_reach(r"(?i)\b5\d\d\b[^.;!?]{0,60}?\b(?:when|because)", WITH_CLIENT, "] ")
    assert reach is not None and reach.alive
    rng = random.Random(9)
    for _ in range(300):
        msg = "".join(rng.choice("5 02x.bWHENcause") for _ in range(rng.randrange(40)))
        assert reach.completes(msg) == _walk(reach, msg), msg
        assert len(reach._steps) <= 8 and len(reach._sets) <= 8
