"""Regexes that read a run from each of its characters, rewritten to start where the run does.

Timing every module-level regex of the package on lines that repeat its literals or a run of
blanks (8 KB against 32 KB) found these taking the square of the run (12-46 s for 32 KB); the
same Go-duration pattern written inline in Traefik's and cloudflared's configs came with them.  A
start inside a run of the class the regex begins with finds what the run's first character
finds, so each is now started there alone (a look-behind).  Each test compares the new regex
with the old one on generated text -- the same ``findall``, ``split`` or ``sub`` -- and reads a
long run at once.  The look-behind is the whole change: the old patterns are copied here.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
from collections.abc import Callable

import pytest

from why502 import timeargs
from why502.parsers import system_text
from why502.proxies.caddy import config as caddy_config
from why502.proxies.cloudflared import config as cloudflared_config
from why502.proxies.traefik import config as traefik_config
from why502.proxies.traefik import log as traefik_log

_Use = Callable[[re.Pattern[str], str], object]

CASES: dict[str, tuple[re.Pattern[str], re.Pattern[str], _Use, list[str]]] = {
    "traefik _NEXT_FIELD": (re.compile(r"\s+[A-Za-z]\w{0,64}="), traefik_log._NEXT_FIELD,
                            lambda rx, text: rx.split(text, 1),
                            [" ", "  ", "\t", "\n", "a", "routerName", "=", "EOF", "1", "_", "x="]),
    "system _KV": (re.compile(r'(\w+)=("(?:[^"]*)"|\S+)'), system_text._KV, lambda rx, text: rx.findall(text),
                   ["a", "1", "_", "=", '"', " ", "comm", '"nginx"', "é", "-", "pid=", "x y"]),
    "caddy _GO_DURATION": (re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h|d)"), caddy_config._GO_DURATION,
                           lambda rx, text: rx.findall(text),
                           ["1", "23", ".", ".5", "s", "ms", "µs", "m", "h", "x", " ", "٣"]),
    "traefik _GO_DURATION": (re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)"), traefik_config._GO_DURATION,
                             lambda rx, text: rx.findall(text),
                             ["1", "23", ".", ".5", "s", "ms", "µs", "m", "h", "x", " ", "٣"]),
    "cloudflared _GO_DURATION": (re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)"),
                                 cloudflared_config._GO_DURATION, lambda rx, text: rx.findall(text),
                                 ["1", "23", ".", ".5", "s", "ms", "µs", "m", "h", "x", " "]),
    "timeargs _DURATION_PART": (re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)", re.ASCII),
                                timeargs._DURATION_PART,
                                lambda rx, text: (rx.findall(text), rx.sub("", text)),
                                ["1", "23", ".", ".5", "s", "ms", "m", "h", "d", "x", " "]),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_rewritten_regex_reads_as_the_old(name: str) -> None:
    before, now, use, pieces = CASES[name]
    rnd = random.Random(11)
    for _ in range(30_000):
        text = "".join(rnd.choice(pieces) for _ in range(rnd.randrange(1, 12)))
        assert use(now, text) == use(before, text), text


_LONG_RUNS = """
from why502 import timeargs
from why502.parsers import system_text
from why502.proxies.caddy import config
from why502.proxies.traefik import config as traefik_config, log
from why502.proxies.cloudflared import config as cloudflared_config
for rx, piece in ((log._NEXT_FIELD, " "), (system_text._KV, "1"), (config._GO_DURATION, "1"),
                  (timeargs._DURATION_PART, "1"), (traefik_config._GO_DURATION, "1"),
                  (cloudflared_config._GO_DURATION, "1")):
    rx.split(piece * 1_000_000, 1)
    rx.findall(piece * 1_000_000)
"""


def test_a_mib_run_is_read_at_once() -> None:
    """A MiB run of the class each begins with, in a child under a hang guard (the old patterns:
    hours; the new ones: well under a second each).  No speed is asserted."""
    done = subprocess.run([sys.executable, "-c", _LONG_RUNS], capture_output=True, text=True, timeout=240,
                          check=False, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr[-2000:]
