"""``classify``'s summary of httpd's error lines by key (``ApacheMemo.summary_of_block``, over
``_apachescan.apache_groups`` and ``apache_back``) must be the summary every line read alone
gives: the same keys, counts and order as ``apache_keys`` (itself held to ``error_memo._KEYED``),
each line's key, the least and greatest time of a key's lines as ``heads._ctime_time`` writes a
head's time, the lines it does not count handed back whole and in order -- and, through the
command, the JSON ``WHY502_NATIVE=0`` prints, with ``--since`` too.
"""

from __future__ import annotations

import array
import json
import os
import random
import subprocess
from pathlib import Path

import pytest

from tests.support.clirun import WHY502
from tests.watch.test_apache_keyed import _bent, _edits, bent_lines, pass_keys
from tests.watch.test_watch_errorscan import APACHE, NO_NEEDLE
from why502.parsers import heads
from why502.proxies.apache.error_memo import HEAD, ApacheMemo, _module

NATIVE = _module()
pytestmark = pytest.mark.skipif(NATIVE is None and os.environ.get("WHY502_REQUIRE_NATIVE") != "1",
                                reason="_apachescan was not built (no C compiler at install time)")

# one year (the year is part of a key): a key's least and greatest times are the whole log's
DAYS = ["Mon Jan  3 00:00:00.000001 2026", "Sun Dec 31 23:59:59.999999 2026",
        "Tue Feb 28 12:30:00.500000 2026", "Wed Nov 23 09:32:33.986462 2026",
        "Thu Nov  3 09:32:33.986462 2026", "Fri Oct 09 01:02:03.000000 2026"]


def _stamped(line: str, day: str) -> str:
    """``line`` (an httpd head) with its time and year replaced by ``day``'s."""
    time, year = day.rsplit(" ", 1)
    assert line[32] == "]"
    return "[" + time + " " + year + line[32:]


def _lines(n: int, seed: int) -> list[str]:
    """httpd's lines of repeated keys on many days, keys seen once, and other programs' lines."""
    rnd = random.Random(seed)
    msgs = [f"AH01964: Connection to child {k} established (server shop:443)" for k in range(5)]
    msgs += ["(111)Connection refused: AH00957: http: attempt to connect to 10.0.0.1:8080 "
             "(10.0.0.1:8080) failed",
             "AH01114: HTTP: failed to make connection to backend: 127.0.0.1",
             "AH01102: error reading status line from remote server 10.0.0.2:9000"]
    out = []
    for k in range(n):
        r = rnd.random()
        if r < 0.05:
            out.append(rnd.choice(APACHE))
        elif r < 0.08:
            out.append(_bent(msg=f"AH01097: pass request body failed to 10.0.0.{k}:80 (10.0.0.{k})"))
        elif r < 0.10:
            out.append(rnd.choice([NO_NEEDLE, "caf\u00e9 " + NO_NEEDLE, _bent() + "\r",
                                   "192.168.0.1:33492 [21/Nov/2026:10:00:00.000] fe app/web1 0/0/-1/-1/1 503 "
                                   '217 - - SC-- 1/1/0/0/0 0/0 "GET / HTTP/1.1"']))
        else:
            # a threaded MPM's pid and tid pairs (masked: not part of a key), a prefork's pid alone
            line = _bent(msg=rnd.choice(msgs), client=rnd.choice(["", " [client 10.1.0.0:40000]"]),
                         pid=str(rnd.choice([502, 31985, rnd.randrange(1, 4 * 10 ** 6)])),
                         tid=rnd.choice(["", ":tid 502", f":tid {rnd.randrange(1, 10 ** 6)}"]))
            out.append(_stamped(line, rnd.choice(DAYS)))
    return out


def _key_of(line: str) -> tuple[str, bool, str] | None:
    keys = pass_keys(line)
    return keys[0] if keys else None


def _check_groups(lines: list[str]) -> None:
    assert NATIVE is not None
    data = ("\n".join(lines) + "\n").encode()
    groups, rows, count = NATIVE.apache_groups(data)
    keys, _back = NATIVE.apache_keys(data)
    assert [(key, n) for key, n, _lo, _hi in groups] == list(keys.items())
    ids = array.array("i", rows).tolist()
    assert count == len(lines) == len(ids)
    times: dict[int, list[str]] = {}
    for line, at in zip(lines, ids, strict=True):
        key = _key_of(line)
        assert (at < 0) == (key is None), line
        if key is not None:
            assert groups[at][0] == key, line
            m = HEAD.match(line)
            assert m is not None
            time = heads._ctime_time(m.group("time")[1:] + m.group("fixed")[:5])
            times.setdefault(at, []).append(time or "")
    for at, seen in times.items():
        assert groups[at][2:] == (min(seen), max(seen)), groups[at]
    for want in (bytes(len(groups)), bytes([1]) * len(groups), bytes(k % 2 for k in range(len(groups)))):
        back = NATIVE.apache_back(data, rows, want)
        kept = [line for line, at in zip(lines, ids, strict=True) if at < 0 or not want[at]]
        assert back == "".join(line + "\n" for line in kept).encode()


@pytest.mark.skipif(NATIVE is None, reason="_apachescan not built")
def test_groups_are_the_keys_with_each_lines_key_and_time_range() -> None:
    _check_groups(_lines(3000, seed=1))
    _check_groups(APACHE + bent_lines())
    _check_groups(_edits(APACHE + bent_lines(), 3000, seed=74))
    assert NATIVE is not None and NATIVE.apache_groups(b"") == ([], b"", 0)
    with pytest.raises(ValueError):
        NATIVE.apache_back(b"a\nb\n", array.array("i", [-1]).tobytes(), b"")


@pytest.mark.skipif(NATIVE is None, reason="_apachescan not built")
def test_the_memo_counts_its_keys_and_hands_back_the_lines_it_must_read() -> None:
    """Keys seen once, and lines of no key, come back for the per-line path, in order; keys of
    two lines or more are counted: a failure's as a summary row, a benign one's not at all."""
    once = _bent(msg="AH01102: error reading status line from remote server 127.0.0.1:8080")
    refused = _bent(msg="(111)Connection refused: AH00957: http: attempt to connect to 10.0.0.1:8080 "
                        "(10.0.0.1:8080) failed")
    benign = _bent(msg="AH01964: Connection to child 3 established (server shop:443)")
    early = _stamped(refused, DAYS[2])  # (the year is part of the key: the same year's)
    lines = [refused, NO_NEEDLE, benign, once, early, benign, refused]
    rows, back = ApacheMemo().summary_of_block(("\n".join(lines) + "\n").encode())
    assert back == (NO_NEEDLE + "\n" + once + "\n").encode()
    assert len(rows) == 1
    symptom, status, source, upstream, n, first, last = rows[0]
    assert (symptom, status, source, upstream, n) == ("connection-refused", 503, "apache", "10.0.0.1:8080", 3)
    assert (first, last) == ("2026-02-28T12:30:00.500000", "2026-11-23T09:32:33.986462")


@pytest.mark.skipif(NATIVE is None, reason="_apachescan not built")
def test_a_threaded_mpms_processes_and_threads_share_a_key() -> None:
    """The pid and tid are masked (``error_memo.HEAD``): one message written by 4 processes of 25
    threads each (the event MPM's lines) and by a prefork child (no tid) is one key, each line
    counted in one summary row, none handed back.  When they were part of the key, most of a
    block's keys were seen once and read line by line, 3.4x slower (BENCHMARKS.md stop 74)."""
    assert NATIVE is not None
    refused = ("(111)Connection refused: AH00957: http: attempt to connect to 10.0.0.1:8080 "
               "(10.0.0.1:8080) failed")
    lines = [_bent(msg=refused, pid=str(31985 + k % 4), tid=f":tid {32000 + k % 100}") for k in range(300)]
    lines.append(_bent(msg=refused, pid="502", tid=""))
    data = ("\n".join(lines) + "\n").encode()
    keys, back = NATIVE.apache_keys(data)
    assert back == b"" and list(keys.values()) == [len(lines)]
    assert list(keys) == [(" 2026] [proxy:error", True, refused)]
    rows, back = ApacheMemo().summary_of_block(data)
    assert back == b""
    assert [(r[0], r[3], r[4]) for r in rows] == [("connection-refused", "10.0.0.1:8080", len(lines))]


def _summary(path: Path, native: str, *args: str) -> dict[str, object]:
    env = {**os.environ, "WHY502_NATIVE": native, "COLUMNS": "400"}
    got = subprocess.run([WHY502, "classify", "--no-progress", "--format", "json", *args, str(path)],
                         capture_output=True, env=env, timeout=120)
    assert got.returncode in (0, 1), got.stderr
    doc: dict[str, object] = json.loads(got.stdout)
    return doc


@pytest.mark.parametrize("since", [(), ("--since", "2026-11-23T00:00:00")], ids=["whole", "since"])
def test_the_command_prints_what_every_line_read_alone_prints(tmp_path: Path, since: tuple[str, ...]) -> None:
    """The summary of a log of httpd's lines among other programs', in blocks of the native
    scanner's size: the document ``WHY502_NATIVE=0`` prints (every line read alone)."""
    lines = _lines(60000, seed=74)
    path = tmp_path / "error.log"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    fast = _summary(path, "1", *since)
    assert fast == _summary(path, "0", *since)
    assert isinstance(fast["recognised"], int) and fast["recognised"] > 5000
