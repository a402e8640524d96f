"""A rule's regex is searched only in a line that holds the literals every match of it holds.

``parsers.rule_search.required_literals`` reads, from a pattern's parse, sets of literals every
match holds one of (a run of literal characters, or one literal of each branch of an
alternative).  PHP-FPM's slow-request rules read from each ``child N, script '...'`` to the
line's end, so a line of such heads without ``executing too slow (`` cost the square of the
line (0.78 s for 40 KB in one rule); the literal is looked for first now.  The fourteen
Go-proxy rules, asked of every line that names one of their seven heads, are asked only of a
line that holds one of their Go errors too.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.support.clirun import WHY502
from tests.support.paths import FIXTURES_DIR
from why502.catalog.patterns import load_patterns
from why502.parsers import errorlog
from why502.parsers.rule_search import LiteralFirst, required_literals


def test_the_sets_every_match_holds_one_of() -> None:
    slow = next(p.match for p in load_patterns() if p.id == "fpm-executing-too-slow")
    assert slow is not None and required_literals(slow) == (("executing too slow (",),)
    assert required_literals(r"abcd(?:efgh)?ijkl\d+mnopq") == (("mnopq",), ("abcd",))
    assert required_literals(r"(?:connection refused|timed out|reset by peer)") == (
        ("connection refused", "timed out", "reset by peer"),)
    assert required_literals(r"(?:connection refused|\d+)") == ()  # a branch with no literal
    assert required_literals(r"(?i)upstream timed out") == ()
    assert required_literals(r"(?x) upstream timed out") == ()
    assert required_literals(r"(?i:Upstream) timed out") == ((" timed out",),)
    tls = next(p.match for p in load_patterns() if p.id == "go-proxy-tls")
    assert tls is not None and ("x509: ", "tls: ", "remote error: tls",
                                "first record does not look like a TLS handshake") in required_literals(tls)


def _lines() -> list[str]:
    """Every rule's example, cut in three, and the recorded proxies' and edge fields' lines."""
    lines: list[str] = []
    for p in load_patterns():
        if p.example:
            lines += [p.example, p.example[: len(p.example) // 2], p.example[len(p.example) // 3:]]
    for path in sorted(FIXTURES_DIR.glob("recorded/*/*.out"))[:60]:
        lines += path.read_text(errors="replace").splitlines()[:40]
    return lines


def test_the_gated_search_is_the_plain_search() -> None:
    """The gate can only say no where the regex says no: on every rule's example (cut too) and
    on recorded lines, each gated rule finds what its plain regex finds."""
    gated = [(p.id, re.compile(p.match or ""), rx) for p, rx, _ in errorlog._match_rules()
             if isinstance(rx, LiteralFirst)]
    assert len(gated) > 140
    asked = found = 0
    for text in _lines():
        for rid, plain, rx in gated:
            a, b = plain.search(text), rx.search(text)
            same = a.span() == b.span() if a is not None and b is not None else a is b
            assert same, (rid, text)
            asked += 1
            found += a is not None
    assert asked > 100_000 and found > 300, (asked, found)


def test_classify_reads_a_long_line_of_fpm_child_heads(tmp_path: Path) -> None:
    """A 1 MB line of ``[pool www] child N, script '...' executing too slow`` without the
    ``(``: ~8 minutes a rule before (the square of 0.78 s at 40 KB), ~2 s now; the real lines
    on either side are read.  The timeout is a hang guard, no speed is asserted."""
    real = next(p.example for p in load_patterns() if p.id == "fpm-executing-too-slow")
    assert real is not None
    head = "[pool www] child 4243, script '/var/www/html/s' executing too slow "
    hostile = "[01-May-2024 12:00:02] WARNING: " + head * (1_000_000 // len(head))
    log = tmp_path / "php-fpm.log"
    log.write_text("\n".join([real, hostile, real]) + "\n")
    done = subprocess.run([WHY502, "classify", str(log), "--format", "jsonl", "--no-progress"],
                          capture_output=True, text=True, timeout=240, check=False, stdin=subprocess.DEVNULL)
    assert done.returncode in (0, 1), done.stderr
    slow = [json.loads(line)["line"] for line in done.stdout.splitlines()
            if json.loads(line).get("symptom") == "slow-request"]
    assert slow == [1, 3], done.stdout[:2000]
