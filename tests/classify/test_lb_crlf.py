"""An edge's log whose lines end in CRLF (written or copied on Windows), or that starts with a
byte-order mark, reads as the same log with LF and without: ``stats``, ``classify`` and
``diagnose`` give the same documents.

Found by a sweep of the commands over 5,000-line logs of nine families (stop 68): Traefik's
common-format log with CRLF was no Traefik log (its line ends in ``ms``, the ``\\r`` after it):
``classify`` found no failure and ``diagnose`` only ``unexplained-5xx``.  The other families
read alike already; they are kept here so that stays so.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import RunMain
from tests.stats.test_lb_frames import _corpus
from tests.support.reports import without_timing
from tests.support.variants import documents
from why502.proxies.logfamilies import families


def _no_cr(doc: Any) -> Any:
    """``doc`` with each text's ``\\r`` at its end taken off: the evidence quotes a line as the
    file holds it (the JSON report keeps its ``\\r``; the text and Markdown ones print none)."""
    if isinstance(doc, dict):
        return {k: _no_cr(v) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_no_cr(v) for v in doc]
    return doc.removesuffix("\r") if isinstance(doc, str) else doc


@pytest.mark.parametrize("family", ["traefik", "envoy", "alb", "caddy"])
def test_crlf_lines_read_as_lf_lines(family: str, tmp_path: Path, run_main: RunMain) -> None:
    fams = families()
    lines = [ln for ln in _corpus() if fams.parse_line(ln, family) is not None]
    assert len(lines) >= 8
    ways = {"lf": "\n".join(lines).encode() + b"\n", "crlf": "\r\n".join(lines).encode() + b"\r\n"}
    for argv in (("stats", "LOG", "--format", "json", "--no-progress"),
                 ("classify", "LOG", "--format", "json"),
                 ("diagnose", "--offline", "--access-log", "LOG", "--format", "json")):
        lf, crlf = documents(run_main, tmp_path, ways, *argv, normalize=lambda d: _no_cr(without_timing(d)))
        assert crlf == lf, (family, argv[0])


def test_a_traefik_common_format_line_with_its_cr_is_traefik_s() -> None:
    line = ('192.0.2.1 - - [21/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 502 11 "-" "-" 1 '
            '"web@docker" "http://10.0.0.14:8080" 25ms')
    fams = families()
    assert fams.parse_line(line, "traefik") is not None
    assert fams.parse_line(line + "\r", "traefik") == fams.parse_line(line, "traefik")
    assert fams.detect([line + "\r"] * 5) == "traefik"


@pytest.mark.parametrize("family", ["alb", "traefik"])
def test_a_byte_order_mark_before_the_first_line_is_not_part_of_it(family: str, tmp_path: Path,
                                                                   run_main: RunMain) -> None:
    """A UTF-8 byte-order mark (a log saved by a Windows editor): ALB's first line was unparsed
    with it (the sweep of stop 68: 4,999 of 5,000 requests)."""
    fams = families()
    lines = [ln for ln in _corpus() if fams.parse_line(ln, family) is not None]
    text = "\n".join(lines).encode() + b"\n"
    ways = {"plain": text, "bom": b"\xef\xbb\xbf" + text}
    for argv in (("stats", "LOG", "--format", "json", "--no-progress"),
                 ("diagnose", "--offline", "--access-log", "LOG", "--format", "json")):
        plain, bom = documents(run_main, tmp_path, ways, *argv)
        assert bom == plain, (family, argv[0])
