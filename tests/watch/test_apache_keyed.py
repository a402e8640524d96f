"""httpd's error lines grouped by key in one native pass (``_apachescan.apache_keys``) must cut
what ``error_memo._KEYED`` cuts: the same keys and counts on every line it takes, and every line
it does not take handed back as it was; ``watch``'s counter built on it (``ApacheMemo.
failures_of_block``) must count what every line read alone counts.

Checked on the recorded Apache error lines and their variants, on lines bent at each part of the
head (the bounds of each run, the optional tid and client, a client the class does not hold),
and on random edits of them.
"""

from __future__ import annotations

import os
import random
from collections import Counter

import pytest

from tests.watch.test_watch_errorscan import APACHE, NO_NEEDLE
from why502.app.watch.errorscan import ErrorCounter, count_per_line
from why502.proxies.apache.error_memo import _KEYED, ApacheMemo, _module

NATIVE = _module()
pytestmark = pytest.mark.skipif(NATIVE is None and os.environ.get("WHY502_REQUIRE_NATIVE") != "1",
                                reason="_apachescan was not built (no C compiler at install time)")

HEAD = "[Mon Nov 23 09:32:33.986462 2026] [{module}:{level}] [pid {pid}{tid}]{client} {msg}"


def _bent(**over: str) -> str:
    parts = {"module": "proxy", "level": "error", "pid": "31985", "tid": ":tid 31992",
             "client": " [client 10.1.0.0:40000]", "msg": "AH01114: HTTP: failed to make connection to "
                                                          "backend: 127.0.0.1"}
    parts.update(over)
    return HEAD.format(**parts)


def bent_lines() -> list[str]:
    out = [_bent()]
    for module in ["a", "m" * 32, "m" * 33, "proxy_fcgi", "Mod-X_1", "mod.x", ""]:
        out.append(_bent(module=module))
    for level in ["e", "trace8", "emerg", "l" * 10, "l" * 11, "Error", "err9", "err99", "notice1"]:
        out.append(_bent(level=level))
    for pid, tid in [("1", ""), ("1" * 10, ""), ("1" * 11, ""), ("7", ":tid " + "2" * 20),
                     ("7", ":tid " + "2" * 21), ("7", ":tid "), ("7", ":tid x"), ("", "")]:
        out.append(_bent(pid=pid, tid=tid))
    for client in ["", " [client ::1:5]", " [client " + "a" * 64 + "]", " [client " + "a" * 65 + "]",
                   " [client localhost:80]", " [client 10.0.0.1]x", " [client ]",
                   " [client 1.2.3.4:5] [client 6:7]"]:
        out.append(_bent(client=client))
    for msg in ["", " ", "x\ty", "trailing  ", "a]b", "[client 1.2.3.4:5] inside"]:
        out.append(_bent(msg=msg))
    base = _bent()
    out += [base.replace("Mon", "Foo"), base.replace("Nov", "Nox"), base.replace(" 23 ", "  3 "),
            base.replace(" 23 ", " 3 "), base.replace(".986462", ".98646"), base.replace(" 2026]", " 202]"),
            base.replace(" 2026]", " 20261]"), base[:40], base + "\r", base + "\u00e9", "x" + base,
            base.lstrip("[")]
    return out


def _edits(lines: list[str], n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    alphabet = "[] :0aZ.\t-_x"
    out = []
    for _ in range(n):
        line = rnd.choice(lines)
        k = rnd.randrange(len(line) + 1)
        op = rnd.randrange(3)
        if op == 0:
            line = line[:k] + rnd.choice(alphabet) + line[k:]
        elif op == 1:
            line = line[:k] + line[k + 1:]
        else:
            line = line[:k] + rnd.choice(alphabet) + line[k + 1:]
        out.append(line)
    return out


def _regex_keys(line: str) -> list[tuple[str, bool, str]]:
    return [(fixed, bool(client), message) for fixed, client, message in _KEYED.findall("\n" + line)]


def pass_keys(line: str) -> list[tuple[str, bool, str]]:
    """The key the native pass must cut from ``line``: ``_KEYED``'s, on a line of ASCII without
    a CR (the only lines the pass takes); none on any other."""
    return _regex_keys(line) if line.isascii() and "\r" not in line else []


def _check(lines: list[str]) -> tuple[int, int]:
    assert NATIVE is not None
    taken = back_n = 0
    for line in lines:
        keys, back = NATIVE.apache_keys((line + "\n").encode())
        want = pass_keys(line)
        assert Counter(keys) == Counter(want) and all(n == 1 for n in keys.values()), line
        if want:
            taken += 1
            assert back == b"", line
        else:
            back_n += 1
            assert back == (line + "\n").encode(), line
    return taken, back_n


@pytest.mark.skipif(NATIVE is None, reason="_apachescan not built")
def test_the_recorded_lines_cut_as_the_regex_cuts_them() -> None:
    taken, _ = _check(APACHE)
    assert taken >= 60  # (httpd 2.2's head, the third variant of each line, is no key of _KEYED)


@pytest.mark.skipif(NATIVE is None, reason="_apachescan not built")
def test_bent_heads_cut_as_the_regex_cuts_them() -> None:
    taken, back = _check(bent_lines())
    assert taken >= 20 and back >= 15


@pytest.mark.skipif(NATIVE is None, reason="_apachescan not built")
def test_random_edits_cut_as_the_regex_cuts_them() -> None:
    taken, back = _check(_edits(APACHE + bent_lines(), 4000, seed=54))
    assert taken >= 1000 and back >= 500


@pytest.mark.skipif(NATIVE is None, reason="_apachescan not built")
def test_a_block_counts_each_key_once_per_line_and_hands_the_rest_back_in_order() -> None:
    assert NATIVE is not None
    a, b = _bent(), _bent(msg="AH01097: pass request body failed")
    lines = [a, a, "other", b, a, "", "caf\u00e9", a + "\r", b]
    for ends in ("\n", ""):
        keys, back = NATIVE.apache_keys(("\n".join(lines) + ends).encode())
        assert sum(keys.values()) == 5 and len(keys) == 2
        assert back.decode() == "other\n\ncaf\u00e9\n" + a + "\r\n"
    assert NATIVE.apache_keys(b"") == ({}, b"")
    # a run of one fixed part and message, the client there or not: two keys
    bare = _bent(client="")
    keys, back = NATIVE.apache_keys(("\n".join([a, bare, bare, a]) + "\n").encode())
    assert Counter(keys) == Counter({k: 2 for k in _regex_keys(a) + _regex_keys(bare)}) and back == b""


@pytest.mark.parametrize("native", ["0", "1"])
def test_the_counter_counts_what_each_line_alone_counts(native: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks of repeated keys (the pass answers them) and blocks with a key seen once (the lines
    of that key handed back), among lines of other programs: the counts of ``count_per_line``."""
    monkeypatch.setenv("WHY502_NATIVE", native)
    rnd = random.Random(5)
    dense = [ln for ln in APACHE for _ in range(3)]
    rnd.shuffle(dense)
    counter = ErrorCounter()
    for lines in (dense, [*dense, _bent(msg="AH00898: Error reading from remote server returned by /x")],
                  [NO_NEEDLE] * 40 + dense, bent_lines() + dense):
        assert counter.count(("\n".join(lines) + "\n").encode()) == count_per_line(lines)


@pytest.mark.skipif(NATIVE is None, reason="_apachescan not built")
def test_a_key_that_must_be_read_line_by_line_hands_back_its_lines_only() -> None:
    """A key seen once (a real log's ``File does not exist: <a path of its own>``) goes back for
    the per-line path, with the lines of no key, in order; the other keys are counted: when the
    whole block went back for such a key, a real log was read line by line."""
    memo = ApacheMemo()
    once = (_bent(msg="AH01102: error reading status line from remote server 127.0.0.1:8080") + "\n").encode()
    assert memo.failures_of_block(once) == (Counter(), once)  # seen once: read alone
    twice = once * 2
    got, back = memo.failures_of_block(twice)
    assert back == b"" and sum(got.values()) == 2
    refused = _bent(msg="(111)Connection refused: AH00957: http: attempt to connect to 10.0.0.1:8080 "
                        "(10.0.0.1:8080) failed", pid="7", tid=":tid 9")
    alone = [_bent(msg=f"AH00128: File does not exist: /var/www/html/{k}.php") for k in range(3)]
    lines = [refused, alone[0], refused, "other", alone[1], refused, alone[2]]
    got, back = memo.failures_of_block(("\n".join(lines) + "\n").encode())
    assert got == Counter({("connection-refused", "10.0.0.1:8080"): 3})
    assert back.decode() == "".join(line + "\n" for line in (alone[0], "other", alone[1], alone[2]))


@pytest.mark.skipif(NATIVE is None, reason="_apachescan not built")
def test_keys_come_in_the_order_each_first_came_and_count_across_runs() -> None:
    """The keys of a block whose next line mostly has another key (a benign log's "Connection
    to child N established", each N its own message): counted in the pass's own table, each key
    once however its lines interleave, in the order each first came -- the order the runs of one
    key added them to the dict before (the order ``failures_of_block`` learns them in)."""
    assert NATIVE is not None
    msgs = [f"AH01964: Connection to child {n} established (server shop:443)" for n in range(7)]
    lines = [_bent(msg=msgs[(k * 3) % 7], client="" if k % 5 == 0 else " [client 10.1.0.0:40000]")
             for k in range(300)]
    keys, back = NATIVE.apache_keys(("\n".join(lines) + "\n").encode())
    want: dict[tuple[str, bool, str], int] = {}
    for line in lines:
        (key,) = _regex_keys(line)
        want[key] = want.get(key, 0) + 1
    assert back == b""
    assert list(keys.items()) == list(want.items())
    assert len(keys) == 14 and sum(keys.values()) == 300
    # many distinct keys: the pass's table grows past its first size and loses none
    many = [_bent(msg=f"AH01964: Connection to child {n} established") for n in range(5000)] * 2
    keys, back = NATIVE.apache_keys(("\n".join(many) + "\n").encode())
    assert back == b"" and len(keys) == 5000 and set(keys.values()) == {2}
    assert list(keys)[:3] == [k for line in many[:3] for k in _regex_keys(line)]
