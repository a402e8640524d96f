"""An edge's log whose lines end in CRLF (written or copied on Windows), or that starts with a
byte-order mark, reads as the same log with LF and without: ``stats``, ``classify`` and
``diagnose`` give the same documents.

Found by a sweep of the commands over 5,000-line logs of nine families (stop 68): Traefik's
common-format log with CRLF was no Traefik log (its line ends in ``ms``, the ``\\r`` after it):
``classify`` found no failure and ``diagnose`` only ``unexplained-5xx``.  The other families
read alike already; they are kept here so that stays so.

Stop 69: the same documents came 4-13x slower with CRLF (200k lines of Caddy: ``stats`` 4.9 s
against 0.4 s): every native pass handed each such line back to the Python parsers.  The passes
now read a line without its ``\\r`` (``native/arrow_buf.h`` ``scan_lines``, nginx's
``split_quoted``), as those parsers do, and the JSON report's evidence quotes no ``\\r``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import RunMain
from tests.stats.test_lb_frames import _corpus
from tests.support.reports import without_timing
from tests.support.variants import documents
from why502.proxies.logfamilies import families


@pytest.mark.parametrize("family", ["traefik", "envoy", "alb", "caddy", "cloudflare"])
def test_crlf_lines_read_as_lf_lines(family: str, tmp_path: Path, run_main: RunMain) -> None:
    fams = families()
    lines = [ln for ln in _corpus() if fams.parse_line(ln, family) is not None]
    assert len(lines) >= 8
    ways = {"lf": "\n".join(lines).encode() + b"\n", "crlf": "\r\n".join(lines).encode() + b"\r\n"}
    for argv in (("stats", "LOG", "--format", "json", "--no-progress"),
                 ("classify", "LOG", "--format", "json"),
                 ("diagnose", "--offline", "--access-log", "LOG", "--format", "json")):
        lf, crlf = documents(run_main, tmp_path, ways, *argv, normalize=without_timing)
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


@pytest.mark.parametrize("family", ["alb", "cloudflare", "envoy", "caddy", "traefik"])
def test_the_native_block_reader_reads_crlf_lines_itself(family: str) -> None:
    """Each line the family's native reader takes with LF it takes with CRLF too, into the same
    rows: none goes back to the Python parsers (which were 4-13x slower, stop 69)."""
    fams = families()
    reader = fams.block(family)
    # (the published Logpush lines' redacted numbers, ``******``, made numbers: the pass reads those)
    lines = [x for ln in _corpus() if fams.parse_line(x := ln.replace("******", "0"), family) is not None]
    lf = reader("\n".join(lines).encode() + b"\n") if reader is not None else None
    if lf is None:
        pytest.skip(f"{family}: its native pass was not built")
    crlf = reader("\r\n".join(lines).encode() + b"\r\n")
    assert crlf is not None
    assert lf[0].height >= 5, family  # the pass reads lines of its family
    assert list(crlf[1]) == list(lf[1]), family
    assert crlf[0].equals(lf[0]), family


def test_nginx_s_access_columns_read_crlf_lines_themselves(tmp_path: Path, run_main: RunMain) -> None:
    """nginx's C split reads a CRLF access line whole (the ``\\r`` is no value's), as the
    polars path does: ``stats`` gives the same document either way, and no line goes back."""
    from why502 import proxies  # noqa: F401  (installs the native scanner's loader)
    from why502.evidence.stats.parser import LineParser
    from why502.parsers.log_format import PREDEFINED, compile_format

    lines = [f'192.0.2.{k} - - [21/Nov/2026:10:00:{k % 60:02d} +0000] "GET /a/{k} HTTP/1.1" '
             f'{502 if k % 7 == 0 else 200} {100 + k} "-" "curl/8.5.0"' for k in range(1, 200)]
    parser = LineParser(compile_format(*PREDEFINED["combined"], name="combined"))
    if not parser.runs_native:
        pytest.skip("nginx's native scanner was not built")
    for end in (b"\n", b"\r\n"):
        _out, _rows, _folded, back = parser._fast_out(end.join(ln.encode() for ln in lines) + end)
        assert not back, end
    ways = {"lf": "\n".join(lines).encode() + b"\n", "crlf": "\r\n".join(lines).encode() + b"\r\n"}
    lf, crlf = documents(run_main, tmp_path, ways, "stats", "LOG", "--format", "json", "--no-progress",
                         normalize=without_timing)
    assert crlf == lf
