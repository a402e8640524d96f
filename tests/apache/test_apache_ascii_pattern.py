"""``proxies.apache.stats.ascii_pattern``: an access log's ``LogFormat`` regex rewritten for lines
of ASCII only (ASCII classes, the request's escapes as an unrolled loop) must cut every line as
the regex itself does in polars -- ``stats`` and ``diagnose`` read Apache's access log through
it.  Checked on lines built from each format with bytes at every edge of the classes (tabs,
vertical tabs, ``\\x1c-\\x1f``, which Python's ``\\s`` takes and polars' does not, escaped quotes,
backslashes, digits of other scripts, non-ASCII text), and through ``stats`` against the regex.
"""

from __future__ import annotations

import random
import re

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from why502.proxies.apache import log as apache_log
from why502.proxies.apache.stats import _groups, ascii_pattern, log_fields

FORMATS = [apache_log.COMBINED, *apache_log.NICKNAMES.values(), '%h %l %u %t "%r" %>s %b %D',
           '%a %t "%r" %>s %B %T', '%h %t "%r" %>s %b %{ms}T "%{Host}i" %v',
           '%h %l %u %t "%r" %>s %b %D %{proxy-status}n', '%t %h "%r" %>s %D', '\\S %h %t "%r" %s %b']
# each piece a line's field may take: the usual values, and the bytes at the classes' edges
PIECES = ["10.0.0.1", "-", "frank", "[21/Nov/2026:10:00:00 +0000]", "GET / HTTP/1.1", "502", "217",
          "25565", "0", "a\tb", "a\x0bb", "a\x1cb", "\x1f", "x\\\"y", "\\\\", "\\", '"', "١٢٣", "502\u00a0",
          "é", "[", "]", "[x]", " ", "  ", "\x85", "Mozilla/5.0 (X11)", "1" * 13, "500", "-1", "\r"]


def _line(fmt: str, rnd: random.Random) -> str:
    """``fmt`` with each ``%...`` item replaced by a piece or two, now and then left out."""
    out = []
    for part in fmt.split(" "):
        if "%" in part and rnd.random() < 0.9:
            head, _, _ = part.partition("%")
            tail = part[len(part.rstrip('"')):] if part.endswith('"') else ""
            value = "".join(rnd.choice(PIECES) for _ in range(rnd.choice((1, 1, 1, 2))))
            out.append(head + value + tail)
        else:
            out.append(part)
    return " ".join(out)


def _valid(fmt: str, n: int, rnd: random.Random) -> list[str]:
    """Lines ``fmt`` matches (the regex in Python): each item a value of its kind."""
    kinds = {"h": "10.1.2.3", "a": "::1", "l": "-", "u": "bob", "t": "[21/Nov/2026:10:00:00 +0000]",
             "r": 'GET /a\\"b HTTP/1.1', "s": "503", "b": "-", "B": "0", "D": "1500", "T": "2", "O": "9",
             "i": "x y", "v": "shop", "p": "443", "n": "502"}
    return [_ITEM.sub(lambda m: kinds.get(m.group(1), "-") if rnd.random() < 0.8 else rnd.choice(PIECES), fmt)
            for _ in range(n)]


_ITEM = re.compile(r"%(?:\{[^}]*\})?>?([a-zA-Z])")


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_ascii_pattern_cuts_every_line_as_the_regex(fmt: str) -> None:
    rnd = random.Random(fmt)
    pattern = apache_log.compile_log_format(fmt).engine  # (what stats gives polars)
    lines = pl.Series("line", [_line(fmt, rnd) for _ in range(3000)] + _valid(fmt, 1000, rnd))
    expected = lines.str.extract_groups(pattern).struct.unnest()
    ascii = lines.str.len_bytes() == lines.str.len_chars()
    assert 500 < int(ascii.sum()) < lines.len()  # both kinds of line
    assert expected.filter(ascii).drop_nulls().height >= 200  # lines it cuts, among them
    # the ASCII lines by the rewritten pattern alone; every line through _groups
    assert_frame_equal(lines.filter(ascii).str.extract_groups(ascii_pattern(pattern)).struct.unnest(),
                       expected.filter(ascii))
    assert_frame_equal(_groups(lines, pattern), expected)


def test_an_escaped_backslash_before_a_class_letter_stays_text() -> None:
    assert ascii_pattern(r"^\\S \\\d\ \s$") == r"^\\S \\[0-9]\ [\t\n\x0b\x0c\r ]$"


def test_log_fields_of_ascii_and_other_lines_are_the_regexs(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine's columns of a batch are the same whether ``ascii_pattern`` or the regex cut
    it (``log_fields``: ``stats`` and ``diagnose`` of an Apache access log)."""
    rnd = random.Random(76)
    fmt = apache_log.compile_log_format('%h %l %u %t "%r" %>s %b %D "%{Referer}i"')
    lines = pl.Series([*_valid(fmt.format, 2000, rnd), *(_line(fmt.format, rnd) for _ in range(2000))])
    fast = log_fields(lines, fmt, "-", first_row=7)
    monkeypatch.setattr("why502.proxies.apache.stats.ascii_pattern", lambda pattern: pattern)
    assert_frame_equal(fast, log_fields(lines, fmt, "-", first_row=7))
    assert fast.height >= 500
