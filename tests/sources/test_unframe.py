"""An access log inside a container runtime's framing (docker's json-file, CRI) is read as the
lines its program wrote (``sources.unframe``).

Scored before the change (a sweep of 30k-line logs of ten families, stop 68): every command
refused docker-framed nginx, Envoy (text and JSON), Caddy and Traefik access logs ("none of the
lines matches the log format", exit 3), refused Traefik's common-format log in CRI framing, and
read a CRI-framed nginx access log with the runtime's time for each client.  Here each framed
log's ``stats``, ``classify`` and ``diagnose`` documents are compared with the plain log's, with
and without the native passes, on the lines of a recorded nginx run and on the published edge
lines of each family; an error log's reader is left to unwrap its lines itself.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from tests.conftest import RunMain
from tests.stats.test_lb_frames import _corpus
from tests.support.paths import FIXTURES_DIR
from tests.support.variants import documents
from why502.proxies.logfamilies import families
from why502.sources.unframe import CRI, DOCKER, Pending, Unframed, framing, unframe_block

T = "2026-11-21T10:00:00.123456789Z"
NGINX_ACCESS = FIXTURES_DIR / "recorded" / "demo-fpm-exhausted" / "access.log"


def _docker(lines: list[str], split_at: int | None = None) -> str:
    """``lines`` as docker's json-file driver writes them; ``split_at``: that line's object
    split in two, as the driver splits a line over 16 KiB (the first part has no newline)."""
    out = []
    for i, line in enumerate(lines):
        parts = [line[:20], line[20:]] if i == split_at and len(line) > 20 else [line]
        for k, part in enumerate(parts):
            text = part + ("\n" if k == len(parts) - 1 else "")
            out.append(json.dumps({"log": text, "stream": "stdout", "time": T}, separators=(",", ":")))
    return "\n".join(out) + "\n"


def _cri(lines: list[str], split_at: int | None = None) -> str:
    """``lines`` as a CRI runtime writes them (``split_at``: that line in a P and an F part)."""
    out = []
    for i, line in enumerate(lines):
        if i == split_at and len(line) > 20:
            out += [f"{T} stdout P {line[:20]}", f"{T} stdout F {line[20:]}"]
        else:
            out.append(f"{T} {'stderr' if i % 3 == 0 else 'stdout'} F {line}")
    return "\n".join(out) + "\n"


def test_a_framing_is_every_head_line_s() -> None:
    assert framing(_cri(["a", "b"]).encode()) == CRI
    assert framing(_docker(["a", "b"]).encode()) == DOCKER
    assert framing(b"a plain line\nanother\n") is None
    mixed = (_cri(["a"]) + "a plain line\n" + _cri(["b"])).encode()
    assert framing(mixed) is None
    assert framing(_cri(["only one"]).encode()) is None  # too few lines to say
    # an access log in a format that starts with an ISO time is not CRI's framing
    iso = b"2026-11-21T10:00:00+00:00 10.0.0.1 GET / 502\n2026-11-21T10:00:01+00:00 10.0.0.1 GET / 200\n"
    assert framing(iso) is None
    # docker's objects with spaces after the colons are not what its driver writes
    assert framing(b'{"log": "a\\n", "stream": "stdout"}\n{"log": "b\\n", "stream": "stdout"}\n') is None


def test_parts_of_a_line_are_joined_and_unframed_lines_kept() -> None:
    assert unframe_block(_cri(["0123456789" * 3, "second"], split_at=0).encode(), CRI) == (
        b"0123456789" * 3 + b"\nsecond\n", 2)
    data = _docker(["0123456789" * 3, 'a "quoted" \\ line \u00e9', "third"], split_at=0)
    block, _n = unframe_block(data.encode(), DOCKER)
    assert block.split(b"\n")[:-1] == [b"0123456789" * 3, 'a "quoted" \\ line \u00e9'.encode(), b"third"]
    pending: Pending = {}
    assert unframe_block(f"{T} stdout P head".encode(), CRI, pending) == (b"", 0)
    assert pending == {b"stdout": b"head"}  # continued by the next block
    assert unframe_block(b"not framed at all", CRI, pending) == (b"head\nnot framed at all\n", 2)
    assert pending == {}


def test_a_stream_is_kept_alone_and_each_streams_parts_joined_apart() -> None:
    """The runtime copies stdout and stderr on two goroutines: a stderr line can come between
    the parts of a stdout line (``watch`` keeps nginx's stdout alone: its access log)."""
    data = (f"{T} stdout P GET /a \n{T} stderr F an error\n{T} stdout P HTTP/1.1 \n"
            f"{T} stdout F 502\n").encode()
    assert unframe_block(data, CRI) == (b"an error\nGET /a HTTP/1.1 502\n", 2)
    assert unframe_block(data, CRI, stream=b"stdout") == (b"GET /a HTTP/1.1 502\n", 1)
    assert unframe_block(data, CRI, stream=b"stderr") == (b"an error\n", 1)
    docker = (b'{"log":"GET /a ","stream":"stdout","time":"%b"}\n'
              b'{"log":"an error\\n","stream":"stderr","time":"%b"}\n'
              b'{"log":"502\\n","stream":"stdout","time":"%b"}\n') % (T.encode(), T.encode(), T.encode())
    assert framing(docker, least=1) == DOCKER
    assert unframe_block(docker, DOCKER, stream=b"stdout") == (b"GET /a 502\n", 1)
    pending: Pending = {}
    first, rest = docker.split(b"\n", 1)
    assert unframe_block(first, DOCKER, pending, b"stdout") == (b"", 0)  # over two blocks
    assert unframe_block(rest, DOCKER, pending, b"stdout") == (b"GET /a 502\n", 1)


def test_one_framed_line_is_a_framing_only_when_asked() -> None:
    one = _cri(["a"]).encode()
    assert framing(one) is None and framing(one, least=1) == CRI


def test_the_reader_gives_the_lines_across_its_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    from why502.sources import unframe

    monkeypatch.setattr(unframe, "BLOCK", 7)  # every framed line read over several blocks
    want = [f"line {i} " + "x" * (i % 13) for i in range(50)]
    for framed, kind in ((_cri(want, split_at=4), CRI), (_docker(want, split_at=9), DOCKER)):
        reader = io.BufferedReader(Unframed(io.BytesIO(framed.encode()), kind), 16)
        assert reader.read().decode().splitlines() == want
    tail = Unframed(io.BytesIO(f"{T} stdout F a\n{T} stdout P cut at the end".encode()), CRI)
    assert io.BufferedReader(tail).read() == b"a\ncut at the end\n"


def _same(run_main: RunMain, tmp_path: Path, lines: list[str], *argv: str) -> None:
    """``why502 ARGV LOG`` gives the same document for ``lines`` plain, docker-framed and
    CRI-framed (the file's name the same)."""
    ways = {"plain": ("\n".join(lines) + "\n").encode(), "docker": _docker(lines, split_at=1).encode(),
            "cri": _cri(lines, split_at=2).encode()}
    docs = documents(run_main, tmp_path, ways, *argv)
    assert docs[1] == docs[0] and docs[2] == docs[0]


@pytest.mark.parametrize("native", ["0", "1"])
def test_nginx_access_log_framed_reads_as_plain(native: str, tmp_path: Path, run_main: RunMain,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WHY502_NATIVE", native)
    lines = NGINX_ACCESS.read_text().splitlines()
    _same(run_main, tmp_path, lines, "stats", "LOG", "--format", "json", "--no-progress")
    _same(run_main, tmp_path, lines, "diagnose", "--offline", "--access-log", "LOG", "--format", "json")


@pytest.mark.parametrize("family", ["caddy", "traefik", "envoy", "cloudflare"])
def test_an_edge_log_framed_reads_as_plain(family: str, tmp_path: Path, run_main: RunMain) -> None:
    fams = families()
    lines = [ln for ln in _corpus() if fams.parse_line(ln, family) is not None]
    assert len(lines) >= 8
    for argv in (("stats", "LOG", "--format", "json", "--no-progress"),
                 ("classify", "LOG", "--format", "json"),
                 ("diagnose", "--offline", "--access-log", "LOG", "--format", "json")):
        _same(run_main, tmp_path, lines, *argv)
