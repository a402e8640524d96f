"""An edge's log piped in: ``stats --log-type F -`` reads it as the file (``diagnose
--access-log - --log-type F`` did already).

Found by a sweep of the commands (stop 68): ``stats`` refused stdin ("--log-type F reads files
(or a directory), not stdin"), while ``diagnose`` read it; without ``--log-type`` an edge's log
on stdin was read as nginx's (stdin was not sniffed: it is read once); stop 69 sniffs it on the
head its one reader replays.  (``classify --log-type F -`` reads it too since:
tests/classify/test_classify_edge_stdin.py.)
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.stats.test_lb_frames import _corpus
from tests.support.clirun import WHY502
from tests.support.reports import without_timing
from why502.proxies.logfamilies import families


def _run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([WHY502, *args], input=stdin, capture_output=True, timeout=120, check=False)


@pytest.mark.parametrize("family", ["caddy", "alb", "envoy"])
def test_an_edge_log_on_stdin_reads_as_the_file(family: str, tmp_path: Path) -> None:
    fams = families()
    data = ("\n".join(ln for ln in _corpus() if fams.parse_line(ln, family) is not None) + "\n").encode()
    log = tmp_path / "edge.log"
    log.write_bytes(data)
    piped = _run("stats", "--log-type", family, "-", "--format", "json", "--no-progress", stdin=data)
    named = _run("stats", "--log-type", family, str(log), "--format", "json", "--no-progress")
    assert piped.returncode == named.returncode and piped.returncode in (0, 1), piped.stderr
    got = without_timing(json.loads(piped.stdout))
    want = without_timing(json.loads(named.stdout.replace(json.dumps(str(log)).encode(), b'"-"')))
    assert got == want, family


@pytest.mark.parametrize("family", ["caddy", "alb", "traefik"])
@pytest.mark.parametrize("argv", [("stats", "--format", "json", "--no-progress"),
                                  ("classify", "--format", "jsonl"),
                                  ("diagnose", "--offline", "--format", "json", "--access-log")])
def test_an_edge_log_on_stdin_without_its_type_is_sniffed(family: str, argv: tuple[str, ...],
                                                          tmp_path: Path) -> None:
    """Without ``--log-type`` too (stop 69): its head is peeked by the stream's one reader and
    replayed to the read (``sources.replay``); it was read as nginx's, and ``stats`` refused it."""
    fams = families()
    data = ("\n".join(ln for ln in _corpus() if fams.parse_line(ln, family) is not None) + "\n").encode()
    log = tmp_path / "edge.log"
    log.write_bytes(data)
    piped = _run(*argv, "-", stdin=data)
    named = _run(*argv, str(log))
    assert piped.returncode == named.returncode and piped.returncode in (0, 1), piped.stderr
    text = named.stdout.replace(json.dumps(str(log))[1:-1].encode(), b"-")
    if argv[0] == "classify":
        assert piped.stdout == text and piped.stdout, family
    else:
        assert without_timing(json.loads(piped.stdout)) == without_timing(json.loads(text)), family
