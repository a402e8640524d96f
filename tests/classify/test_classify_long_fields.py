"""Long repetitive fields are recognised as their short forms are, by recognisers that take
linear time (``parsers.normalize``).

Three repairs were regexes that backtracked through runs: the cut mark ``\\s*(?:…|...)\\s*$``
tried the trailing space run from each of its characters, ``(N: text   )`` scanned lazily
through spaces, the errno fragment inside other text scanned from each ``(N: `` to the next
``)`` (an 80 KB line of spaces took minutes; ``explain -`` on 384 KB of ``(111: `` 25-45 s).
Their time is measured in bench/fuzz.py (``--only long``, with a per-line budget), never here:
these tests say the answers did not change -- the new code against the old regexes, kept here
as the definition, on generated strings, and long lines against their short forms."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from why502.app.explain import explain
from why502.parsers import normalize as N
from why502.parsers.errorlog import classify_line

OLD_CUT = re.compile(r"\s*(?:\u2026|\.\.\.|\[\.\.\.\]|\(truncated\)|>)\s*$")
OLD_CLOSE = re.compile(r"(\(\d+: [^()]*?) +\)")
OLD_INSIDE = re.compile(r"\((\d+): [^)]*\) while "
                        r"(?:connecting to|sending request to|reading response header from|reading) upstream")

# the characters the three regexes turn on, so that generated strings hit their corners
PIECES = [" ", "  ", "\t", "\n", "\u2026", ".", "...", "[...]", "(truncated)", ">", "(", ")", "(111: ", "1",
          ": ", "x", "while", " while connecting to upstream", ") while reading upstream", "\u00a0"]
texts = st.lists(st.sampled_from(PIECES), max_size=14).map("".join)


@settings(max_examples=600, deadline=None)
@given(texts)
def test_the_cut_mark_is_found_where_the_regex_found_it(text: str) -> None:
    m = OLD_CUT.search(text)
    assert N._cut_at(text) == (m.start() if m else -1)


@settings(max_examples=600, deadline=None)
@given(texts)
def test_a_spaced_errno_close_is_repaired_as_the_lazy_regex_did(text: str) -> None:
    assert N._SPACED_ERRNO_CLOSE.sub(r"\1)", text) == OLD_CLOSE.sub(r"\1)", text)


@settings(max_examples=600, deadline=None)
@given(texts)
def test_the_errno_fragment_inside_text_starts_where_the_regex_found_it(text: str) -> None:
    m = OLD_INSIDE.search(text)
    assert N._errno_inside(text) == (m.start() if m else -1)


FRAGMENT = "(104: Connection reset by peer) while connecting to upstream"
LINE = ('2024/05/01 12:00:02 [error] 2107#2107: _1850 connect() failed (111: Connection refused) while '
        'connecting to upstream, client: 203.0.113.9, server: x, request: "GET /{fill}a HTTP/1.1", '
        'upstream: "http://127.0.0.1:8080/", host: "x"')


def _same(short: str, long: str) -> None:
    a, b = classify_line(short), classify_line(long)
    assert a is not None and b is not None
    assert (a.source, a.symptom, a.status, a.upstream, a.pattern) == \
        (b.source, b.symptom, b.status, b.upstream, b.pattern)


@pytest.mark.parametrize("fill", [" " * 80_000, "\t " * 20_000, " a" * 20_000])
def test_a_request_field_of_a_long_run_is_classified_as_its_short_form(fill: str) -> None:
    """The Markdown-mangled ``_1850`` makes the line go through the repairs."""
    _same(LINE.format(fill=" "), LINE.format(fill=fill))


def test_a_line_cut_after_a_long_run_of_spaces_is_still_a_cut_line() -> None:
    short, long = FRAGMENT + " \u2026", FRAGMENT + " " * 80_000 + "\u2026"
    assert N.normalize(long).repairs == N.normalize(short).repairs
    _same(short, long)


def test_a_spaced_errno_close_after_a_long_run_is_repaired() -> None:
    short = "connect() failed (111: Connection refused ) while connecting to upstream"
    long = short.replace("refused )", "refused" + " " * 80_000 + ")")
    assert N.normalize(long).text == N.normalize(short).text
    _same(short, long)


def test_repeated_errno_openings_before_a_fragment_explain_as_the_fragment() -> None:
    """``explain -`` of a paste with 64,000 unclosed ``(111: `` before the real fragment: the
    leftmost opening of the fragment's parenthesis counts, as before (errno 111)."""
    fragment = "(111: Connection refused) while connecting to upstream"
    long = "(111: " * 64_000 + fragment
    got, short = classify_line(long), classify_line(fragment)
    assert got is not None and short is not None and got.symptom == short.symptom == "connection-refused"
    a, b = explain(long), explain("x " + fragment)
    assert a.type == b.type == "line" and a.line is not None and b.line is not None
    assert a.line.symptom == b.line.symptom and a.line.repaired == b.line.repaired


def test_uwsgi_emfile_after_a_long_word_is_recognised() -> None:
    short = "accept(): Too many open files [core/socket.c line 2360]"
    _same(short, "x" * 80_000 + " " + short)
