"""HAProxy's native counting for ``watch`` (``_hapscan.httplog_counts`` and ``httplog_quiet``)
gives what the regexes give, on every input.

``HttplogCounter.count`` hands a block to the native pass, which groups the lines it is sure of
by the fields the regex captures and hands the others back to ``_FAST`` / ``_BLOCK``; ``quiet``
asks the pass which lines ``_OK`` removes.  With ``WHY502_NATIVE=0`` the regexes read every
line.  On the recorded and published HAProxy lines, the bench's lines, lines bent at every field
the regexes read and blocks cut and mixed at random (with and without their last newline, with a
line the regex matches twice), both ways must give the same counts, histograms and unparsed
lines, and the same quiet block as ``_OK.sub``; and the pass must take the plain lines (an
equality reached by handing every line back would prove nothing).
"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.haproxy.test_hapscan import SHAPES, _bent
from tests.support import watchrun
from tests.support.native import native_pass
from tests.support.paths import FIXTURES_DIR
from why502.app.watch.traffic import BUCKETS
from why502.proxies.haproxy.log import _OK, HttplogCounter, quiet

BUILT, pytestmark = native_pass("why502.proxies.haproxy._hapscan", "HAProxy's native httplog pass")

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import watch_bench  # noqa: E402  (the bench's lines: bench/watch_bench.py)

LINE = SHAPES[0]
ADDRESSES = {"app/web1": "10.0.0.1:8080", "static/web1": "10.0.0.9:80", "app/web2": "a,b"}


def recorded() -> list[str]:
    """Every HAProxy line of the fixtures: the recorded logs, the field and published lines."""
    out: list[str] = []
    for log in sorted(FIXTURES_DIR.rglob("*.log")):
        text = log.read_text(encoding="utf-8", errors="replace")
        if "haproxy[" in text or "/<NOSRV>" in text:
            out += text.splitlines()
    for jsonl in sorted(FIXTURES_DIR.rglob("*.jsonl")):
        for raw in jsonl.read_text(encoding="utf-8").splitlines():
            line = json.loads(raw).get("line") if raw.startswith("{") else None
            if isinstance(line, str) and "haproxy[" in line:
                out.append(line)
    for tsv in sorted(FIXTURES_DIR.rglob("*.tsv")):
        out += [ln.split("\t", 1)[1] for ln in tsv.read_text(encoding="utf-8").splitlines()
                if "haproxy[" in ln and "\t" in ln]
    return out


def bench_lines(n: int = 400) -> list[str]:
    rng = random.Random(1)
    return [watch_bench._hap(rng, i).rstrip("\n") for i in range(n)]


# lines on the edge of a step of _FAST, _BLOCK or _OK (each also bent at random below)
MUTATED = [
    LINE.replace(" fe ", "  fe "), LINE.replace(" 502 ", "  502 "),  # doubled spaces
    LINE.replace("---- ", "----  "), LINE.replace("] fe", "]  fe"),
    LINE.replace(" 502 ", " 200 "), LINE.replace(" 502 ", " 404 "), LINE.replace(" 502 ", " 099 "),
    LINE.replace(" 502 ", " 200 ").replace("GET", "G\u00c9T"),  # not ASCII, a request that went well
    LINE.replace(" 502 ", " 200 ").replace("static/web1", "static/<NOSRV>"),
    LINE.replace("0/0/0/25/26", "-1/-1/-1/-1/-1"), LINE.replace("0/0/0/25/26", "-1/0/-1/-1/+5"),
    LINE.replace("0/0/0/25/26", "3/2/1/0/+-9"), LINE.replace("0/0/0/25/26", "0/0/0/25/-+9"),
    LINE.replace(" 217 ", " +0 ").replace(" 502 ", " 302 "),
    LINE.replace("0/0/0/25/26", "0/0/0/25/" + "9" * 18).replace(" 502 ", " 200 "),
    LINE.replace("0/0/0/25/26", "9" * 18 + "/0/5/25/" + "8" * 18),
    LINE.replace("0/0/0/25/26", "0/0/" + "9" * 19 + "/25/26"),
    LINE.replace(":33492 [", ":" + "1" * 20 + " ["),  # the longest port _FAST sees
    LINE.replace(":33492 [", ":" + "1" * 21 + " ["),  # one more: the search's, not _FAST's
    LINE.replace(":33492 [", ":" + "1" * 25 + " [").replace(" 502 ", " 200 "),
    LINE.replace(' "GET /search?q=x HTTP/1.1"', "").replace(" 502 ", " 200 "),  # no request
    LINE.replace(" 0/0 ", " 0/0 {h1|h2} {x} ").replace(" 502 ", " 200 "),
    LINE.replace(" 0/0 ", " 0/0 {a [b] c} "),
    LINE + "\r", LINE.replace(" 502 ", " 200 ") + "\r", LINE.replace(" fe ", " fe\r"),
    LINE.replace(" fe ", " fe\x0b"), LINE.replace(" fe ", " fe\x0c"), LINE.replace(" fe ", " f\x85e "),
    LINE.replace(" - - ", " -\t- ").replace(" 502 ", " 200 "),
    "", " ", "]", "] ", "[", "-",
    # a second match after the first one's end: _FAST finds two in the line
    LINE + " " + LINE[LINE.index("192."):],
    LINE.replace(' "GET /search?q=x HTTP/1.1"', "") + " x " + LINE[LINE.index("192."):],
    LINE + ' 1.2.3.4:5 [21/Nov/2026:10:00:00] fe b/s 1/2/3/4/5 200 1 - - ---- 1/1/1/1/1 0/0',
    LINE + " [21/Nov/2026:10:00:00] no port before it",
    LINE + " x:" + "7" * 21 + ' [21/Nov/2026:10:00:00] fe b/s 1/2/3/4/5 200 1 - - ---- 1/1/1/1/1 0/0',
    LINE.replace("GET /search", "GET /a[0]=1 9:9 [x"),  # a "[" in the request
    LINE.replace(" 502 ", " 200 ") + " ] fe app/web1 0/0/0/1/1 200 1 - - ---- x",  # two "] "
    "x] a b/c 1/2/3/4/5 404 +7 c d ---- ", "x] a b/c 1/2/3/4/5 404 +7 c d ----",
    "] a /c 1/2/3/4/5 200 1 c d ---- y", "] a b/ 1/2/3/4/5 200 1 c d ---- y",
    "] a b//c 1/2/3/4/5 200 1 c d ---- y", "] a b/c 1/2/3/4 200 1 c d ---- y",
    "] a b/c 1/2/3/4/5 500 1 c d ---- y", "] a b/c 1/2/3/4/5 200 1 c\td ---- y",
    "] \u00e9 b/c 1/2/3/4/5 200 1 c d ---- y",
]


def _bytes_bent(lines: list[str], seed: int) -> list[bytes]:
    """The lines as UTF-8, and a share of them bent at a random byte (invalid UTF-8 included)."""
    rng = random.Random(seed)
    out = [ln.encode() for ln in lines]
    for raw in list(out):
        if raw and rng.random() < 0.3:
            at = rng.randrange(len(raw))
            out.append(raw[:at] + rng.choice([b"\xff", b"\xc3", b"\x00", b"\x0b", b"\t", b"\r", b"  "])
                       + raw[at + 1:])
    return [r for r in out if b"\n" not in r]


def blocks(seed: int) -> list[bytes]:
    """Every line in blocks of random sizes, shuffled, some without their last newline; the
    lines one block each too."""
    rng = random.Random(seed)
    lines = _bytes_bent(recorded() + bench_lines() + MUTATED + _bent(seed), seed)
    out = [ln + b"\n" for ln in lines] + [ln for ln in lines]
    rng.shuffle(lines)
    at = 0
    while at < len(lines):
        n = rng.choice([1, 2, 3, 10, 50, 300])
        block = b"\n".join(lines[at:at + n])
        out.append(block if rng.random() < 0.2 else block + b"\n")
        at += n
    return out


def counts(data: bytes, native: bool, monkeypatch: pytest.MonkeyPatch, addresses: dict[str, str]) -> Any:
    if native:
        monkeypatch.delenv("WHY502_NATIVE", raising=False)
    else:
        monkeypatch.setenv("WHY502_NATIVE", "0")
    try:
        return HttplogCounter(addresses).count(data, BUCKETS)
    finally:
        monkeypatch.delenv("WHY502_NATIVE", raising=False)


def quieted(data: bytes, monkeypatch: pytest.MonkeyPatch) -> bytes:
    monkeypatch.delenv("WHY502_NATIVE", raising=False)
    return quiet(data)


def test_the_inputs_hold_every_case() -> None:
    lines = recorded()
    assert len(lines) > 100 and sum("<NOSRV>" in ln for ln in lines) > 5
    assert len(blocks(1)) > 3000


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("addresses", [{}, ADDRESSES], ids=["names", "addresses"])
def test_the_counts_are_the_regexs(seed: int, addresses: dict[str, str],
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    for data in blocks(seed):
        assert counts(data, True, monkeypatch, addresses) == counts(data, False, monkeypatch, addresses), data


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_quiet_removes_the_lines_ok_removes(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    removed = 0
    for data in blocks(seed):
        want = _OK.sub(b"", data)
        assert quieted(data, monkeypatch) == want, data
        removed += data.count(b"\n") - want.count(b"\n")
    assert removed > 1000


def test_the_pass_counts_the_blocks_newlines() -> None:
    from why502.proxies.haproxy import _hapscan  # type: ignore[attr-defined]

    for data in [b"", b"\n", b"\n\n", b"a", b"a\nb", *blocks(1)]:
        assert _hapscan.httplog_counts(data)[2] == data.count(b"\n"), data


def test_a_line_matched_twice_decides_the_block_as_the_regex_does(monkeypatch: pytest.MonkeyPatch) -> None:
    """_FAST finds two matches in the doubled line: with one line no match, as many matches as
    newlines -- _FAST's reading stands (the doubled line counted twice); without it, _BLOCK's."""
    twice = (LINE + " " + LINE[LINE.index("192."):]).encode()
    for data in (twice + b"\nnoise\n" + LINE.encode() + b"\n", twice + b"\n" + LINE.encode() + b"\n",
                 twice + b"\nnoise\n", twice):
        got = counts(data, True, monkeypatch, {})
        assert got == counts(data, False, monkeypatch, {}), data
    assert sum(counts(twice + b"\nnoise\n", True, monkeypatch, {})[0].values()) == 2


def test_the_pass_takes_the_plain_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    from why502.proxies.haproxy import _hapscan  # type: ignore[attr-defined]

    bench = "".join(f"{ln}\n" for ln in bench_lines()).encode()
    groups, rest, newlines = _hapscan.httplog_counts(bench)
    assert rest == b"" and sum(groups.values()) == 400 and newlines == 400
    plain = "".join(f"{ln}\n" for ln in recorded() if ln.isascii() and "\r" not in ln).encode()
    groups, rest, _newlines = _hapscan.httplog_counts(plain)
    assert sum(groups.values()) >= 50  # every request line of them
    assert all(b"\t" in ln for ln in rest.splitlines())  # (a tab: the regex's \s, handed back)
    # handed back: not ASCII, a port _FAST does not see, a second match in the line; a CRLF line
    # is taken without its CR (as _FAST finds it: the same group; stop 69)
    odd = [MUTATED[7], LINE.replace(":33492 [", ":" + "1" * 21 + " ["),
           LINE + " " + LINE[LINE.index("192."):]]
    groups, rest, newlines = _hapscan.httplog_counts("\n".join([LINE, LINE + "\r", *odd, "noise"]).encode())
    assert newlines == 5
    assert groups == {("static", "web1", "0", "0", "0", "26", "502"): 2}
    assert rest == "".join(f"{ln}\n" for ln in odd).encode()


def exported(tmp: Path, data: bytes, native: bool, monkeypatch: pytest.MonkeyPatch) -> dict[str, float]:
    """What ``watch --config haproxy.cfg --error-log LOG --from-start`` exports once it has read
    ``data`` (the bench's setup), but the ``_created`` and ``seconds`` series."""
    import argparse

    from why502.app.watch.engine import WatchOptions
    from why502.app.watch.incidents import Rules
    from why502.cli.cmd_watch import add_arguments

    run = tmp / ("native" if native else "regex")
    run.mkdir()
    _path, flags, _prog = watch_bench.family_inputs(run, "haproxy")
    (run / "haproxy.log").write_bytes(data)
    ap = argparse.ArgumentParser()
    add_arguments(ap)
    a = ap.parse_args(flags)
    return watchrun.exported(WatchOptions(config=a.config, proxy=a.proxy, error_logs=list(a.error_log),
                                          from_start=True, offline=True, listen=None, poll_bytes=1 << 14,
                                          rules=Rules(min_requests=10**9, min_failures=10**9)),
                             native, monkeypatch, str(run))


def test_watch_exports_the_same_with_and_without_the_pass(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    rng = random.Random(5)
    lines = _bytes_bent(recorded() + bench_lines(2000) + MUTATED, 5)
    rng.shuffle(lines)
    data = b"".join(ln + b"\n" for ln in lines)
    on = exported(tmp_path, data, True, monkeypatch)
    assert on == exported(tmp_path, data, False, monkeypatch)
    assert sum(v for k, v in on.items() if k.startswith("why502_requests_total")) > 2000


def test_a_block_without_the_ok_state_is_handed_back_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """Most error logs ``watch`` follows are no HAProxy's: a block without " ---- " (which
    ``_OK`` needs) comes back as the same object, found by the pass's memmem; one state away
    (a line with "----" but no space after, a failure's "sC--") is no OK line either."""
    apache = (b"[Mon Nov 23 09:32:33.986462 2026] [proxy:error] [pid 31985:tid 31992] (111)Connection "
              b"refused: AH00957: http: attempt to connect to 10.0.0.2:8080 (10.0.0.2:8080) failed\n") * 50
    assert quieted(apache, monkeypatch) is apache
    lines = [ln.encode() for ln in recorded()]
    near = [ln.replace(b" ---- ", other) for other in (b" ----x", b" sC-- ") for ln in lines]
    block = b"\n".join(near) + b"\n"
    assert b" ---- " not in block
    assert quieted(block, monkeypatch) is block
    assert _OK.sub(b"", block) == block
    ok = b"\n".join(lines) + b"\n"
    assert b" ---- " in ok and quieted(ok, monkeypatch) == _OK.sub(b"", ok) != ok
