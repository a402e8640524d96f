"""The native unframer (``sources/_unframe.c``) gives the reference's bytes (``sources.unframe``
with ``WHY502_NATIVE=0``: ``_line`` a line at a time), whatever the lines: docker's and CRI's
framed lines of both streams, parts of lines, every JSON escape, UTF-8 good and bad, escaped
and encoded surrogates, objects of other shapes, CRLF, junk, empty lines -- each stream kept
alone or both, read whole or cut in blocks with the parts carried between them.

Scored before the change (stop 70): ``stats`` of a docker-framed nginx access log of 1M lines
took 5.9 s and of a CRI-framed one 2.4 s, against 0.8 s for the plain log; and a docker object
whose ``log`` held an escaped lone surrogate (``\\ud800``) ended ``stats`` and ``classify`` in an
internal error (exit 4: ``surrogateescape`` cannot encode it).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from tests.classify.test_classify_native import engine
from tests.conftest import RunMain
from tests.support.native import native_pass
from why502.sources.unframe import CRI, DOCKER, Pending, unframe_block

BUILT, native_mark = native_pass("why502.sources._unframe", "the native unframer")

T = "2026-11-28T09:00:00.123456789Z"
TEXTS = ["GET / HTTP/1.1 200", 'a "quoted" \\back', "tab\there", "é ü 中文 😀", "<>&", "\u2028x",
         "ctl\x01\x7f", "", "\r", "x\r", "\ud800", "\udc80", "nul\x00", "\ud83d\ude00"]
JUNK = [b"", b"plain line", b'{"log":', b'{"log":"x', b"\xff\xfe",
        b'{"log":"\xff\\n","stream":"stdout","time":"t"}',       # not UTF-8: no framing
        b'{"log":"a\\u00","stream":"stdout","time":"t"}',        # a cut escape
        b'{"log":"a\\n","stream":"stdin","time":"t"}',           # no such stream
        b'{"log":"a\\n","stream":"stdout","time":"t"} ',         # JSON's trailing space
        b'{"log":"a\\n","stream":"stdout","time":"\\u00e9"}',
        b'{"log":"\\ud83d\\ude00\\n","stream":"stdout","time":"t"}',  # a surrogate pair
        b'{"log":"a\\x","stream":"stdout","time":"t"}',          # no such escape
        b'{"log":"\xed\xa0\x80\\n","stream":"stdout","time":"t"}',  # an encoded surrogate
        b'{"log":"\xc0\xaf\\n","stream":"stdout","time":"t"}',      # overlong
        b'{"log":"\xf4\x90\x80\x80\\n","stream":"stdout","time":"t"}',  # beyond U+10FFFF
        b"2026-11-28T09:00:00.Z stdout F x", b"2026-11-28T09:00:00Z stdout X x",
        b"2026-11-28T09:00:00+0100 stdout F x", b"2026-11-28T09:00:00Z stdout F"]


def _docker(rng: random.Random, text: str, stream: str, whole: bool) -> bytes:
    log = text + ("\n" if whole else "")
    shape = rng.choice(["moby"] * 5 + ["spaces", "order", "attrs", "crlf"])
    obj: dict[str, object] = {"log": log, "stream": stream, "time": T}
    if shape == "order":
        obj = {"stream": stream, "log": log, "time": T}
    elif shape == "attrs":
        obj = {"log": log, "stream": stream, "attrs": {"tag": "x"}, "time": T}
    dumped = json.dumps(obj, ensure_ascii=rng.random() < 0.5,
                        separators=None if shape == "spaces" else (",", ":"))
    return dumped.encode("utf-8", "surrogatepass") + (b"\r" if shape == "crlf" else b"")


def _cri(rng: random.Random, text: str, stream: str, whole: bool) -> bytes:
    time = rng.choice(["2026-11-28T09:00:00Z", T, "2026-11-28T09:00:00+01:00", "2026-11-28T09:00:00.Z",
                       "2026-11-28 09:00:00Z"])
    return (f"{time} {stream} {'F' if whole else 'P'}{rng.choice([' ', '', ' '])}".encode()
            + text.encode("utf-8", "surrogatepass"))


def _log(rng: random.Random, kind: str) -> bytes:
    lines = []
    for _ in range(rng.randint(0, 24)):
        if rng.random() < 0.1:
            lines.append(rng.choice(JUNK))
            continue
        text = rng.choice(TEXTS) + rng.choice(["", " tail", "x" * rng.randint(0, 40)])
        make = _docker if kind == DOCKER else _cri
        lines.append(make(rng, text, rng.choice(["stdout", "stderr"]), rng.random() > 0.15))
    return b"\n".join(lines) + rng.choice([b"\n", b"", b"\n\n"])


def _blocks(data: bytes, rng: random.Random) -> list[bytes]:
    """``data`` cut at up to three of its newlines, as the readers cut it (the newline dropped)."""
    cuts = sorted(rng.sample(range(len(data) + 1), min(3, len(data) + 1)))
    out, prev = [], 0
    for c in cuts:
        nl = data.rfind(b"\n", prev, c)
        if nl >= prev:
            out.append(data[prev:nl])
            prev = nl + 1
    return [*out, data[prev:]]


def _read(blocks: list[bytes], kind: str, stream: bytes | None) -> tuple[list[tuple[bytes, int]], Pending]:
    pending: Pending = {}
    return [unframe_block(b, kind, pending, stream) for b in blocks], pending


@native_mark
@pytest.mark.parametrize("kind", [DOCKER, CRI])
def test_the_native_unframer_gives_the_reference_s_bytes(kind: str) -> None:
    rng = random.Random(f"unframe-{kind}")
    compared = 0
    for _ in range(600):
        data = _log(rng, kind)
        for stream in (None, b"stdout", b"stderr"):
            for blocks in ([data], _blocks(data, rng)):
                got = _read(blocks, kind, stream)
                with engine(native=False):
                    want = _read(blocks, kind, stream)
                assert got == want, (kind, stream, blocks)
                compared += 1
    assert compared == 3600


@native_mark
def test_the_native_unframer_takes_moby_s_and_the_kubelet_s_lines() -> None:
    """The shapes the runtimes write are read natively: a run ends only at a part of a line."""
    from why502.sources._unframe import unframe  # type: ignore[import-not-found]

    docker = b"".join(json.dumps({"log": f"line {i} <é>\n", "stream": "stdout", "time": T},
                                 separators=(",", ":")).encode() + b"\n" for i in range(50))
    want = "".join(f"line {i} <é>\n" for i in range(50)).encode()
    assert unframe(docker, 0, 1, 0) == (want, 50, len(docker))
    cri = b"".join(f"{T} stderr F line {i}\n".encode() for i in range(50))
    assert unframe(cri, 0, 0, 2) == ("".join(f"line {i}\n" for i in range(50)).encode(), 50, len(cri))
    assert unframe(cri, 0, 0, 1) == (b"", 0, len(cri))  # the other stream: skipped
    part = f"{T} stdout F a\n{T} stdout P b\n{T} stdout F c\n".encode()
    assert unframe(part, 0, 0, 0) == (b"a\n", 1, part.index(b"\n") + 1)  # stopped at the part
    with pytest.raises(ValueError):
        unframe(cri, len(cri) + 1, 0, 0)


@pytest.mark.parametrize("native", ["1", "0"])
def test_an_escaped_lone_surrogate_is_no_internal_error(native: str, tmp_path: Path, run_main: RunMain,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """``\\ud800`` in a docker object's ``log`` (no runtime writes it; a hostile or broken file
    can) is written as its three bytes, which the readers decode as not UTF-8."""
    monkeypatch.setenv("WHY502_NATIVE", native)
    line = '1.2.3.4 - - [28/Nov/2026:09:00:00 +0000] "GET / HTTP/1.1" 502 0 "-" "x"'
    objs = [{"log": line + "\n", "stream": "stdout", "time": T},
            {"log": "\ud800\n", "stream": "stdout", "time": T},
            {"log": line + "\n", "stream": "stdout", "time": T}]
    log = tmp_path / "container-json.log"
    log.write_text("".join(json.dumps(o, separators=(",", ":")) + "\n" for o in objs))
    assert unframe_block(log.read_bytes(), DOCKER)[0].split(b"\n")[1] == b"\xed\xa0\x80"
    for argv in (["stats", str(log), "--format", "json", "--no-progress"], ["classify", str(log)]):
        code, _out, err = run_main(*argv)
        assert code in (0, 1), (argv, err)
        assert "internal error" not in err
