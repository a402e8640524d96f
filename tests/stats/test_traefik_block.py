"""Traefik's native block reader (``proxies.traefik.frame.traefik_block``): its common-format
lines (Traefik's default access log) are cut by ``_traefikscan.clf_columns`` -- CLF_RX's
captures, then ``_clf``'s decisions -- and its JSON lines by the native JSON pass, each on the
lines the other hands back; the rows are the decoded reader's (CLF_RX over the decoded batch),
which ``test_lb_frames`` holds to the per-line parser's.

Lines: the recorded common-format log (a live Traefik in front of real faults), the published
ones of the cloud corpus, the bench's generated lines, the same bent where the cut must hand a
line back or read it as the regex does (a dash or a quote where the other is, a space too many
or too few, brackets and quotes inside fields, a status or size too long to cast, a time
``clf_iso`` refuses, no ``ms``, bytes the regex reads as Unicode, a carriage return), and JSON
lines interleaved.  Through ``stats``' fold too: the JSON fold hands the common-format lines back
and ``lb._read_back`` gives them to the block reader.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tests.stats.test_lb_frames import _corpus, _variants
from tests.support import blocks
from tests.support.kubectl_heads import HEADS
from tests.support.native import native_pass
from tests.support.reports import without_timing
from why502.app.stats import lb
from why502.parsers.arrowcols import frame as arrow_frame
from why502.parsers.lblogs import batch
from why502.parsers.lblogs.jsonfold import json_fold
from why502.proxies.logfamilies import families
from why502.proxies.traefik import frame as traefik
from why502.proxies.traefik.counts import COUNTS, FOLD
from why502.proxies.traefik.log import parse_traefik_json
from why502.sources.logfiles import ByteBatch

ROOT = Path(__file__).resolve().parents[2]
BUILT, pytestmark = native_pass("why502.proxies.traefik._traefikscan", "the native Traefik CLF pass")

sys.path.insert(0, str(ROOT / "bench"))
import gen_lb_logs  # noqa: E402  (the bench's lines: bench/gen_lb_logs.py)

RECORDED = ROOT / "tests" / "fixtures" / "cloud" / "recorded" / "traefik-common" / "traefik-access-common.log"

#: where the cut must hand a line back or read it as CLF_RX does
_BENDS: tuple[tuple[str, str], ...] = (
    ('"-" "', '- "'), ('" "-" 1', '" - 1'), (' "-" 1 ', ' "a b" 1 '), (' 1 "', ' 12345678901234567890 "'),
    ('@file" "', '@file" - "'), ('" "http', '" -'), ('ms', ' ms'), ('ms', 'MS'), ('ms', 'ms '), ('ms', ''),
    ('ms', 'msx'), (' 1 ', '  1 '), (' 1 ', ' x '), (' 1 ', ' -1 '), (' - - [', ' - [ ['),
    (' - - [', ' -  - ['), (' - - [', ' [x] - ['), ('] "', ']] "'), ('] "', '] x "'), ('] "', ']"'),
    ('[', '[]'), (' +0000]', ']'), (' +0000]', ' -0000]'), (' +0000]', ' +0530]'), ('/Nov/', '/nov/'),
    ('/Nov/', '/Xyz/'), ('[2', '[31/Feb/2026:0'), ('/2026:', '/0000:'), (' 200 ', ' 99999999999999999999 '),
    (' 11 ', ' 99999999999999999999 '), (' 200 ', ' 2x0 '), (' 11 ', ' - '), (' 502 ', ' %!d(<nil>) '),
    ('HTTP/1.1"', 'HTTP/1.1" "'), ('"GET ', '"G"ET '), ('"GET ', '""'), ('curl', 'cuérl'),
    ('curl', 'cu\trl'), ('file', 'fi\xa0le'), ('ms', '٣ms'), ('ms', 'ms\r'), ('10.0', '10\u200b.0'),
    ('@file', '@f"ile'), ('http', 'h\\ttp'),
    # a Unicode space in an unquoted field: the regex's \S stops there, a byte-wise cut would not
    (" - - [", "\u00a0x - - ["), (" - - [", " -\u2003x - ["), (" 11 ", " 1\u00a01 "), (' 1 "', ' 1\u3000 "'),
    (' 200 ', ' 2\u00a000 '),
)

#: a framed line CLF_RX reads both as written (the client is kubectl's time, the time field
#: "a [21/Nov...") and without the framing: as written wins, in every reader
_BOTH_WAYS = ('2026-11-28T10:00:00Z 10.0.0.9 - [a [21/Nov/2026:10:00:00 +0000] "GET / HTTP/1.1" 502 11 "-" '
              '"curl/8" 1 "web@file" "http://10.0.0.2:8080" 3ms')


def _clf_lines() -> list[str]:
    """Recorded, published and generated common-format lines, and each bend on some of them."""
    plain, bent = _plain_and_bent()
    return [*plain, *bent]


def _plain_and_bent() -> tuple[list[str], list[str]]:
    fams = families()
    recorded = [x for x in RECORDED.read_text(encoding="utf-8").splitlines() if x.strip()]
    published = [x for x in _corpus() if not x.startswith("{") and "ms" in x
                 and (rec := fams.parse_line(x, "traefik")) is not None and rec.kind == "access"]
    rng = random.Random(7)
    generated = [gen_lb_logs.traefik_clf(gen_lb_logs.Req(rng, i, 20.0)) for i in range(400)]
    plain = [*recorded, *published, *generated]
    bent: list[str] = []
    for old, new in _BENDS:
        having = [line for line in plain if old in line]
        for line in rng.sample(having, min(5, len(having))):
            bent.append(line.replace(old, new, 1))
    bent += [b for b in _variants(plain) if b not in plain]
    bent += [line[: rng.randrange(1, len(line))] for line in rng.sample(plain, 40)]
    # kubectl's framings and heads that are none (clf_line tries a line without the framing when
    # CLF_RX refuses it as written): the cut peels exactly what ``wrappers.kubectl_unframed`` peels
    bent += [head + line for head in HEADS for line in rng.sample(plain, 5)] + [_BOTH_WAYS]
    return plain, bent


def _records_agree(lines: list[str]) -> int:
    return blocks.records_agree(traefik.traefik_block, traefik.traefik_frame, lines)


def test_the_clf_pass_gives_the_decoded_readers_rows(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _clf_lines()
    assert len(lines) > 600
    taken = blocks.spied_pass(monkeypatch, traefik, "clf_pass", "clf_columns")
    ref = blocks.rows("traefik", lines, "0", monkeypatch, block=False)
    got = blocks.rows("traefik", lines, "1", monkeypatch, block=True)
    # the pass itself read most of the lines (not the decoded fallback), and handed some back
    assert taken and len(lines) // 2 < taken[0] < len(lines), taken
    assert (got.lines, got.unparsed) == (ref.lines, ref.unparsed)
    blocks.equal(got.frame, ref.frame)
    monkeypatch.undo()
    plain, _bent = _plain_and_bent()
    assert _records_agree(lines) > len(plain)
    assert _records_agree(plain) == len(plain)  # every plain line read by the pass


@pytest.mark.parametrize("first", ["json", "clf"])
def test_a_block_of_both_formats(first: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Traefik's JSON lines and common-format lines interleaved: each pass reads its own."""
    js = [x for x in _corpus() if x.startswith("{") and '"DownstreamStatus"' in x]
    clf = _clf_lines()
    assert len(js) > 10
    mixed = [x for pair in zip((js * 40)[: len(clf)], clf, strict=False) for x in pair]
    if first == "clf":
        mixed = mixed[1:]
    ref = blocks.rows("traefik", mixed, "0", monkeypatch, block=False)
    got = blocks.rows("traefik", mixed, "1", monkeypatch, block=True)
    assert (got.lines, got.unparsed) == (ref.lines, ref.unparsed)
    blocks.equal(got.frame, ref.frame)
    monkeypatch.undo()
    assert _records_agree(mixed) > len(mixed) // 3


def test_clf_iso_of_is_clf_iso() -> None:
    """The time worked out once per distinct value is the expression's on each row."""
    stamps = [line.split("[", 1)[1].split("]")[0] for line in _clf_lines() if "[" in line]
    times = pl.Series([*stamps, None, "", "x"], dtype=pl.String)
    want = pl.DataFrame({"t": times}).select(batch.clf_iso(pl.col("t")).alias("i"))["i"]
    assert batch.clf_iso_of(times).equals(want, null_equal=True)
    assert want.null_count() < times.len() // 2


@pytest.mark.parametrize("command", ["stats", "classify", "diagnose"])
def test_the_commands_on_a_common_format_log(command: str, tmp_path: Path) -> None:
    """What a user runs on Traefik's default log, native passes on and off: the same document
    (``stats`` through its JSON fold, which hands these lines to the block reader)."""
    log = tmp_path / "access.log"
    lines = _clf_lines()
    log.write_text("\n".join(lines * 3) + "\n", encoding="utf-8")
    argv = {"stats": ["stats", str(log)], "classify": ["classify", str(log)],
            "diagnose": ["diagnose", "--offline", "--access-log", str(log)]}[command]
    docs, codes = [], []
    for native in ("1", "0"):
        env = {"WHY502_NATIVE": native, "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
        run = subprocess.run([sys.executable, "-m", "why502", *argv, "--format", "json"], capture_output=True,
                             text=True, env=env, timeout=120)
        assert run.stdout, run.stderr
        docs.append(without_timing(json.loads(run.stdout)))
        codes.append(run.returncode)
    assert docs[0] == docs[1] and codes[0] == codes[1]


def test_stats_fold_hands_the_common_format_lines_to_the_block_reader(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """On a build without the common-format fold (``clffold``), ``stats``' JSON fold takes
    Traefik's JSON lines and hands the others back; those go to the block reader
    (``lb._read_back``), not to the regex over the decoded lines."""
    lines = _clf_lines()
    read = blocks.spied(monkeypatch, traefik, "traefik_block")
    ref = blocks.rows("traefik", lines, "0", monkeypatch, block=False)
    monkeypatch.setenv("WHY502_NATIVE", "1")
    batch._native_pass.cache_clear()
    fold = json_fold(COUNTS, FOLD, parse_traefik_json)
    assert fold is not None
    got = lb._convert_block(ByteBatch("f.log", "\n".join(lines).encode()), 1, "traefik", fold)
    assert read and read[0] > len(lines) // 3, read
    assert (got.lines, got.unparsed, got.folded) == (ref.lines, ref.unparsed, 0)
    blocks.equal(got.frame, ref.frame)


def test_the_columns_hold_every_length_and_null() -> None:
    """The pass's text columns reach polars as string views (``arrow_buf.h`` ``utf8_to_view``:
    up to 12 bytes inline, longer ones by offset into the data): values of every length from 0
    to 40 bytes, a null among them, read back as written."""
    module = traefik.clf_pass()
    assert module is not None
    routers = ["r" * n + ("@f" if n else "") for n in range(0, 40)]
    lines = [f'10.0.0.{k} - - [21/Nov/2026:10:00:0{k % 10} +0000] "GET /{"p" * k} HTTP/1.1" 502 {k} "-" "-" '
             f'{k} {"-" if k % 7 == 3 else chr(34) + router + chr(34)} "http://a:{k}" {k}ms'
             for k, router in enumerate(routers)]
    sc, ac, count, back, _text = module.clf_columns("\n".join(lines).encode())
    got = arrow_frame(sc, ac)
    assert count == len(lines) and not back and got.height == len(lines)
    assert got["router"].to_list() == [None if k % 7 == 3 else r for k, r in enumerate(routers)]
    assert got["req"].to_list() == [f'GET /{"p" * k} HTTP/1.1' for k in range(len(lines))]
    assert got["size"].to_list() == [str(k) for k in range(len(lines))]
