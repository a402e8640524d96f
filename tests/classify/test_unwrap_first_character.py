"""``parsers.wrappers.unwrap`` tries each layer's regex only where the line's first character can
start it (every one is anchored at the start).  A layer whose regex took a character its guard
does not would be skipped silently: a line's wrapper kept, its message misread.  Each regex is
run here on lines of every wrapper, cut and prefixed with characters of many kinds (Unicode
digits -- ``\\d`` takes them --, Unicode spaces, letters, brackets), and must match only where
its guard lets it."""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from why502.parsers import wrappers as w

# the guard of each layer, as ``unwrap`` writes it
GUARDS: dict[str, tuple[re.Pattern[str], Callable[[str], bool]]] = {
    "json member": (w._JSON_MEMBER, lambda f: f == '"' or f.isspace()),
    "cri": (w._CRI, str.isdecimal),
    "pri": (w._PRI, lambda f: f == "<"),
    "syslog iso": (w._SYSLOG_ISO, str.isdecimal),
    "syslog 5424": (w._SYSLOG_5424, str.isdecimal),
    "syslog bsd": (w._SYSLOG_BSD, lambda f: "A" <= f <= "Z"),
    "timestamps": (w._TS_PREFIX, str.isdecimal),
    "compose": (w._COMPOSE, lambda f: f.isascii() and f.isalnum()),
    "dmesg": (w._DMESG, lambda f: f == "["),
    "kernel tag": (w._KERNEL_TAG, lambda f: f == "k"),
}

WRAPPERS = [
    "<134>", "<13>1 ", "2026-11-21T10:00:00Z stdout F ", "2026-11-21T10:00:00.123+01:00 host app[1]: ",
    "Nov 21 10:00:00 host tag[1]: ", "Nov  1 10:00:00 h t: ", "web_1  | ", "[  12.345] ", "kernel: ",
    '  "msg": "x\\" y",', "2 host 2026-11-21T10:00:00Z h t: ", "2026-11-21T10:00:00Z h app 1 - - ",
    "\u0663\u0663\u0663\u0663-\u0661\u0661-21T10:00:00Z ", "kernel: [  1.5] ",
]
FIRSTS = ["", " ", "\t", "\u2003", "\x1c", "\u0663", "\u00b2", "7", "A", "z", "É", "k", "[", "<", '"', "{",
          "|"]
LINE = "upstream timed out (110: Connection timed out) while reading response header"


def test_each_layer_matches_only_where_its_guard_lets_it() -> None:
    rng = random.Random(11)
    texts = {LINE}
    for _ in range(4000):
        wrapped = "".join(rng.choice(WRAPPERS) for _ in range(rng.randrange(1, 3))) + LINE
        texts.add(wrapped)
        texts.add(wrapped[rng.randrange(len(wrapped)):])
        texts.add(rng.choice(FIRSTS) + wrapped)
        texts.add(rng.choice(FIRSTS) + wrapped[1:])
        texts.add(rng.choice(FIRSTS) + rng.choice(FIRSTS) + '"message" : "' + LINE + '",')  # a member alone
    matched = dict.fromkeys(GUARDS, 0)
    for text in texts:
        for name, (rx, guard) in GUARDS.items():
            if rx.match(text):
                matched[name] += 1
                assert guard(text[:1]), (name, text)
    assert all(matched.values()), matched  # every layer met lines it peels


def test_unwrap_peels_the_layers_behind_each_first_character() -> None:
    """The layers still peel when stacked: the guards look at the text of each round."""
    got = w.unwrap("<134>Nov 21 10:00:00 host haproxy[29614]: " + LINE, year=2026)
    assert got.text == LINE and got.tag == "haproxy" and got.time == "2026-11-21T10:00:00"
    got = w.unwrap("2026-11-21T10:00:00Z stdout F web_1  | [  12.345] " + LINE)
    assert got.text == LINE and got.time is not None
    got = w.unwrap('   {"log":"' + LINE + '\\n","time":"2026-11-21T10:00:00Z"}')
    assert got.text == LINE and got.time is not None
