"""An edge's log piped in: ``classify --log-type F -`` writes what it writes for the file, byte
for byte, in ``--format jsonl`` and ``json``, plain or gzip'ed, from stdin or a FIFO.

Why: ``classify --log-type F`` refused stdin, and when it was allowed its ``--format jsonl``
lost the rows of the log's first ~256 KiB (and all of a gzip'ed stdin) while ``--format json``
was right.  The jsonl writer sniffs the log's head for its batch size and its answering pass
(``app.stats.lb._jsonl_batch``, ``_answers_apply``: ``sources.byte_chunks.head_lines``), which
kept the peeked bytes in a replay of its own, and the read that followed
(``sources.logfiles``) took ``sys.stdin.buffer`` from after them.  Both readers now share one
replaying reader per stream (``sources.replay``).  The logs here are longer than that head, so
both the replayed head and the rest of the stream are read.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import threading
from pathlib import Path

import pytest

from tests.stats.test_lb_jsonl import FAMILIES, _published
from tests.support.clirun import WHY502

#: past the 256 KiB a sniff of the head peeks (``head_lines``), by this much at least
LOG_BYTES = 700 << 10


def _run(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([WHY502, "classify", "--no-progress", *args], input=stdin, capture_output=True,
                          timeout=120, check=False)


def _log(family: str) -> bytes:
    """The family's published lines that its parser reads, repeated to ``LOG_BYTES``."""
    lines = _published(family, own=True)
    assert lines, family
    one = ("\n".join(lines) + "\n").encode()
    return one * (LOG_BYTES // len(one) + 1)


def _as_stdin(out: bytes, path: Path) -> bytes:
    """The file's output as stdin's: its name is ``-`` there."""
    return out.replace(f'"{path}"'.encode(), b'"-"')


def _same(family: str, fmt: str, tmp_path: Path, data: bytes, name: str = "edge.log") -> bytes:
    log = tmp_path / name
    log.write_bytes(data)
    named = _run("--log-type", FAMILIES[family], "--format", fmt, str(log))
    piped = _run("--log-type", FAMILIES[family], "--format", fmt, "-", stdin=data)
    assert named.returncode == 1, named.stderr  # (every family's published lines hold a failure)
    assert piped.returncode == named.returncode, piped.stderr
    assert piped.stdout == _as_stdin(named.stdout, log), family
    return piped.stdout


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_jsonl_from_stdin_is_the_files(family: str, tmp_path: Path) -> None:
    rows = _same(family, "jsonl", tmp_path, _log(family)).splitlines()
    assert rows and rows[0].startswith(b'{"line": '), family


@pytest.mark.parametrize("family", ["caddy", "alb", "traefik"])
def test_the_summary_from_stdin_is_the_files(family: str, tmp_path: Path) -> None:
    _same(family, "json", tmp_path, _log(family))


@pytest.mark.parametrize("family", ["caddy", "envoy"])
def test_gzip_on_stdin_is_the_gz_files(family: str, tmp_path: Path) -> None:
    """The gzip magic was in the lost head: no row at all came out."""
    _same(family, "jsonl", tmp_path, gzip.compress(_log(family)), "edge.log.gz")


def test_a_fifo_reads_as_the_file(tmp_path: Path) -> None:
    """``<(zcat edge.log.gz)`` is a stream too: the same head was lost."""
    data = _log("caddy")
    log, fifo = tmp_path / "edge.log", tmp_path / "fifo"
    log.write_bytes(data)
    os.mkfifo(fifo)

    def write() -> None:
        with open(fifo, "wb") as fh:
            fh.write(data)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    piped = _run("--log-type", "caddy", "--format", "jsonl", str(fifo))
    writer.join(10)
    named = _run("--log-type", "caddy", "--format", "jsonl", str(log))
    assert piped.returncode == named.returncode == 1, piped.stderr
    assert piped.stdout == named.stdout.replace(str(log).encode(), str(fifo).encode())


def test_no_file_and_a_pipe_reads_stdin(tmp_path: Path) -> None:
    data = _log("alb")
    log = tmp_path / "edge.log"
    log.write_bytes(data)
    piped = subprocess.run([WHY502, "classify", "--log-type", "alb", "--format", "jsonl"], input=data,
                           capture_output=True, timeout=120, check=False)
    assert piped.returncode == 1, piped.stderr
    assert piped.stdout == _as_stdin(_run("--log-type", "alb", "--format", "jsonl", str(log)).stdout, log)


def test_not_the_format_on_stdin_is_one_line(tmp_path: Path) -> None:
    got = _run("--log-type", "caddy", "-", stdin=b"hello\n" * 10)
    assert got.returncode == 3
    assert got.stderr.decode().count("\n") == 1 and b"Traceback" not in got.stderr
