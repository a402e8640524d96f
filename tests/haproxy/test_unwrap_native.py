"""Where ``wrappers.unwrap``'s text starts, found natively (``native/unwrap_ascii.h``).

HAProxy's session lines take their record's message from it (``_hapscan.session_failed`` and
``session_jsonl``; ``proxies/haproxy/classifyfold.known_lines`` asks ``unwrap`` of the lines they
hand back).
The native offset must be unwrap's on every line it answers for: each layer alone, the layers
stacked as shippers stack them, each bent one character at a time around what its regex
decides (a day of one digit, a fraction without digits, a pid that is no number, a level word
as the host, a 4-digit PRI, ...), and random lines from an alphabet of the characters the
regexes turn on.  It may say -1 ("ask Python"), never a wrong offset; and it must answer for the
shapes HAProxy writes, or the speed is lost.
"""

from __future__ import annotations

import itertools
import random

import pytest

from tests.support.native import native_pass
from why502.parsers.wrappers import unwrap

BUILT, pytestmark = native_pass("why502.proxies.haproxy._hapscan", "HAProxy's native httplog pass")

SESSION = ('192.168.130.60:33492 [21/Nov/2026:10:00:00.000] fe static/web1 0/0/-1/-1/1 503 217 - - SC-- '
           '1/1/0/0/0 0/0 "GET /search?q=x HTTP/1.1"')

# one layer each, as the programs write them (and as unwrap's regexes take them)
LAYERS = [
    "",
    "<134>", "<9>", "<191>1 ",
    "Nov 21 10:00:00 lb1 haproxy[29614]: ", "Nov  1 10:00:00 lb1 haproxy[1]: ",
    "Nov 1 10:00:00 lb1 haproxy: ",
    "Nov 21 10:00:00.123456 lb1 haproxy[7]: ", "Nov 21 10:00:00 haproxy[29614]: ",
    "2026-11-21T10:00:00Z lb1 haproxy[1]: ", "2026-11-21T10:00:00.123+01:00 lb1 haproxy: ",
    "2026-11-21 10:00:00,5-0530 lb1 haproxy[2]: ", "1 lb1 2026-11-21T10:00:00Z lb1 haproxy[1]: ",
    "2026-11-21T10:00:00Z lb1 haproxy 29614 - - ", "2026-11-21T10:00:00Z lb1 haproxy 1 ID47 [ex@1 a=\"b\"] ",
    "2026-11-21T10:00:00.000000001Z stdout F ", "2026-11-21T10:00:00Z stderr P", "2026-11-21T10:00:00Z ",
    "haproxy-1  | ", "lb_1 |", "[ 1234.567890] ", "[12.5] ", "kernel: ", "kernel: [ 1.000] ",
    "[pod/haproxy-7d9c5b-x2x/haproxy] ", "[pod/lb.example-0/] ",
]

# each layer bent where its regex decides
BENT = [
    "<1234>", "<>", "<13", "<13>1", "Nov 21 10:00:00 lb1 haproxy[]: ", "Nov 21 10:00:00 lb1 haproxy[1]:",
    "Nov 2 1 10:00:00 lb1 haproxy[1]: ", "Nov 21 10:00:00. lb1 haproxy[1]: ",
    "nov 21 10:00:00 lb1 haproxy[1]: ", "Nov 21 10:00:00  lb1 haproxy[1]: ",
    "Nov 21 10:00:00 lb1 hap:roxy[1]: ", "Nov 21 10:0:00 lb1 haproxy[1]: ",
    "2026-11-21T10:00:00Z INFO haproxy[1]: ", "2026-11-21T10:00:00Z INFOx haproxy[1]: ",
    "2026-11-21T10:00:00+0100 lb1 haproxy[1]: ", "2026-11-21T10:00:00+01:0 lb1 haproxy[1]: ",
    "2026-11-21T10:00:00+01 lb1 haproxy[1]: ", "2026-11-21T10:00:00. lb1 haproxy[1]: ",
    "2026-11-21T10:00:00Z1 lb1 haproxy[1]: ", "2026-11-21X10:00:00Z lb1 haproxy[1]: ",
    "2026-11-21T10:00:00Z lb1 haproxy 1 ID47 [a] b] ", "2026-11-21T10:00:00Z lb1 haproxy 1 ID47 -x ",
    "2026-11-21T10:00:00Z stdout X ", "2026-11-21T10:00:00Z stdouts F ", "1  lb1 2026-11-21T10:00:00Z h t: ",
    "haproxy-1 | ", "haproxy-1|", "[1234.] ", "[ 1.2]", "kernel:", "kernel: [1.2]", "-web | ",
    " <134>", "{\"log\":\"x\"} ", "\"msg\": \"x\" ", "<134>\\\"", "\u00e9<134>",
    "[pod/Haproxy/x] ", "[pod/-x/y] ", "[pod/x/y]", "[pod/x/Y] ", "[pod/x] ", "[pod//y] ", "[pods/x/y] ",
    "[pod/x/y/z] ", "[pod/x_y/z] ",
    # RFC 5424's host is never a second stamp (kubectl's time before an ISO syslog head): taken
    # as _TS_PREFIX, then the rest; a host that only looks like one is a host
    "2026-11-21T10:00:00Z 2026-11-21T10:00:00Z lb1 haproxy 1 - ",
    "2026-11-21T10:00:00Z 2026-11-21 10:00:00 h a 1 - ",
    "2026-11-21T10:00:00.1Z 2026-11-21T10:00:00+0100 lb1 haproxy[9]: ",
    "2026-11-21T10:00:00Z 2026-11-21T10:00:0 lb1 h 1 - ",
    "2026-11-21T10:00:00Z 2026-11-21T10:00:00. a b c - ",
    "2026-11-21T10:00:00Z 2026-11-21T10:00:00Zx a b c - ",
]


def _same(line: str) -> int:
    """The native offset of ``line`` checked against ``unwrap``; returns it (-1: not answered)."""
    from why502.proxies.haproxy import _hapscan

    at = _hapscan.unwrap_offset(line.encode("utf-8"))
    if at >= 0:
        assert line[at:] == unwrap(line).text, (line, at, unwrap(line).text)
    return at


@pytest.mark.parametrize("tail", [SESSION, "plain text: a message", "", "Nov 21 10:00:00 x y: z"])
def test_every_layer_and_every_pair_gives_unwraps_text(tail: str) -> None:
    answered = 0
    for a, b in itertools.product(LAYERS + BENT, repeat=2):
        answered += _same(a + b + tail) >= 0
    assert answered > 0.8 * (len(LAYERS) + len(BENT)) ** 2


def test_three_deep_stacks_and_more_than_eight_layers() -> None:
    """unwrap stops after eight rounds: a ninth layer stays in the text."""
    rng = random.Random(62)
    for _ in range(3000):
        _same("".join(rng.choice(LAYERS) for _ in range(rng.randint(3, 10))) + SESSION)
    nine = "<1>" * 9 + SESSION
    assert _same(nine) == 24 and unwrap(nine).text.startswith("<1>" + SESSION[:3])


def test_random_lines_of_the_characters_the_regexes_turn_on() -> None:
    rng = random.Random(28)
    alphabet = "<>[]:. -+TZ|1234567890NovINFOkernl_/@,\"{ab"
    pieces = [*LAYERS, *BENT, "2026-11-21T10:00:00", "Nov 21 10:00:00", "stdout", "F", "haproxy[", "]: "]
    for _ in range(20000):
        parts = [rng.choice(pieces) if rng.random() < 0.5 else
                 "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 6)))
                 for _ in range(rng.randint(1, 5))]
        _same("".join(parts))


def test_the_shapes_haproxy_writes_are_answered() -> None:
    for head in ("", "<134>", "<134>Nov 21 10:00:00 haproxy[29614]: ", "Nov 21 10:00:00 lb1 haproxy[1]: ",
                 "<134>2026-11-21T10:00:00+01:00 lb1 haproxy[29614]: ",
                 "2026-11-21T10:00:00.123Z haproxy[1]: "):
        assert _same(head + SESSION) >= 0, head


@pytest.mark.parametrize("line", [SESSION + "\\", "\u00e9" + SESSION, "\t" + SESSION, " " + SESSION,
                                  '{"log":"' + SESSION + '"}', SESSION + "\r"])
def test_what_python_must_say_is_left_to_it(line: str) -> None:
    from why502.proxies.haproxy import _hapscan

    assert _hapscan.unwrap_offset(line.encode("utf-8")) == -1


def test_every_fixture_line_it_answers_for_is_unwraps() -> None:
    """The lines real programs wrote (every text file of the fixtures: nginx, HAProxy, Apache,
    the edges, syslog, journald, CRI, docker, kubectl), each as the native offset reads it."""
    from tests.support.paths import FIXTURES_DIR

    answered = 0
    for path in sorted(FIXTURES_DIR.rglob("*")):
        if not path.is_file() or path.stat().st_size > 20_000_000:
            continue
        data = path.read_bytes()[:2_000_000]
        if b"\0" in data[:4096]:
            continue
        for raw in data.split(b"\n")[:5000]:
            answered += _same(raw.decode("utf-8", errors="replace")) >= 0
    assert answered > 3000
