"""nginx's error lines inside syslog, journald, docker compose and ``kubectl logs --prefix`` are
read by the native scanner (``_scan.c`` ``parse_line``: where ``unwrap``'s whole loop stops,
``native/unwrap_ascii.h`` ``unwrap_at``), not handed one by one to the per-line recogniser; and
``kubectl logs --prefix``'s ``[pod/NAME/CONTAINER]`` is a layer ``unwrap`` strips, so such a line
keeps nginx's own time.

Scored before the change (stop 70), ``why502 classify`` of 200k lines of the outage log, each
framed: 0.30 s plain; 17.7 s in BSD syslog (``journalctl -u nginx``), 14.3 s in ISO syslog
(``-o short-iso``), 12.5 s behind compose's ``web-1  | ``, 42.7 s behind kubectl's prefix -- and
there every symptom's first and last time were null (the line was read by the search for a
headless nginx message, with no time).  The engines' equality on every framing (both engines,
every real line wrapped) is ``test_classify_native.py::test_wrapped_real_lines`` and
``test_classify_engines.py``, which hold these framings too.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.classify.test_classify_engines import WRAPPERS, YEAR, recognised_real_lines
from tests.classify.test_classify_native import BUILT, assert_engines_equal, write_lines
from why502.parsers import errorlog_native
from why502.parsers.errorlog import classify_line

NGINX_HEAD = re.compile(r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d \[")

#: the framings the scanner reads where unwrap's loop stops (its own peel: docker, CRI, timestamps)
UNWRAPPED = ["syslog-bsd", "syslog-pri", "journal-short-iso", "compose-dash", "compose-underscore",
             "compose+timestamps", "kubectl-prefix", "kubectl-prefix+timestamps"]


def _plain_ascii() -> list[str]:
    """Recognised real nginx lines the scanner reads (printable ASCII, no escaped quote, no
    backslash at the end or before a last n: what ``unwrap_at`` answers for), and those lines with
    nginx's escape of a byte (``\\x16``) inside."""
    lines = [ln for ln in recognised_real_lines()
             if NGINX_HEAD.match(ln) and ln.isascii() and ln.isprintable() and '\\"' not in ln
             and not ln.endswith(("\\", "\\n"))]
    return lines + [ln.replace(", client:", " \\x16\\x03\\x01, client:", 1) for ln in lines]


@pytest.mark.skipif(not BUILT, reason="the native scanner was not built")
@pytest.mark.parametrize("framing", UNWRAPPED)
def test_the_scanner_reads_nginx_lines_in_every_framing(framing: str) -> None:
    import why502.proxies  # noqa: F401  (the registry hands the scanner to errorlog_native)

    lines = _plain_ascii()
    assert len(lines) > 50
    scanner = errorlog_native.RuleBook().scanner()
    plain, plain_back = scanner.summarize("\n".join(lines).encode())
    framed, back = scanner.summarize("\n".join(WRAPPERS[framing](ln) for ln in lines).encode())
    assert framed == plain
    # the same lines handed back (an also-rule's or a repair's), none for the framing
    assert (back or b"").count(b"\n") == (plain_back or b"").count(b"\n")


@pytest.mark.parametrize("framing", ["kubectl-prefix", "kubectl-prefix+timestamps"])
def test_a_kubectl_prefixed_line_keeps_its_time(framing: str) -> None:
    """Each real line behind the prefix alone; nginx's lines behind the prefix and a timestamp
    too (another program's line without a time of the same shape takes the outermost time,
    as behind a timestamp alone)."""
    lines = [ln for ln in recognised_real_lines() if framing == "kubectl-prefix" or NGINX_HEAD.match(ln)]
    assert len(lines) > 50
    for line in lines:
        plain = classify_line(line, year=YEAR)
        framed = classify_line(WRAPPERS[framing](line), year=YEAR)
        assert plain is not None and framed is not None, line
        if plain.time is not None:
            assert framed.time == plain.time, line


CLF = ('198.51.100.7 - - [28/Nov/2026:09:00:00 +0000] "GET /x?upstream timed out HTTP/1.1" 502 157 "-" '
       '"connect() failed (111: Connection refused) while connecting to upstream"')
PREFIXES = ["", "Nov 28 09:00:01 web1 nginx[31]: ", "Nov  1 09:00:01 web1 nginx: ",
            "<11>Nov 28 09:00:01 h nginx[1]: ", "2026-11-28T09:00:01+00:00 web1 nginx[31]: ",
            "2026-11-28T09:00:01Z h app 1 - - ", "web-1  | ", "web_1 |", "[pod/a-b.c/d] ", "[pod/x/] ",
            "2026-11-28T09:00:01.5Z ", "2026-11-28T09:00:01Z stdout F ", "kernel: ", "[ 12.5] ",
            "1 h 2026-11-28T09:00:01Z h t: "]
BENDS: list[Callable[[str], str]] = [
    lambda s: s.replace(" ", "  ", 1), lambda s: s.replace(":", "", 1), lambda s: s[:-1],
    lambda s: s.replace("[", "", 1), lambda s: s.upper(), lambda s: s.replace('"', '\\"', 1),
    lambda s: s + "\r", lambda s: s.replace(" ", "\t", 1)]


@pytest.mark.skipif(not BUILT, reason="the native scanner was not built")
@pytest.mark.parametrize("seed", [1, 2])
def test_framings_stacked_and_bent_read_alike_by_both_engines(seed: int, tmp_path: Path) -> None:
    """nginx lines and access-log request lines behind zero to two framings, some bent a
    character at a time: the scanner (``clf_request``, ``unwrap_at``) and the polars engine give
    the same summary and records."""
    rng = random.Random(seed)
    nginx = [ln for ln in recognised_real_lines() if NGINX_HEAD.match(ln)][:200]
    lines = []
    for _ in range(1500):
        body = (rng.choice(nginx) if rng.random() < 0.6
                else rng.choice([CLF, CLF.replace(" 502 ", " 50 "), CLF[:rng.randrange(len(CLF))]]))
        line = "".join(rng.choice(PREFIXES) for _ in range(rng.choice([0, 1, 1, 2]))) + body
        lines.append(rng.choice(BENDS)(line) if rng.random() < 0.3 else line)
    assert_engines_equal([write_lines(tmp_path / "mixed.log", lines)])
