"""Pasted pieces and mangled lines (parsers.normalize), and what ``explain`` says it could not see."""

from __future__ import annotations

import random

import pytest

from why502.app.explain import explain
from why502.parsers import normalize as normalize_module
from why502.parsers.errorlog import classify_line
from why502.parsers.normalize import errno_of_text, normalize

FULL = ('2024/05/01 12:00:02 [crit] 2107#2107: *1850 connect() to unix:/run/php/php8.2-fpm.sock failed '
        '(2: No such file or directory) while connecting to upstream, client: 203.0.113.9, server: x, '
        'request: "GET / HTTP/1.1", upstream: "fastcgi://unix:/run/php/php8.2-fpm.sock:", host: "x"')


@pytest.mark.parametrize(("line", "symptom"), [
    ("connect() to unix:/run/x.sock failed (13: Permission denied)", "permission-denied"),
    ("(104: Connection reset by peer) while connecting to upstream", "connection-reset"),
    ("failed (113: No route to host) while connecting to upstream, client: 10.0.0.1", "unreachable"),
    ("(Connection refused) while connecting to upstream", "connection-refused"),
    (FULL.replace("*1850 ", "_1850 "), "socket-not-found"),
    (FULL.replace("*1850 ", "* 1850 "), "socket-not-found"),
    (FULL.replace("connect() to unix:", "connect () to unix: "), "socket-not-found"),
    (FULL.replace('"', "\u201c")[:180] + "\u2026", "socket-not-found"),
])
def test_fragments_and_mangled_lines(line: str, symptom: str) -> None:
    c = classify_line(line)
    assert c is not None and c.symptom == symptom, line


def test_normalize_leaves_clean_lines_alone_and_names_repairs() -> None:
    assert not normalize(FULL).changed
    got = normalize(FULL.replace("*1850 ", "_1850 "))
    assert got.text == FULL and got.repairs == ("connection number mangled by Markdown",)
    assert errno_of_text("Resource temporarily unavailable: x") == 11
    assert errno_of_text("nothing") is None


def test_event_and_side_are_in_the_record() -> None:
    c = classify_line('[WARNING]  (8) : Server be/web1 is DOWN, reason: Layer4 timeout, check duration: '
                      '2000ms. 0 active and 0 backup servers left.')
    assert c is not None
    assert (c.symptom, c.event, c.side) == ("connect-timeout", "upstream-marked-down", "backend")
    c = classify_line('Health check for server be/web1 failed, reason: Layer4 connection problem, info: '
                      '"Connection refused", check duration: 0ms, status: 2/3 UP.')
    assert c is not None and (c.symptom, c.event) == ("connection-refused", None)
    c = classify_line("10.0.0.1:5000 [06/Feb/2009:12:14:14.655] fe be/web1 0/0/1/-1/15004 -1 0 - - CD-- "
                      '1/1/0/0/0 0/0 "POST /x HTTP/1.1"')
    assert c is None  # client-side termination: not a backend failure


def test_explain_says_what_a_fragment_leaves_out() -> None:
    got = explain("(104: Connection reset by peer) while connecting to upstream")
    assert got.line is not None and got.line.symptom == "connection-reset"
    assert got.line.unseen == ("timestamp", "upstream", "client", "request")
    assert got.to_dict()["line"]["unseen"] == ["timestamp", "upstream", "client", "request"]
    full = explain(FULL)
    assert full.line is not None and full.line.unseen == () and full.line.repaired == ()


def test_the_stop_after_the_action_is_dropped_as_the_regex_drops_it() -> None:
    """``_drop_action_stop`` reads from the line's end what ``_ACTION_STOP.sub`` found from every
    `` while `` (each try to the end of its run: 3.5 s for 36 KB of `` while``): generated lines
    of the pieces it turns on give the same text."""
    rnd = random.Random(5)
    pieces = [" while ", " while", "while ", " ", "a", "b", "W", ".", ";", ",", "\n", " \t", "x.", "1", "z",
              "\u00a0", "\x1c", "\u00e9"]
    changed = 0
    for _ in range(100_000):
        text = "".join(rnd.choice(pieces) for _ in range(rnd.randrange(1, 10)))
        want = normalize_module._ACTION_STOP.sub(r"\1", text)
        assert normalize_module._drop_action_stop(text) == want, text
        changed += want != text
    assert changed > 500, changed
