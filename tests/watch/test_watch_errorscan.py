"""``watch`` counts an error-log block in one pass (``app.watch.errorscan``): the same failures
as asking the per-line recogniser about every line, as ``watch`` did before (issue 28 item 5).

The block mixes every recorded lab error log (nginx's, Apache's, PHP-FPM's, HAProxy's), the
field corpus and the public lines (wrapped, cut, pasted, other programs': the lines of
``tests/classify/test_classify_one_recogniser.py``) and a few lines made to take each door of
the block path: not ASCII, an escaped quote, CRLF, a benign line with no needle, a blank line.
Timings are in bench/watch_bench.py and BENCHMARKS.md, never here.
"""

from __future__ import annotations

import os
import random
import re
from typing import Any

import pytest

from tests.classify.test_classify_one_recogniser import LINES
from tests.support.paths import FIXTURES_DIR
from why502.app.watch.errorscan import ErrorCounter, count_per_line
from why502.parsers import errorlog_native

HEAD = "2026/11/23 09:00:00 [error] 1234#0: *7 "
MADE = [
    # not ASCII (the scanner hands it back; the prefilter always keeps it)
    HEAD + 'connect() failed (111: Connection refused) while connecting to upstream, client: 10.0.0.9, '
    'server: café.example, request: "GET /é HTTP/1.1", upstream: "http://10.0.0.2:8080/é", host: "café"',
    # an escaped quote in the request (handed back by the scanner)
    HEAD + 'upstream timed out (110: Connection timed out) while reading response header from upstream, '
    'client: 10.0.0.9, server: _, request: "GET /\\"x HTTP/1.1", upstream: "http://10.0.0.3:8080/", '
    'host: "x"',
    HEAD + 'no live upstreams while connecting to upstream, client: 10.0.0.9, server: _, request: '
    '"GET / HTTP/1.1", upstream: "http://app_cluster/", host: "x"\r',
    "2026/11/23 09:00:00 [info] 1234#0: *8 client 10.0.0.9 closed keepalive connection",
    "",
]


def _block() -> bytes:
    lines = [t for p in sorted((FIXTURES_DIR / "recorded").glob("*/*error.log"))
             for t in p.read_text(encoding="utf-8", errors="replace").splitlines()]
    lines += [t.replace("\n", " ").replace("\r", " ") for t in LINES] + MADE
    return ("\n".join(lines) + "\n").encode()


BLOCK = _block()
REFERENCE = count_per_line(BLOCK[:-1].decode("utf-8", "replace").split("\n"))


def test_the_block_is_mixed_enough_to_tell() -> None:
    assert len({symptom for symptom, _up in REFERENCE}) >= 15
    assert sum(REFERENCE.values()) >= 300
    assert any(up for _symptom, up in REFERENCE) and any(not up for _symptom, up in REFERENCE)


def test_the_prefilter_path_counts_what_the_per_line_path_counts() -> None:
    assert ErrorCounter(native=False).count(BLOCK) == REFERENCE


@pytest.mark.skipif(errorlog_native.native() is None and os.environ.get("WHY502_REQUIRE_NATIVE") != "1",
                    reason="the native scanner was not built (no C compiler at install time)")
def test_the_native_path_counts_what_the_per_line_path_counts() -> None:
    counter = ErrorCounter(native=True)
    assert counter.book is not None
    assert counter.count(BLOCK) == REFERENCE
    # block by block (as watch reads them) the same: a scanner's groups are its block's alone
    half = BLOCK.index(b"\n", len(BLOCK) // 2) + 1
    split = counter.count(BLOCK[:half])
    split.update(counter.count(BLOCK[half:]))
    assert split == REFERENCE


def test_a_block_without_a_needle_reads_no_line() -> None:
    benign = b"2026/11/23 09:00:00 [info] 1234#0: *8 client 10.0.0.9 closed keepalive connection\n" * 50
    assert ErrorCounter(native=False)._candidates(benign) == []
    assert ErrorCounter(native=False).count(benign) == {}


def _apache_variants() -> list[str]:
    """The recorded Apache error lines, each also with its variable parts changed (the time, the
    pid/tid, the client's port) and in httpd 2.2's head (``[error]`` alone, no pid/tid:
    ``proxies/apache/heads.toml``), mixed in one file as a log rotated across an upgrade is."""
    out = []
    for p in sorted((FIXTURES_DIR / "recorded").glob("apache-*/apache-error.log")):
        for i, t in enumerate(p.read_text(encoding="utf-8").splitlines()):
            out.append(t)
            out.append(re.sub(r"\d\d:\d\d:\d\d\.\d+", f"1{i % 10}:0{i % 6}:2{i % 10}.{i:06d}", t)
                       .replace("[pid ", f"[pid {i}").replace(":tid ", f":tid 9{i}")
                       .replace("[client 127.0.0.1:", f"[client 127.0.0.1:{i % 7}"))
            out.append(re.sub(r"\] \[[\w-]+:(\w+)\] \[pid \d+:tid \d+\]", r"] [\1]", t))
    return out


APACHE = _apache_variants()
NO_NEEDLE = "2026/11/23 09:00:00 [info] 1234#0: *8 client 10.0.0.9 closed keepalive connection"


@pytest.mark.parametrize("native", [False, True])
@pytest.mark.parametrize("lead", [0, 40], ids=["every-line-read", "prefiltered"])
def test_apache_heads_mixed_count_as_the_per_line_path(native: bool, lead: int) -> None:
    """A block whose first lines hold needles is read line by line without the prefilter; one
    that starts with lines holding none is prefiltered: both count what the per-line path counts."""
    if native and errorlog_native.native() is None:
        pytest.skip("the native scanner was not built")
    lines = [NO_NEEDLE] * lead + APACHE
    reference = count_per_line(lines)
    assert sum(reference.values()) >= 3 * 6  # the variants count as their recorded lines
    assert ErrorCounter(native=native).count(("\n".join(lines) + "\n").encode()) == reference


def test_the_peels_as_one_regex_cut_what_the_peels_one_by_one_cut() -> None:
    """``heads.Shape.peel_any`` (one alternation) takes the head off as the loop over ``peel``."""
    from dataclasses import replace

    from why502.parsers.heads import _head_declared, _shapes

    for shape in _shapes().values():
        if shape.peel_any is None:
            continue
        one_by_one = replace(shape, peel_any=None)
        for text in APACHE + [t.replace("\n", " ") for t in LINES]:
            assert _head_declared(shape, text) == _head_declared(one_by_one, text), text


@pytest.mark.parametrize("native", [False, True])
def test_haproxy_session_lines_counted_by_group_as_the_per_line_path(native: bool) -> None:
    """HAProxy's session lines go through its counter by group (``Hooks.classify_fold``): the
    same counts as each line read alone, among nginx lines and lines the counter hands back."""
    from tests.classify.test_classify_sessions import NATIVE, bent_lines, broken_lines

    if NATIVE is None or (native and errorlog_native.native() is None):
        pytest.skip("a native pass was not built")
    hap = [ln for p in sorted((FIXTURES_DIR / "recorded").glob("haproxy-*/haproxy.log"))
           for ln in p.read_text(encoding="utf-8").splitlines()]
    lines = bent_lines() + broken_lines() + hap + BLOCK[:-1].decode("utf-8", "replace").split("\n")[:400]
    lines = [ln.replace("\r", " ") for ln in lines]
    reference = count_per_line(lines)
    assert sum(n for (symptom, up), n in reference.items() if up in ("app", "api", "b", "Be")) >= 1000
    assert ErrorCounter(native=native).count(("\n".join(lines) + "\n").encode()) == reference


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_apache_blocks_read_by_the_memo_first_count_alike(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A block that starts with an Apache line goes to the memo's native pass before the engine's
    scanner (``ApacheMemo.reads_first``): the same counts as the per-line path, and the same keys
    in the same order as the block read the usual way -- the order the metrics' label cap keeps
    them in.  Mixed with every other line of ``BLOCK`` (nginx's, HAProxy's sessions, PHP-FPM's,
    wrapped and cut lines); the Apache lines of a few keys each seen many times (the pass takes
    them), and now and then one seen once (the block is read line by line)."""
    rnd = random.Random(seed)
    others = BLOCK[:-1].decode("utf-8", "replace").split("\n")
    apache = [ln for ln in APACHE if ln.startswith("[") and ln[1:2] in "MTWFS"]
    assert len(apache) > 30
    blocks = []
    for _ in range(40):
        few = rnd.sample(apache, 6)
        size = rnd.choice([5, 50, 400])
        lines = [few[0]] + [rnd.choice(few if rnd.random() < 0.7 else others) for _ in range(size)]
        if rnd.random() < 0.2:
            lines.append(rnd.choice(apache))
        blocks.append(("\n".join(lines) + "\n").encode())
    taken = []
    for native in (True, False):
        monkeypatch.setenv("WHY502_NATIVE", "1" if native else "0")
        first_counter, usual_counter = ErrorCounter(), ErrorCounter()

        def spy(data: bytes, memo_pass: Any = first_counter.memo.failures_of_block) -> tuple[object, bytes]:
            got, back = memo_pass(data)
            taken.append(len(data) - len(back))
            return got, back

        monkeypatch.setattr(first_counter.memo, "failures_of_block", spy)
        monkeypatch.setattr(usual_counter.memo, "reads_first", lambda _data: False)
        for block in blocks:
            assert first_counter.memo.reads_first(block)
            first = first_counter.count(block)
            usual = usual_counter.count(block)
            assert list(first.items()) == list(usual.items()), block
            assert first == count_per_line(block[:-1].decode("utf-8", "replace").split("\n"))
    assert sum(1 for t in taken if t > 0) >= 8  # the memo's pass took the lines first in many blocks
    # the blocks it leaves to the usual way: nginx's lines behind kubectl's prefix, dmesg's stamp
    memo = ErrorCounter().memo
    assert not memo.reads_first(b"[pod/web-1/nginx] 2026/11/23 09:00:00 [error] 1#0: x\n")
    assert not memo.reads_first(b"[ 12.345678] Out of memory: Killed process 1 (php-fpm)\n")
    assert not memo.reads_first(b"2026/11/23 09:00:00 [error] 1#0: *1 connect() failed\n")
